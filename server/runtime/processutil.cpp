#include "processutil.h"

#include <config/config.h>

#include <QDir>
#include <QFile>
#include <QFileInfo>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

namespace Berth::Core {

bool writePidFile(const QString &path, QString *error)
{
    if (path.isEmpty())
        return true;
    QDir().mkpath(QFileInfo(path).absolutePath());
    const QString temp = path + QStringLiteral(".tmp");
    QFile file(temp);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        if (error)
            *error = QStringLiteral("cannot write pid_file '%1': %2").arg(path, file.errorString());
        return false;
    }
    file.write(QByteArray::number(qint64(::getpid())) + '\n');
    file.close();
    if (::rename(QFile::encodeName(temp).constData(), QFile::encodeName(path).constData()) != 0) {
        if (error)
            *error = QStringLiteral("cannot write pid_file '%1': %2")
                         .arg(path, QString::fromLocal8Bit(std::strerror(errno)));
        return false;
    }
    return true;
}

pid_t readPidFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return 0;
    bool ok = false;
    const qint64 pid = file.readAll().trimmed().toLongLong(&ok);
    return ok && pid > 0 ? pid_t(pid) : -1;
}

bool isBerthdRunning(pid_t pid)
{
    if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH))
        return false;
    QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(pid));
    if (!cmdline.open(QIODevice::ReadOnly))
        return false;
    const QByteArray argv0 = cmdline.readAll().split('\0').value(0);
    return argv0.endsWith("berthd");
}

