#pragma once

#include "requestlogline.h"

#include <QtGlobal>

namespace Berth::Config {
class Config;
}

namespace Berth::Log {

// How the server logs, from [server] (docs/logs.md). Set once per process, before setup() and
// before any thread logs.
struct LogOptions
{
    bool requestLog = true; // request_log = off: no request.log at all
    qint64 requestBuffer =
        64 * 1024; // request_log_buffer: a thread's pending bytes, written eagerly
    RequestLogFormat requestFormat = RequestLogFormat::Skitai;
    LogTime time = LogTime::Local;
    QtMsgType minLevel = QtDebugMsg; // server.log and app.log drop what is below it
    bool syslog = false;             // also send server.log and request.log lines to syslog

    // The [server] keys request_log, request_log_buffer, request_log_format, log_time, log_level
    // and syslog; a value that is none of the documented ones is an error diagnostic on config, at
    // its file:line (and the default is used): `berthd check` reports it.
    static LogOptions fromConfig(const Config::Config &config);
};

// The journald priority (sd-daemon(3): "<3>" ...) of a Qt message type.
int journalPriority(QtMsgType type);
// Whether stderr is the journal stream JOURNAL_STREAM names ("device:inode"): then lines sent to
// stderr start with a priority prefix.
bool stderrIsJournal();

} // namespace Berth::Log
