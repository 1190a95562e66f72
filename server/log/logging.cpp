#include "logging.h"

#include "logfiles.h"
#include "logsink.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QLoggingCategory>

#include <memory>

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
    // "berth.app" and "berth.app.*" are what apps log; "berth.apps.*" (built-in app code) is
    // the server's.
    const bool isApp = context.category && qstrncmp(context.category, "berth.app", 9) == 0 &&
                       (context.category[9] == '\0' || context.category[9] == '.');
    LogSink *sink = isApp ? s.app.get() : s.server.get();
    QByteArray line =
        QDateTime::currentDateTime().toString(QStringLiteral("yyyy.MM.dd HH:mm:ss")).toLatin1();
    line += " [";
    line += levelName(type);
    line += "] ";
    if (context.category && qstrcmp(context.category, "default") != 0) {
        line += context.category;
        line += ": ";
    }
    line += message.toUtf8();
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
    s.request = std::make_unique<LogSink>(path(RequestLogFile));
    s.app = std::make_unique<LogSink>(path(AppLogFile));
    s.cef = std::make_unique<LogSink>(path(CefLogFile));
    for (LogSink *sink : {s.server.get(), s.request.get(), s.app.get(), s.cef.get()}) {
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
