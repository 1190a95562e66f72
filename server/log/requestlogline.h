#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace Berth::Log {

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
    qint64 handlingMicros = 0; // request received -> response started
    qint64 sendingMicros = 0;  // response started -> last byte queued
};

// Appends one request.log line (no newline) to line:
// 2026.11.21 20:05:06 127.0.0.1:51234 example:8080 GET /a?b HTTP/1.1 200 0 532 TXN C1-R1 - -
// "curl/7.88.1" 1ms 0ms
// Every byte outside printable ASCII, and '"' and '\', is written as \xHH (as nginx does), and
// so is a space except inside the quoted user agent: the line splits reliably on spaces and no
// client value can break or forge a line (CR, LF, NEL, U+2028, invalid UTF-8). Runs once per
// request: it copies clean fields whole and formats numbers without allocating.
void appendRequestLogLine(QByteArray &line, const RequestLogRecord &record);
QByteArray formatRequestLogLine(const RequestLogRecord &record);

} // namespace Berth::Log
