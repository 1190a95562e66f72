#include "requestlogline.h"

#include <QDateTime>

namespace Berth::Log {

namespace {

// The local date and time, formatted once per second per thread.
QByteArrayView timestamp(qint64 msecs)
{
    thread_local qint64 cachedSecond = -1;
    thread_local QByteArray cached;
    const qint64 second = msecs / 1000;
    if (second != cachedSecond) {
        cachedSecond = second;
        cached = QDateTime::fromSecsSinceEpoch(second)
                     .toString(QStringLiteral("yyyy.MM.dd HH:mm:ss"))
                     .toLatin1();
    }
    return cached;
}

void appendField(QByteArray &line, QByteArrayView value)
{
    line += ' ';
    if (value.isEmpty()) {
        line += '-';
        return;
    }
    // Keep one field one token: a space or control byte would shift every later column.
    for (char c : value)
        line += (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) ? '_' : c;
}

void appendQuoted(QByteArray &line, QByteArrayView value)
{
    line += " \"";
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            line += '\\';
            line += c;
        } else if (u < 0x20 || u == 0x7f) {
            line += '?';
        } else {
            line += c;
        }
    }
    line += '"';
}

void appendMillis(QByteArray &line, qint64 micros)
{
    line += ' ';
    line += QByteArray::number((micros + 500) / 1000);
    line += "ms";
}

} // namespace

QByteArray formatRequestLogLine(const RequestLogRecord &r)
{
    QByteArray line;
    line.reserve(256);
    line += timestamp(r.startedAtMsecs);
    line += ' ';
    line += r.clientAddress.toString().toLatin1();
    line += ':';
    line += QByteArray::number(r.clientPort);
    appendField(line, r.serverName);
    line += ':';
    line += QByteArray::number(r.serverPort);
    appendField(line, r.method);
    appendField(line, r.url);
    appendField(line, r.version);
    line += ' ';
    line += QByteArray::number(r.status);
    line += ' ';
    line += QByteArray::number(r.bytesReceived);
    line += ' ';
    line += QByteArray::number(r.bytesSent);
    appendField(line, r.globalTxn);
    appendField(line, r.localTxn);
    appendField(line, r.user);
    appendField(line, r.token);
    appendQuoted(line, r.userAgent);
    appendMillis(line, r.handlingMicros);
    appendMillis(line, r.sendingMicros);
    return line;
}

} // namespace Berth::Log
