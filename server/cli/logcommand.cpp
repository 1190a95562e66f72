#include "logcommand.h"

#include "commandoutput.h"

#include "log/logfiles.h"

#include <config/config.h>

#include <QDir>
#include <QFile>
#include <QThread>

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace Berth::Cli {

using namespace Qt::StringLiterals;

namespace {

// The -s names come from Log::logNames(), as in `berthd -h`.
QByteArray logUsage()
{
    QStringList names = Log::logNames();
    names.first() += u" (default)"_s;
    return "usage: berthd log [-c FILE]... [-s NAME] [-n BYTES] [-f]\n"
           "  print the tail of a log; -f keeps following it (across USR1 "
           "reopens and rotations)\n"
           "  -s NAME   " +
           names.join(u", "_s).toLatin1() +
           "\n"
           "  -n BYTES  how much of the end to print (default 16K)\n";
}

// How often -f looks for new data and for a new file at the path. Short enough to feel live,
// long enough to cost nothing.
constexpr int FollowIntervalMs = 200;

struct LogArguments
{
    QStringList configFiles;
    QString name = u"server"_s;
    qint64 bytes = 16 * 1024;
    bool follow = false;
    bool help = false;
    QString error;
};

int usageError(const QString &message)
{
    return reportUsageError("log", logUsage().constData(), message);
}

LogArguments parse(const QStringList &args)
{
    LogArguments a;
    bool sawLog = false;
    for (qsizetype i = 1; i < args.size() && a.error.isEmpty(); ++i) {
        const QString &arg = args[i];
        auto value = [&]() -> QString {
            if (i + 1 >= args.size()) {
                a.error = u"option %1 needs a value"_s.arg(arg);
                return {};
            }
            return args[++i];
        };
        if (arg == u"-c"_s || arg == u"--config"_s) {
            a.configFiles.append(value());
        } else if (arg.startsWith(u"--config="_s)) {
            a.configFiles.append(arg.mid(9));
        } else if (arg == u"-s"_s) {
            a.name = value();
        } else if (arg == u"-n"_s) {
            const QString text = value();
            const std::optional<qint64> bytes = Config::Values::parseSize(text);
            if (!bytes && a.error.isEmpty())
                a.error = u"-n: '%1' is not a size"_s.arg(text);
            else if (bytes)
                a.bytes = *bytes;
        } else if (arg == u"-f"_s || arg == u"--follow"_s) {
            a.follow = true;
        } else if (arg == u"-h"_s || arg == u"--help"_s) {
            a.help = true;
        } else if (!sawLog && arg == u"log"_s) {
            sawLog = true;
        } else if (arg.startsWith(u'-')) {
            a.error = u"unknown option '%1'"_s.arg(arg);
        } else {
            a.error = u"unexpected argument '%1'"_s.arg(arg);
        }
    }
    if (a.configFiles.isEmpty()) {
        const QString fromEnv = qEnvironmentVariable("BERTH_CONF");
        a.configFiles.append(fromEnv.isEmpty() ? u"/etc/berth/berth.conf"_s : fromEnv);
    }
    return a;
}

bool writeAll(const QByteArray &data)
{
    if (data.isEmpty())
        return true;
    const bool ok =
        std::fwrite(data.constData(), 1, size_t(data.size()), stdout) == size_t(data.size());
    std::fflush(stdout);
    return ok;
}

// Everything from the current offset of fd to its end.
QByteArray readRest(int fd)
{
    QByteArray out;
    char buffer[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n > 0) {
            out.append(buffer, n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return out;
    }
}

// tail -F: follows the file open on fd, and whatever file the path names after a rotation.
int follow(const QByteArray &path, int fd)
{
    for (;;) {
        if (!writeAll(readRest(fd)))
            return 0; // the reader went away (a closed pipe)
        struct stat opened = {};
        struct stat named = {};
        ::fstat(fd, &opened);
        const bool exists = ::stat(path.constData(), &named) == 0;
        if (exists && (named.st_ino != opened.st_ino || named.st_dev != opened.st_dev)) {
            // Reopened elsewhere (USR1 after a rename): what was written to the old file
            // before the switch first, then the new file from its start.
            writeAll(readRest(fd));
            const int next = ::open(path.constData(), O_RDONLY | O_CLOEXEC);
            if (next >= 0) {
                ::close(fd);
                fd = next;
                continue;
            }
        } else if (exists && named.st_size < ::lseek(fd, 0, SEEK_CUR)) {
            ::lseek(fd, 0, SEEK_SET); // truncated in place (copytruncate)
            continue;
        }
        QThread::msleep(FollowIntervalMs);
    }
}

} // namespace

int runLogCommand(const QStringList &arguments)
{
    const LogArguments a = parse(arguments);
    if (!a.error.isEmpty())
        return usageError(a.error);
    if (a.help) {
        std::fputs(logUsage().constData(), stdout);
        return 0;
    }
    const Config::Config config = Config::Config::load(a.configFiles);
    for (const Config::Diagnostic &d : config.diagnostics()) {
        if (d.isError()) {
            printLine(stderr, d.toString());
            return 1;
        }
    }
    QString fileName;
    QStringList names;
    for (const Log::LogFile &log : Log::logFiles(config)) {
        names.append(log.name);
        if (log.name == a.name)
            fileName = log.file;
    }
    if (fileName.isEmpty() && !names.contains(a.name))
        return usageError(u"-s must be one of %1"_s.arg(names.join(u", "_s)));
    const QString dir = config.getPath(u"server"_s, u"log_dir"_s);
    if (dir.isEmpty()) {
        printLine(stderr, u"berthd log: [server] log_dir is not set: logs go to stderr"_s);
        return 1;
    }
    if (fileName.isEmpty()) {
        printLine(stderr,
                  u"berthd log: the %1 log is turned off in the configuration"_s.arg(a.name));
        return 1;
    }
    const QByteArray path = QFile::encodeName(QDir(dir).filePath(fileName));
    const int fd = ::open(path.constData(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printLine(stderr, u"berthd log: cannot open %1: %2"_s.arg(QFile::decodeName(path),
                                                                  qt_error_string(errno)));
        return 1;
    }
    const off_t size = ::lseek(fd, 0, SEEK_END);
    const off_t from = qMax<off_t>(0, size - off_t(a.bytes));
    ::lseek(fd, from, SEEK_SET);
    QByteArray tail;
    tail.resize(qsizetype(size - from));
    qsizetype got = 0;
    while (got < tail.size()) {
        const ssize_t n = ::read(fd, tail.data() + got, size_t(tail.size() - got));
        if (n <= 0)
            break;
        got += n;
    }
    tail.truncate(got);
    if (from > 0) {
        // Start at a whole line.
        const qsizetype nl = tail.indexOf('\n');
        tail = nl < 0 ? QByteArray() : tail.mid(nl + 1);
    }
    writeAll(tail);
    if (a.follow)
        return follow(path, fd); // until interrupted
    ::close(fd);
    return 0;
}

} // namespace Berth::Cli