qint64 processUptimeSeconds(pid_t pid)
{
    // Field 22 of /proc/PID/stat is the start time in clock ticks since boot.
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    QFile uptime(QStringLiteral("/proc/uptime"));
    if (!stat.open(QIODevice::ReadOnly) || !uptime.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray line = stat.readAll();
    const qsizetype close = line.lastIndexOf(')');
    const QList<QByteArray> fields = line.mid(close + 2).split(' ');
    if (fields.size() < 20)
        return -1;
    const double startTicks = fields[19].toDouble();
    const double sinceBoot = uptime.readAll().split(' ').value(0).toDouble();
    return qint64(sinceBoot - startTicks / double(::sysconf(_SC_CLK_TCK)));
}

bool dropPrivileges(const QString &user, const QString &group, bool allowRoot, QString *error)
{
    if (user.isEmpty()) {
        if (::geteuid() == 0 && !allowRoot) {
            if (error)
                *error = QStringLiteral("refusing to run as root: set [server] user (or "
                                        "allow_root = yes if you really mean it)");
            return false;
        }
        return true;
    }
    errno = 0;
    const struct passwd *pw = ::getpwnam(user.toLocal8Bit().constData());
    if (!pw) {
        if (error)
            *error = QStringLiteral("[server] user: no such user '%1'").arg(user);
        return false;
    }
    gid_t gid = pw->pw_gid;
    if (!group.isEmpty()) {
        const struct group *gr = ::getgrnam(group.toLocal8Bit().constData());
        if (!gr) {
            if (error)
                *error = QStringLiteral("[server] group: no such group '%1'").arg(group);
            return false;
        }
        gid = gr->gr_gid;
    }
    if (::geteuid() != 0) {
        if (pw->pw_uid == ::geteuid())
            return true; // already that user
        if (error)
            *error = QStringLiteral("[server] user: switching to '%1' needs root").arg(user);
        return false;
    }
    // Order matters: groups and gid while still root, uid last (it gives up the right to the
    // others).
    if (::initgroups(pw->pw_name, gid) != 0 || ::setgid(gid) != 0 || ::setuid(pw->pw_uid) != 0) {
        if (error)
            *error = QStringLiteral("cannot switch to user '%1': %2")
                         .arg(user, QString::fromLocal8Bit(std::strerror(errno)));
        return false;
    }
    return true;
}

bool chownForUser(const QStringList &paths, const QString &user, const QString &group,
                  QString *error)
{
    if (user.isEmpty() || ::geteuid() != 0)
        return true;
    const struct passwd *pw = ::getpwnam(user.toLocal8Bit().constData());
    if (!pw)
        return true; // dropPrivileges() reports the unknown user
    gid_t gid = pw->pw_gid;
    if (!group.isEmpty()) {
        if (const struct group *gr = ::getgrnam(group.toLocal8Bit().constData()))
            gid = gr->gr_gid;
    }
    for (const QString &path : paths) {
        if (path.isEmpty() || !QFileInfo::exists(path))
            continue;
        if (::chown(QFile::encodeName(path).constData(), pw->pw_uid, gid) != 0) {
            if (error)
                *error = QStringLiteral("cannot hand '%1' to user '%2': %3")
                             .arg(path, user, QString::fromLocal8Bit(std::strerror(errno)));
            return false;
        }
    }
    return true;
}

QStringList ownedPaths(const Config::Config &config, const QString &pidFile)
{
    QStringList paths{pidFile};
    const QString logDir = config.getPath(QStringLiteral("server"), QStringLiteral("log_dir"));
    if (!logDir.isEmpty()) {
        paths.append(logDir);
        for (const QString &name : QDir(logDir).entryList(QDir::Files))
            paths.append(QDir(logDir).filePath(name));
    }
    return paths;
}

bool becomeConfiguredUser(const Config::Config &config, const QStringList &ownedPaths,
                          QString *error)
{
    const QString server = QStringLiteral("server");
    const QString user = config.getString(server, QStringLiteral("user"));
    const QString group = config.getString(server, QStringLiteral("group"));
    return applyUmask(config.getString(server, QStringLiteral("umask")), error) &&
           chownForUser(ownedPaths, user, group, error) &&
           dropPrivileges(user, group, config.getBool(server, QStringLiteral("allow_root")), error);
}

bool applyUmask(const QString &text, QString *error)
{
    if (text.isEmpty())
        return true;
    bool ok = false;
    const uint mask = text.toUInt(&ok, 8);
    if (!ok || mask > 0777) {
        if (error)
            *error = QStringLiteral("[server] umask: '%1' is not an octal mode").arg(text);
        return false;
    }
    ::umask(mode_t(mask));
    return true;
}

void notifySystemd(const char *state)
{
    ::sd_notify(0, state);
}

QString describeWaitStatus(int status)
{
    if (WIFEXITED(status))
        return QStringLiteral("exited with status %1").arg(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        return QStringLiteral("%1 by signal %2 (%3)")
            .arg(WCOREDUMP(status) ? QStringLiteral("dumped core, killed")
                                   : QStringLiteral("killed"))
            .arg(sig)
            .arg(QString::fromLocal8Bit(::strsignal(sig)));
    }
    return QStringLiteral("stopped (status %1)").arg(status);
}

int daemonize()
{
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = ::fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        // The starter: wait for the daemon's word, relay it, exit.
        ::close(pipeFds[1]);
        char buffer[1024];
        QByteArray message;
        ssize_t n;
        while ((n = ::read(pipeFds[0], buffer, sizeof(buffer))) > 0)
            message.append(buffer, n);
        if (message.startsWith("OK")) {
            ::_exit(0);
        }
        if (message.isEmpty())
            message = "berthd: the daemon exited before it was ready (see server.log)";
        message.append('\n');
        [[maybe_unused]] ssize_t w =
            ::write(STDERR_FILENO, message.constData(), size_t(message.size()));
        ::_exit(1);
    }
    ::close(pipeFds[0]);
    ::setsid();
    pid = ::fork(); // not a session leader: can never reacquire a terminal
    if (pid < 0)
        ::_exit(1);
    if (pid > 0)
        ::_exit(0);
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
        ::dup2(null, STDIN_FILENO);
        ::dup2(null, STDOUT_FILENO);
        ::dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            ::close(null);
    }
    return pipeFds[1];
}

void reportToStarter(int fd, const QString &message)
{
    if (fd < 0)
        return;
    const QByteArray bytes = message.toLocal8Bit();
    [[maybe_unused]] ssize_t n = ::write(fd, bytes.constData(), size_t(bytes.size()));
    ::close(fd);
}

namespace {

struct Executable
{
    QString path;
    int fd = -1;
};

// Taken once, at the first call (the master makes it in prepare()), while the file is still the
// one this process runs: a package upgrade may replace it later.
const Executable &executable()
{
    static const Executable self = [] {
        Executable e;
        e.path = QFileInfo(QStringLiteral("/proc/self/exe")).canonicalFilePath();
        // Close-on-exec: fexecve() of an ELF file does not need the fd in the new image.
        e.fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        return e;
    }();
    return self;
}

} // namespace

QString selfExecutable()
{
    return executable().path;
}

int selfExecutableFd()
{
    return executable().fd;
}

} // namespace Berth::Core
