#pragma once

#include "logoptions.h"

#include <QString>

#include <memory>

namespace Berth::Log {

class LogSink;

// The server's log files: server.log (lifecycle, errors: Qt categories berth.*), app.log (what
// apps log: categories berth.app.*), request.log (one line per request), cef.log (security
// events, see cef.h). With no log_dir every one goes to stderr. Messages from Qt's own
// categories (qt.*) go to server.log as well. Logging never blocks the calling thread on I/O
// (see LogSink): a sink that stalls costs lines, counted in server.log, not serving.
class Logging
{
public:
    // [server] request_log, request_log_format, log_time, log_level, syslog: call before
    // setup() (which reads them) and before other threads log.
    static void configure(const LogOptions &options);
    static const LogOptions &options();
    // Opens the files under logDir (created if missing) and installs the Qt message handler.
    static bool setup(const QString &logDir, QString *error);
    static void shutdown();
    // Waits until what was logged so far is written (bounded, and not at all for a sink that is
    // stalled: see LogSink::sync()).
    static void flushAll();
    static bool reopenAll(QString *error);
    // A log file of a service's own (cron.log) that reopenAll() reopens too (USR1), for as long
    // as the sink lives. Call from the main thread.
    static void reopenWithOthers(const std::shared_ptr<LogSink> &sink);

    static LogSink *requestLog(); // null with request_log = off
    static LogSink *serverLog();
    static LogSink *appLog();
    static LogSink *cefLog(); // null before setup(): logCef() then writes to stderr
    static QString logDir();
};

// Whether logCef() also sends each event to syslog (facility LOG_AUTH), from [server]
// cef_syslog. Set once at startup, before the event-loop threads run.
void setCefSyslog(bool enabled);

} // namespace Berth::Log
