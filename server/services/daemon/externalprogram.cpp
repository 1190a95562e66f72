#include "externalprogram.h"

#include "runtime/sharedstate.h"

#include <QFile>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QProcessEnvironment>
#include <QSocketNotifier>
#include <QStandardPaths>

#include <vector>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcProgramOutput, "berth.app.daemon")
Q_LOGGING_CATEGORY(lcProgram, "berth.daemon")

namespace Berth::Daemons {

namespace {

constexpr qsizetype MaxLineBytes = 16 * 1024; // a longer line is logged in pieces
constexpr qint64 RotationCheckMs = 1000;

[[noreturn]] void childFail(int errorPipe, int code)
{
    const int error = errno;
    [[maybe_unused]] ssize_t n = ::write(errorPipe, &error, sizeof error);
    [[maybe_unused]] ssize_t m = ::write(errorPipe, &code, sizeof code);
    ::_exit(127);
}

} // namespace

ExternalProgram::ExternalProgram(ProgramSpec spec, QString label, QObject *parent)
    : QObject(parent)
    , m_spec(std::move(spec))
    , m_label(std::move(label))
{
    m_out.path = m_spec.stdoutFile;
    m_err.path = m_spec.stderrFile;
    m_err.isStderr = true;
    connect(&m_exitPoll, &QTimer::timeout, this, &ExternalProgram::checkExit);
}

ExternalProgram::~ExternalProgram()
{
    if (m_pid > 0) {
        ::kill(-m_pid, SIGKILL);
        ::waitpid(m_pid, nullptr, 0);
    }
    closeStream(m_out, true);
    closeStream(m_err, true);
    if (m_pidfd >= 0)
        ::close(m_pidfd);
}

bool ExternalProgram::openFile(Stream &stream, QString *error)
{
    if (stream.path.isEmpty())
        return true;
    delete stream.file;
    stream.file = new QFile(stream.path);
    if (!stream.file->open(QIODevice::WriteOnly | QIODevice::Append)) {
        *error = QStringLiteral("cannot open %1: %2").arg(stream.path, stream.file->errorString());
        delete stream.file;
        stream.file = nullptr;
        return false;
    }
    struct stat st
    {};
    stream.inode = ::fstat(stream.file->handle(), &st) == 0 ? quint64(st.st_ino) : 0;
    return true;
}

bool ExternalProgram::spawn(QString *error)
{
    if (m_pid > 0) {
        *error = QStringLiteral("already running");
        return false;
    }
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    QString program = m_spec.argv.value(0);
    if (!program.contains(u'/')) {
        const QString found = QStandardPaths::findExecutable(program);
        if (found.isEmpty()) {
            *error = QStringLiteral("%1: not found in PATH").arg(program);
            return false;
        }
        program = found;
    }
    std::vector<QByteArray> argStore;
    for (const QString &a : m_spec.argv)
        argStore.push_back(a.toLocal8Bit());
    argStore[0] = QFile::encodeName(program);
    std::vector<char *> argv;
    for (QByteArray &a : argStore)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char *internal : {"BERTH_SHARED_FD", "BERTH_WORKER_SLOT", "BERTH_READY_FD",
                                 "BERTH_SNAPSHOT_FD", "BERTH_BUS_FD", "LISTEN_FDS", "LISTEN_PID"})
        env.remove(QString::fromLatin1(internal));
    for (const auto &[name, value] : m_spec.environment)
        env.insert(name, value);
    std::vector<QByteArray> envStore;
    for (const QString &entry : env.toStringList())
        envStore.push_back(entry.toLocal8Bit());
    std::vector<char *> envp;
    for (QByteArray &e : envStore)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    const QByteArray directory = QFile::encodeName(m_spec.directory);

