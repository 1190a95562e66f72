#include "childprocess.h"

#include "runtime/broadcastbus.h"
#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "snapshottransport.h"

#include <QFile>
#include <QProcessEnvironment>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <vector>

namespace Berth::Supervisor {

namespace {

constexpr int FirstPassedFd = 3;

// Writes n as decimal digits into buffer (async-signal-safe; for the forked child).
void formatPid(char *buffer, pid_t n)
{
    char digits[24];
    int length = 0;
    do {
        digits[length++] = char('0' + n % 10);
        n /= 10;
    } while (n > 0);
    for (int i = 0; i < length; ++i)
        buffer[i] = digits[length - 1 - i];
    buffer[length] = '\0';
}

} // namespace

std::optional<LaunchedChild> launchChild(const ChildLaunch &launch, QString *error)
{
    int readyPipe[2];
    if (::pipe2(readyPipe, O_CLOEXEC) != 0) {
        *error = QStringLiteral("cannot create a pipe: %1").arg(qt_error_string(errno));
        return std::nullopt;
    }
    const QByteArray exe = QFile::encodeName(Core::selfExecutable());
    const int exeFd = Core::selfExecutableFd();
    QList<QByteArray> args{
        exe, "child", "--service", launch.kind.toUtf8(), "--name", launch.name.toUtf8()};
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"})
        env.remove(QString::fromLatin1(name));
    const int count = int(launch.listenFds.size());
    const int sharedFd = FirstPassedFd + count;
    const int readyFd = sharedFd + 1;
    const int snapshotFd = readyFd + 1;
    const int busFd = snapshotFd + 1;
    const bool passListeners = count > 0;
    if (passListeners)
        env.insert(QStringLiteral("LISTEN_FDS"), QString::number(count));
    if (passListeners && launch.listenNames.size() == count)
        env.insert(QStringLiteral("LISTEN_FDNAMES"), launch.listenNames.join(u':'));
    env.insert(QLatin1StringView(Core::SharedState::FdVariable), QString::number(sharedFd));
    env.insert(QLatin1StringView(Core::SharedState::SlotVariable), QString::number(launch.slot));
    env.insert(QLatin1StringView(ReadyFdVariable), QString::number(readyFd));
    env.insert(QLatin1StringView(ChildIndexVariable), QString::number(launch.index));
    env.insert(QLatin1StringView(SnapshotFdVariable), QString::number(snapshotFd));
    env.remove(QLatin1StringView(Core::BroadcastBus::FdVariable));
    if (launch.busFd >= 0)
        env.insert(QLatin1StringView(Core::BroadcastBus::FdVariable), QString::number(busFd));
    QList<QByteArray> envStrings;
    for (const QString &entry : env.toStringList())
        envStrings.append(entry.toLocal8Bit());
    QByteArray listenPid = "LISTEN_PID=" + QByteArray(24, '\0');
    std::vector<char *> argv;
    for (QByteArray &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char *> envp;
    for (QByteArray &e : envStrings)
        envp.push_back(e.data());
    if (passListeners)
        envp.push_back(listenPid.data());
    envp.push_back(nullptr);
    std::vector<int> passFds(launch.listenFds.begin(), launch.listenFds.end());
    passFds.push_back(launch.sharedFd);
    passFds.push_back(readyPipe[1]);
    passFds.push_back(launch.snapshotFd);
    if (launch.busFd >= 0)
        passFds.push_back(launch.busFd);

    // Signals stay blocked from before fork() until the child has dropped the master's
    // handlers. Otherwise a signal meant for the new child (the TERM of a reload or restart
    // that retires it at once) could run the master's handler in the child, which writes into
    // the signal pipe it shares with the master: the master would take the child's TERM for
    // its own and stop the whole server.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int forkErrno = errno;
        ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        *error = QStringLiteral("fork failed: %1").arg(qt_error_string(forkErrno));
        ::close(readyPipe[0]);
        ::close(readyPipe[1]);
        return std::nullopt;
    }
    if (pid == 0) {
        // Child. It must not outlive the master unnoticed.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        for (int signo : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD})
            ::signal(signo, SIG_DFL);
        // Now a pending TERM simply ends the child, as it would once exec'd. HUP and USR1 stay
        // blocked across exec until the child's SignalPipe handles them: the master forwards
        // USR1 (log reopen) to every child, and one that arrived during start-up would
        // otherwise kill it (their default action).
        sigset_t later;
        sigemptyset(&later);
        sigaddset(&later, SIGHUP);
        sigaddset(&later, SIGUSR1);
        ::sigprocmask(SIG_SETMASK, &later, nullptr);
        // Move the passed fds out of the way first, then into place from fd 3 (dup2 leaves the
        // copies without close-on-exec, exactly what exec should keep).
        std::vector<int> high;
        const int exeHigh = exeFd >= 0 ? ::fcntl(exeFd, F_DUPFD_CLOEXEC, 1000) : -1;
        for (int fd : passFds)
            high.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 1000));
        for (size_t i = 0; i < high.size(); ++i)
            ::dup2(high[i], FirstPassedFd + int(i));
        formatPid(listenPid.data() + 11, ::getpid());
        // The master's own binary, even when the file at its path was replaced meanwhile.
        // (Moved high above, with the passed fds: dup2 may have reused its number.)
        if (exeHigh >= 0)
            ::fexecve(exeHigh, argv.data(), envp.data());
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    ::close(readyPipe[1]);
    return LaunchedChild{pid, readyPipe[0]};
}

} // namespace Berth::Supervisor
