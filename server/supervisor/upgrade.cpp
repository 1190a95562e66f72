// Supervisor: USR2 binary upgrade, as nginx and gunicorn do it. The master starts a new master
// from the executable's path (which a package upgrade filled with the new binary) on the
// listeners it holds (LISTEN_FDS), and waits for it to say it is ready through a pipe (the
// starter protocol of `berthd start`: "OK" or an error). Ready: this master drains its workers
// and exits, the new one keeps the pid file and the control socket. Not ready (it exits, says
// why, or stays silent for UpgradeTimeoutMs): this master kills it and keeps serving.
#include "controlchannel.h"
#include "log/logging.h"
#include "runtime/processutil.h"
#include "supervisor.h"

#include <QCoreApplication>
#include <QFile>
#include <QLoggingCategory>
#include <QProcessEnvironment>
#include <QSocketNotifier>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

Q_DECLARE_LOGGING_CATEGORY(lcMaster)

namespace Berth::Supervisor {

namespace {

constexpr int FirstPassedFd = 3;
constexpr int UpgradeTimeoutMs = 60'000;

QString oldbinPath(const QString &pidFile)
{
    return pidFile + QStringLiteral(".oldbin");
}

} // namespace

int Supervisor::takeUpgradeFd()
{
    const QByteArray value = qgetenv(UpgradeFdVariable);
    qunsetenv(UpgradeFdVariable);
    bool ok = false;
    const int fd = value.toInt(&ok);
    if (!ok || fd < 0)
        return -1;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

void Supervisor::startUpgrade()
{
    if (m_stopping || m_upgradePid > 0 || m_pending) {
        qCWarning(lcMaster) << "SIGUSR2: refused: a reload, an upgrade or a stop is in progress";
        return;
    }
    const QString exe = Core::selfExecutable();
    int readyPipe[2];
    if (exe.isEmpty() || ::pipe2(readyPipe, O_CLOEXEC) != 0) {
        qCCritical(lcMaster) << "SIGUSR2: cannot start a new master";
        return;
    }
    // The command line this master was started with, in the foreground (a `start`ed master is
    // already a daemon; the new one stays its child until this one exits).
    QStringList arguments = QCoreApplication::arguments();
    if (arguments.size() >= 2 && arguments[1] == QLatin1String("start"))
        arguments[1] = QStringLiteral("run");
    QList<QByteArray> args;
    args.append(QFile::encodeName(exe));
    for (qsizetype i = 1; i < arguments.size(); ++i)
        args.append(arguments[i].toLocal8Bit());
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"})
        env.remove(QString::fromLatin1(name));
    const int count = int(m_listenFds.size());
    env.insert(QStringLiteral("LISTEN_FDS"), QString::number(count));
    // The names too: a socket systemd passed by name is matched by that name again.
    QStringList names;
    for (qsizetype i = 0; i < count; ++i)
        names.append(i < m_listenSpecs.size() ? m_listenSpecs[i].name : QString());
    env.insert(QStringLiteral("LISTEN_FDNAMES"), names.join(u':'));
    env.insert(QLatin1StringView(UpgradeFdVariable), QString::number(FirstPassedFd + count));
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
    envp.push_back(listenPid.data());
    envp.push_back(nullptr);
    std::vector<int> passFds(m_listenFds.begin(), m_listenFds.end());
    passFds.push_back(readyPipe[1]);

    // As in launchChild(): signals stay blocked until the child dropped this master's handlers.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    const pid_t pid = ::fork();
    if (pid == 0) {
        for (int signo : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD})
            ::signal(signo, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        std::vector<int> high;
        for (int fd : passFds)
            high.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 1000));
        for (size_t i = 0; i < high.size(); ++i)
            ::dup2(high[i], FirstPassedFd + int(i));
        char digits[24];
        int length = 0;
        for (pid_t n = ::getpid(); n > 0; n /= 10)
            digits[length++] = char('0' + n % 10);
        for (int i = 0; i < length; ++i)
            listenPid[11 + i] = digits[length - 1 - i];
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    const int forkErrno = errno;
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    ::close(readyPipe[1]);
    if (pid < 0) {
        ::close(readyPipe[0]);
        qCCritical(lcMaster).noquote()
            << "SIGUSR2: cannot start a new master:" << qt_error_string(forkErrno);
        return;
    }
    m_upgradePid = pid;
    m_upgradeFd = readyPipe[0];
    m_upgradeAnswer.clear();
    if (!m_pidFile.isEmpty())
        Core::writePidFile(oldbinPath(m_pidFile), nullptr);
    m_upgradeNotifier = new QSocketNotifier(m_upgradeFd, QSocketNotifier::Read, this);
    connect(m_upgradeNotifier, &QSocketNotifier::activated, this, &Supervisor::onUpgradeAnswer);
    const pid_t started = pid;
    QTimer::singleShot(UpgradeTimeoutMs, this, [this, started] {
        if (m_upgradePid == started)
            failUpgrade(QStringLiteral("not ready within %1 s").arg(UpgradeTimeoutMs / 1000));
    });
    qCInfo(lcMaster).noquote() << QStringLiteral("SIGUSR2: upgrading: new master %1 (pid %2) "
                                                 "starting on the inherited listeners")
                                      .arg(exe)
                                      .arg(pid);
}

void Supervisor::onUpgradeAnswer()
{
    char buffer[512];
    const ssize_t n = ::read(m_upgradeFd, buffer, sizeof buffer);
    if (n > 0) {
        m_upgradeAnswer.append(buffer, n);
        if (m_upgradeAnswer.trimmed() != "OK")
            return; // the whole answer comes before the pipe closes
    }
    const QByteArray answer = m_upgradeAnswer.trimmed();
    if (answer == "OK") {
        const pid_t pid = m_upgradePid;
        endUpgrade();
        m_upgraded = true;
        if (!m_pidFile.isEmpty())
            QFile::remove(oldbinPath(m_pidFile));
        qCInfo(lcMaster).noquote()
            << QStringLiteral("SIGUSR2: new master (pid %1) ready; this master (pid %2) drains "
                              "its workers and exits")
                   .arg(pid)
                   .arg(::getpid());
        stopAll(true);
        return;
    }
    failUpgrade(answer.isEmpty() ? QStringLiteral("it exited before it was ready")
                                 : QString::fromLocal8Bit(answer));
}

void Supervisor::upgradeExited(int status)
{
    failUpgrade(QStringLiteral("it %1 before it was ready").arg(Core::describeWaitStatus(status)),
                true);
}

void Supervisor::endUpgrade()
{
    if (m_upgradeNotifier) {
        m_upgradeNotifier->setEnabled(false);
        m_upgradeNotifier->deleteLater();
        m_upgradeNotifier = nullptr;
    }
    if (m_upgradeFd >= 0)
        ::close(m_upgradeFd);
    m_upgradeFd = -1;
    m_upgradePid = 0;
}

void Supervisor::failUpgrade(const QString &why, bool reaped)
{
    const pid_t pid = m_upgradePid;
    if (pid <= 0)
        return;
    endUpgrade();
    // It may have got as far as taking the pid file and the control socket: take them back.
    if (!reaped) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    QString error;
    if (!m_pidFile.isEmpty()) {
        QFile::remove(oldbinPath(m_pidFile));
        Core::writePidFile(m_pidFile, &error);
        if (m_control) {
            m_control->close(false);
            if (!m_control->listen(controlSocketPath(m_pidFile), &error))
                qCWarning(lcMaster).noquote() << "no control socket:" << error;
        }
    }
    qCCritical(lcMaster).noquote()
        << QStringLiteral("SIGUSR2: upgrade failed: the new master (pid %1): %2; this master "
                          "(pid %3) keeps serving")
               .arg(pid)
               .arg(why.trimmed())
               .arg(::getpid());
}

} // namespace Berth::Supervisor