    // Privileges: only a root berthd can switch, and only then is user/group looked at.
    const bool switchUser = ::geteuid() == 0 && !m_spec.user.isEmpty();
    uid_t uid = 0;
    gid_t gid = 0;
    QByteArray userName = m_spec.user.toLocal8Bit();
    if (switchUser) {
        const passwd *pw = ::getpwnam(userName.constData());
        if (!pw) {
            *error = QStringLiteral("unknown user %1").arg(m_spec.user);
            return false;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        if (!m_spec.group.isEmpty()) {
            const group *gr = ::getgrnam(m_spec.group.toLocal8Bit().constData());
            if (!gr) {
                *error = QStringLiteral("unknown group %1").arg(m_spec.group);
                return false;
            }
            gid = gr->gr_gid;
        }
    }

    if (!openFile(m_out, error) || !openFile(m_err, error))
        return false;
    int outPipe[2];
    int errPipe[2];
    int errorPipe[2];
    if (::pipe2(outPipe, O_CLOEXEC) != 0) {
        *error = QStringLiteral("pipe: %1").arg(qt_error_string(errno));
        return false;
    }
    if (::pipe2(errPipe, O_CLOEXEC) != 0) {
        *error = QStringLiteral("pipe: %1").arg(qt_error_string(errno));
        ::close(outPipe[0]);
        ::close(outPipe[1]);
        return false;
    }
    if (::pipe2(errorPipe, O_CLOEXEC) != 0) {
        *error = QStringLiteral("pipe: %1").arg(qt_error_string(errno));
        for (int fd : {outPipe[0], outPipe[1], errPipe[0], errPipe[1]})
            ::close(fd);
        return false;
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        *error = QStringLiteral("fork: %1").arg(qt_error_string(errno));
        for (int fd : {outPipe[0], outPipe[1], errPipe[0], errPipe[1], errorPipe[0], errorPipe[1]})
            ::close(fd);
        return false;
    }
    if (pid == 0) {
        // The child: its own session and process group (stop and kill reach the whole tree),
        // and SIGKILL when this berthd child dies, so nothing outlives it.
        ::setsid();
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(127);
        sigset_t all;
        sigemptyset(&all);
        ::sigprocmask(SIG_SETMASK, &all, nullptr);
        for (int sig = 1; sig < NSIG; ++sig)
            ::signal(sig, SIG_DFL);
        const int devNull = ::open("/dev/null", O_RDONLY);
        if (devNull < 0 || ::dup2(devNull, 0) < 0 || ::dup2(outPipe[1], 1) < 0 ||
            ::dup2(errPipe[1], 2) < 0)
            childFail(errorPipe[1], 1);
        // Nothing of berthd's passes to the program (the shared memory, the snapshot, the
        // broadcast channel, the log files): every other descriptor closes on exec.
        if (::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
            const long maxFd = qMin(::sysconf(_SC_OPEN_MAX), 65536L);
            for (int fd = 3; fd < maxFd; ++fd)
                ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        if (m_spec.umask >= 0)
            ::umask(mode_t(m_spec.umask));
        if (!directory.isEmpty() && ::chdir(directory.constData()) != 0)
            childFail(errorPipe[1], 2);
        if (switchUser && (::setgid(gid) != 0 || ::initgroups(userName.constData(), gid) != 0 ||
                           ::setuid(uid) != 0))
            childFail(errorPipe[1], 3);
        ::execve(argv[0], argv.data(), envp.data());
        childFail(errorPipe[1], 4);
    }
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    ::close(errorPipe[1]);
    // Blocks only until exec (or the child's failure): the pipe closes on exec.
    int report[2] = {0, 0};
    ssize_t got = 0;
    do {
        got = ::read(errorPipe[0], report, sizeof report);
    } while (got < 0 && errno == EINTR);
    ::close(errorPipe[0]);
    if (got > 0) {
        ::waitpid(pid, nullptr, 0);
        ::close(outPipe[0]);
        ::close(errPipe[0]);
        static const char *const steps[] = {"", "standard streams", "directory", "user", "exec"};
        const int step = report[1] >= 1 && report[1] <= 4 ? report[1] : 4;
        *error = QStringLiteral("%1 (%2): %3")
                     .arg(QString::fromLocal8Bit(argStore[0]), QLatin1String(steps[step]),
                          qt_error_string(report[0]));
        return false;
    }
    m_pid = pid;
    for (Stream *stream : {&m_out, &m_err}) {
        stream->fd = stream == &m_out ? outPipe[0] : errPipe[0];
        ::fcntl(stream->fd, F_SETFL, ::fcntl(stream->fd, F_GETFL) | O_NONBLOCK);
        stream->notifier = new QSocketNotifier(stream->fd, QSocketNotifier::Read, this);
        connect(stream->notifier, &QSocketNotifier::activated, this,
                [this, stream] { onReadable(*stream); });
    }
    m_pidfd = int(::syscall(SYS_pidfd_open, pid, 0));
    if (m_pidfd >= 0) {
        ::fcntl(m_pidfd, F_SETFD, FD_CLOEXEC);
        m_exitNotifier = new QSocketNotifier(m_pidfd, QSocketNotifier::Read, this);
        connect(m_exitNotifier, &QSocketNotifier::activated, this, &ExternalProgram::checkExit);
    } else {
        m_exitPoll.start(100);
    }
    return true;
}

void ExternalProgram::signalGroup(int sig)
{
    if (m_pid > 0)
        ::kill(-m_pid, sig);
}

void ExternalProgram::checkExit()
{
    if (m_pid <= 0)
        return;
    // Peek first (WNOWAIT): while the program is an unreaped zombie its pid, and so its process
    // group id, can't be reused, so what is left of the group (a shell script's background job)
    // is killed with no risk of hitting another process: a daemon's tree is never orphaned.
    siginfo_t info{};
    if (::waitid(P_PID, id_t(m_pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
        if (errno == EINTR)
            return;
    } else if (info.si_pid == 0) {
        return; // still running
    } else {
        ::kill(-m_pid, SIGKILL);
    }
    int status = 0;
    pid_t done;
    do {
        done = ::waitpid(m_pid, &status, 0);
    } while (done < 0 && errno == EINTR);
    m_pid = 0;
    m_exitPoll.stop();
    if (m_exitNotifier) {
        m_exitNotifier->setEnabled(false);
        m_exitNotifier->deleteLater();
        m_exitNotifier = nullptr;
    }
    if (m_pidfd >= 0) {
        ::close(m_pidfd);
        m_pidfd = -1;
    }
    // The last lines it wrote come before its exit in the log.
    onReadable(m_out);
    onReadable(m_err);
    closeStream(m_out, true);
    closeStream(m_err, true);
    Q_EMIT exited(done < 0 ? -1 : status);
}

void ExternalProgram::onReadable(Stream &stream)
{
    if (stream.fd < 0)
        return;
    char buffer[16384];
    for (int reads = 0; reads < 16; ++reads) {
        const ssize_t n = ::read(stream.fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            closeStream(stream, true);
            return;
        }
        stream.partial.append(buffer, n);
        qsizetype start = 0;
        for (;;) {
            const qsizetype nl = stream.partial.indexOf('\n', start);
            if (nl < 0)
                break;
            emitLine(stream, stream.partial.mid(start, nl - start));
            start = nl + 1;
        }
        stream.partial.remove(0, start);
        while (stream.partial.size() >= MaxLineBytes) {
            emitLine(stream, stream.partial.left(MaxLineBytes));
            stream.partial.remove(0, MaxLineBytes);
        }
    }
}

void ExternalProgram::emitLine(Stream &stream, QByteArray line)
{
    if (line.endsWith('\r'))
        line.chop(1);
    if (!stream.path.isEmpty()) {
        // Rotation (logrotate renames the file, then USR1): the file is reopened once its name
        // points at another inode, checked at most once a second.
        const qint64 now = Core::monotonicMs();
        if (now - stream.checkedMs >= RotationCheckMs) {
            stream.checkedMs = now;
            struct stat st
            {};
            const QByteArray native = QFile::encodeName(stream.path);
            if (!stream.file || ::stat(native.constData(), &st) != 0 ||
                quint64(st.st_ino) != stream.inode) {
                QString error;
                if (!openFile(stream, &error))
                    qCWarning(lcProgram).noquote() << m_label << error;
            }
        }
        if (stream.file) {
            stream.file->write(line + '\n');
            stream.file->flush();
        }
        return;
    }
    const QString text = QString::fromUtf8(line);
    if (stream.isStderr)
        qCWarning(lcProgramOutput).noquote() << m_label + QStringLiteral(": ") + text;
    else
        qCInfo(lcProgramOutput).noquote() << m_label + QStringLiteral(": ") + text;
}

void ExternalProgram::closeStream(Stream &stream, bool flushPartial)
{
    if (stream.notifier) {
        stream.notifier->setEnabled(false);
        stream.notifier->deleteLater();
        stream.notifier = nullptr;
    }
    if (stream.fd >= 0) {
        ::close(stream.fd);
        stream.fd = -1;
    }
    if (flushPartial && !stream.partial.isEmpty()) {
        const QByteArray rest = stream.partial;
        stream.partial.clear();
        emitLine(stream, rest);
    }
    delete stream.file;
    stream.file = nullptr;
}

} // namespace Berth::Daemons
