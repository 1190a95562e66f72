#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace Berth::Log {

class LogSink;

// Everything request.log records about one request (Skitai's field list, in its order). Views
// only: the caller formats what stays the same for a connection ("ip:port") once.
struct RequestLogRecord
{
    qint64 startedAtMsecs = 0; // wall clock, ms since the epoch
    QByteArrayView client;     // "127.0.0.1:51234"
    QByteArrayView server;     // "example:8080"
    QByteArrayView method;
    QByteArrayView url;
    QByteArrayView version; // "HTTP/1.1"
    int status = 0;
    qint64 bytesReceived = 0;
    qint64 bytesSent = 0;
    QByteArrayView globalTxn;
    QByteArrayView localTxn;
    QByteArrayView user;  // empty -> "-"
    QByteArrayView token; // empty -> "-"
    QByteArrayView userAgent;
    QByteArrayView referer;    // combined and json only
    qint64 handlingMicros = 0; // request received -> response started
    qint64 sendingMicros = 0;  // response started -> last byte queued
};

// request_log_format: Skitai's fields (the default), Apache/nginx "combined", or one JSON object.
enum class RequestLogFormat { Skitai, Combined, Json };
// log_time: the zone timestamps are written in.
enum class LogTime { Local, Utc };

// Appends one request.log line (no newline) to line, in Skitai's format:
// 2026.11.21 20:05:06 127.0.0.1:51234 example:8080 GET /a?b HTTP/1.1 200 0 532 TXN C1-R1 - -
// "curl/7.88.1" 1ms 0ms
// Every byte outside printable ASCII, and '"' and '\', is written as \xHH (as nginx does), and
// so is a space except inside the quoted user agent: the line splits reliably on spaces and no
// client value can break or forge a line (CR, LF, NEL, U+2028, invalid UTF-8). Runs once per
// request: it copies clean fields whole, eight bytes at a time, and formats numbers in place.
// With LogTime::Utc the date and time are ISO 8601 with milliseconds, still two fields:
// "2026-11-21 19:05:06.123Z".
//
// Combined (what goaccess, awstats and fail2ban read; %b is every byte sent, head included):
// 127.0.0.1 - alice [21/Nov/2026:20:05:06 +0100] "GET /a?b HTTP/1.1" 200 532 "-" "curl/7.88.1"
// escaped as above, so a quoted field never contains '"'.
//
// Json: one object with every Skitai field, typed (numbers as numbers, absent values as null),
// "time" in ISO 8601 with milliseconds and offset; every byte outside printable ASCII is a
// \uXXXX escape (invalid UTF-8 becomes U+FFFD), so a line is always one valid JSON text.
void appendRequestLogLine(QByteArray &line, const RequestLogRecord &record,
                          RequestLogFormat format = RequestLogFormat::Skitai,
                          LogTime time = LogTime::Local);
// The same line, formatted straight into the calling thread's buffer of sink (no copy, no
// allocation once that buffer has grown): what the server does once per request.
void appendRequestLogLine(LogSink &sink, const RequestLogRecord &record, RequestLogFormat format,
                          LogTime time);
// The most bytes the line of record can take (every field byte escaped), and the line written
// at out, which has room for that many: returns the end of the line. It may write past the end
// of the line (never past out + maxRequestLogLineBytes(record)).
qsizetype maxRequestLogLineBytes(const RequestLogRecord &record);
char *writeRequestLogLine(char *out, const RequestLogRecord &record, RequestLogFormat format,
                          LogTime time);
QByteArray formatRequestLogLine(const RequestLogRecord &record,
                                RequestLogFormat format = RequestLogFormat::Skitai,
                                LogTime time = LogTime::Local);

// A server.log timestamp: "2026.11.21 20:05:06" (local) or "2026-11-21 19:05:06.123Z" (utc).
QByteArray formatLogTimestamp(qint64 msecs, LogTime time);

} // namespace Berth::Log
