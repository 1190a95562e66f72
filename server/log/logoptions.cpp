#include "logoptions.h"

#include "config/config.h"

#include <sys/stat.h>

namespace Berth::Log {

namespace {

// The index of value in names, or -1 (with an error naming the key and the choices).
int choose(const Config::Config &config, const QString &key, const QStringList &names)
{
    const QString server = QStringLiteral("server");
    const QString value = config.getString(server, key).trimmed().toLower();
    const int index = int(names.indexOf(value));
    if (index < 0) {
        config.addDiagnostic({Config::Diagnostic::Severity::Error, config.location(server, key),
                              QStringLiteral("[server] %1: '%2' is not %3")
                                  .arg(key, value, names.join(QStringLiteral(", ")))});
    }
    return index;
}

} // namespace

LogOptions LogOptions::fromConfig(const Config::Config &config)
{
    LogOptions options;
    const QString server = QStringLiteral("server");
    options.requestLog = config.getBool(server, QStringLiteral("request_log"));
    options.requestBuffer = config.getSize(server, QStringLiteral("request_log_buffer"));
    options.syslog = config.getBool(server, QStringLiteral("syslog"));
    switch (
        choose(config, QStringLiteral("request_log_format"),
               {QStringLiteral("skitai"), QStringLiteral("combined"), QStringLiteral("json")})) {
    case 1:
        options.requestFormat = RequestLogFormat::Combined;
        break;
    case 2:
        options.requestFormat = RequestLogFormat::Json;
        break;
    default:
        break;
    }
    if (choose(config, QStringLiteral("log_time"),
               {QStringLiteral("local"), QStringLiteral("utc")}) == 1)
        options.time = LogTime::Utc;
    static constexpr QtMsgType Levels[] = {QtDebugMsg, QtInfoMsg, QtWarningMsg, QtCriticalMsg};
    const int level = choose(config, QStringLiteral("log_level"),
                             {QStringLiteral("debug"), QStringLiteral("info"),
                              QStringLiteral("warning"), QStringLiteral("error")});
    if (level >= 0)
        options.minLevel = Levels[level];
    return options;
}

int journalPriority(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg:
        return 7; // LOG_DEBUG
    case QtInfoMsg:
        return 6; // LOG_INFO
    case QtWarningMsg:
        return 4; // LOG_WARNING
    case QtCriticalMsg:
        return 3; // LOG_ERR
    case QtFatalMsg:
        return 2; // LOG_CRIT
    }
    return 6;
}

bool stderrIsJournal()
{
    // systemd sets JOURNAL_STREAM for the stream it connected; a child whose stderr was
    // redirected elsewhere inherits the variable, so the device and inode must match.
    const QByteArray stream = qgetenv("JOURNAL_STREAM");
    const qsizetype colon = stream.indexOf(':');
    if (colon <= 0)
        return false;
    struct stat st
    {};
    if (::fstat(2, &st) != 0)
        return false;
    bool ok1 = false;
    bool ok2 = false;
    const qulonglong device = stream.left(colon).toULongLong(&ok1);
    const qulonglong inode = stream.mid(colon + 1).toULongLong(&ok2);
    return ok1 && ok2 && device == qulonglong(st.st_dev) && inode == qulonglong(st.st_ino);
}

} // namespace Berth::Log
