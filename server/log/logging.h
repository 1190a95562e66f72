#pragma once

#include <QString>

namespace Berth::Log {

class LogSink;

// The server's log files: server.log (lifecycle, errors: Qt categories berth.*), app.log (what
// apps log: categories berth.app.*), request.log (one line per request). With no log_dir every
// one goes to stderr. Messages from Qt's own categories (qt.*) go to server.log as well.
class Logging
{
public:
    // Opens the files under logDir (created if missing) and installs the Qt message handler.
    static bool setup(const QString &logDir, QString *error);
    static void shutdown();
    static void flushAll();
    static bool reopenAll(QString *error);

    static LogSink *requestLog();
    static LogSink *serverLog();
    static LogSink *appLog();
    static QString logDir();
};

} // namespace Berth::Log
