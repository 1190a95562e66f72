#include "logging.h"

#include "logfiles.h"
#include "logsink.h"
#include "syslogclient.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QLoggingCategory>

#include <memory>
#include <mutex>
#include <syslog.h>

namespace Berth::Log {

namespace {

struct State
{
    QString dir;
    std::unique_ptr<LogSink> server;
    std::unique_ptr<LogSink> request;
    std::unique_ptr<LogSink> app;
    std::unique_ptr<LogSink> cef;
    // Sinks of services (cron.log, ...) reopened with the others; touched from the main thread.
    QList<std::weak_ptr<LogSink>> extra;
    LogOptions options;
    bool journal = false; // stderr is journald's stream: "<N>" priority prefixes
};

State &state()
{
    static State s;
    return s;
}

const char *levelName(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg:
        return "debug";
    case QtInfoMsg:
        return "info";
    case QtWarningMsg:
        return "warning";
    case QtCriticalMsg:
        return "error";
    case QtFatalMsg:
        return "fatal";
    }
    return "info";
}

void messageHandler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    State &s = state();
    // QtFatalMsg has the highest value, QtInfoMsg (added later) the lowest: compare by rank.
    auto rank = [](QtMsgType t) {
        return t == QtDebugMsg      ? 0
               : t == QtInfoMsg     ? 1
               : t == QtWarningMsg  ? 2
               : t == QtCriticalMsg ? 3
                                    : 4;
    };
    if (rank(type) < rank(s.options.minLevel))
        return;
    // "berth.app" and "berth.app.*" are what apps log; "berth.apps.*" (built-in app code) is
    // the server's.
    const bool isApp = context.category && qstrncmp(context.category, "berth.app", 9) == 0 &&
                       (context.category[9] == '\0' || context.category[9] == '.');
    LogSink *sink = isApp ? s.app.get() : s.server.get();
    QByteArray line;
    if (s.journal && (!sink || sink->path().isEmpty())) {
        line += '<';
        line += char('0' + journalPriority(type));
        line += '>';
    }
    line += formatLogTimestamp(QDateTime::currentMSecsSinceEpoch(), s.options.time);
    const qsizetype body = line.size() + 1; // syslog stamps lines itself
    line += " [";
    line += levelName(type);
    line += "] ";
    if (context.category && qstrcmp(context.category, "default") != 0) {
        line += context.category;
        line += ": ";
    }
    line += message.toUtf8();
    if (s.options.syslog && !isApp) {
        static constexpr int Priorities[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT};
        SyslogClient::process().send(LOG_DAEMON | Priorities[rank(type)],
                                     QByteArrayView(line).sliced(body));
    }
    if (sink) {
        sink->append(line);
        // Errors reach the file at once (the writer is woken; nobody waits for it): they are
        // what an operator looks for after a crash.
        if (type >= QtWarningMsg)
            sink->flush();
    } else {
        line += '\n';
        fputs(line.constData(), stderr);
    }
}

Q_LOGGING_CATEGORY(lcLog, "berth.log")

// From a sink's writer thread, once the sink takes data again after lines were dropped.
void reportDrops(const LogSink &sink, qint64 dropped)
{
    const QString name =
        sink.path().isEmpty() ? QStringLiteral("stderr") : QFileInfo(sink.path()).fileName();
    qCWarning(lcLog).noquote()
        << QStringLiteral("dropped %1 log lines: sink stalled (%2)").arg(dropped).arg(name);
}

} // namespace

void Logging::configure(const LogOptions &options)
{
    state().options = options;
    if (options.syslog) {
        // Connect now, before a privilege drop or chroot could make /dev/log unreachable.
        SyslogClient::process();
    }
}

const LogOptions &Logging::options()
{
    return state().options;
}

bool Logging::setup(const QString &logDir, QString *error)
{
    State &s = state();
    s.dir = logDir;
    auto path = [&](const char *name) {
        return logDir.isEmpty() ? QString() : QDir(logDir).filePath(QString::fromLatin1(name));
    };
    if (!logDir.isEmpty() && !QDir().mkpath(logDir)) {
        if (error)
            *error = QStringLiteral("cannot create log_dir '%1'").arg(logDir);
        return false;
    }
    s.server = std::make_unique<LogSink>(path(ServerLogFile));
    s.request = s.options.requestLog ? std::make_unique<LogSink>(path(RequestLogFile)) : nullptr;
    if (s.request)
        s.request->setEagerBytes(s.options.requestBuffer);
    s.app = std::make_unique<LogSink>(path(AppLogFile));
    s.cef = std::make_unique<LogSink>(path(CefLogFile));
    s.journal = logDir.isEmpty() && stderrIsJournal();
    if (s.request && s.options.syslog)
        s.request->setSyslogPriority(LOG_DAEMON | LOG_INFO);
    for (LogSink *sink : {s.server.get(), s.request.get(), s.app.get(), s.cef.get()}) {
        if (!sink)
            continue;
        if (!sink->open(error))
            return false;
        sink->setDropReporter(reportDrops);
    }
    qInstallMessageHandler(messageHandler);
    return true;
}

void Logging::shutdown()
{
    flushAll();
    qInstallMessageHandler(nullptr);
}

void Logging::flushAll()
{
    State &s = state();
    for (LogSink *sink : {s.server.get(), s.request.get(), s.app.get(), s.cef.get()}) {
        if (sink)
            sink->sync();
    }
}

bool Logging::reopenAll(QString *error)
{
    State &s = state();
    bool ok = true;
    for (LogSink *sink : {s.server.get(), s.request.get(), s.app.get(), s.cef.get()}) {
        if (sink && !sink->reopen(error))
            ok = false;
    }
    s.extra.removeIf([](const std::weak_ptr<LogSink> &weak) { return weak.expired(); });
    for (const std::weak_ptr<LogSink> &weak : std::as_const(s.extra)) {
        if (const std::shared_ptr<LogSink> sink = weak.lock(); sink && !sink->reopen(error))
            ok = false;
    }
    return ok;
}

void Logging::reopenWithOthers(const std::shared_ptr<LogSink> &sink)
{
    state().extra.append(sink);
}

LogSink *Logging::requestLog()
{
    return state().request.get();
}

LogSink *Logging::serverLog()
{
    return state().server.get();
}

LogSink *Logging::appLog()
{
    return state().app.get();
}

LogSink *Logging::cefLog()
{
    return state().cef.get();
}

QString Logging::logDir()
{
    return state().dir;
}

} // namespace Berth::Log
