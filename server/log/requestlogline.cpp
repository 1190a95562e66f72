#include "requestlogline.h"

#include <QDateTime>

#include <charconv>

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

bool isFieldByte(char c)
{
    const auto u = static_cast<unsigned char>(c);
    return u > ' ' && u != 0x7f;
}

void appendNumber(QByteArray &line, qint64 value)
{
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    line.append(buffer, result.ptr - buffer);
}

void appendField(QByteArray &line, QByteArrayView value)
{
    line += ' ';
    if (value.isEmpty()) {
        line += '-';
        return;
    }
    // Keep one field one token: a space or control byte would shift every later column.
    qsizetype clean = 0;
    while (clean < value.size() && isFieldByte(value[clean]))
        ++clean;
    line.append(value.first(clean));
    for (qsizetype i = clean; i < value.size(); ++i)
        line += isFieldByte(value[i]) ? value[i] : '_';
}

void appendQuoted(QByteArray &line, QByteArrayView value)
{
    line += " \"";
    qsizetype start = 0;
    for (qsizetype i = 0; i < value.size(); ++i) {
        const char c = value[i];
        const auto u = static_cast<unsigned char>(c);
        const bool escape = c == '"' || c == '\\';
        if (!escape && u >= 0x20 && u != 0x7f)
            continue;
        line.append(value.sliced(start, i - start));
        if (escape) {
            line += '\\';
            line += c;
        } else {
            line += '?';
        }
        start = i + 1;
    }
    line.append(value.sliced(start));
    line += '"';
}

void appendMillis(QByteArray &line, qint64 micros)
{
    line += ' ';
    appendNumber(line, (micros + 500) / 1000);
    line += "ms";
}

} // namespace

void appendRequestLogLine(QByteArray &line, const RequestLogRecord &r)
{
    line += timestamp(r.startedAtMsecs);
    appendField(line, r.client);
    appendField(line, r.server);
    appendField(line, r.method);
    appendField(line, r.url);
    appendField(line, r.version);
    line += ' ';
    appendNumber(line, r.status);
    line += ' ';
    appendNumber(line, r.bytesReceived);
    line += ' ';
    appendNumber(line, r.bytesSent);
    appendField(line, r.globalTxn);
    appendField(line, r.localTxn);
    appendField(line, r.user);
    appendField(line, r.token);
    appendQuoted(line, r.userAgent);
    appendMillis(line, r.handlingMicros);
    appendMillis(line, r.sendingMicros);
}

QByteArray formatRequestLogLine(const RequestLogRecord &record)
{
    QByteArray line;
    line.reserve(256);
    appendRequestLogLine(line, record);
    return line;
}

} // namespace Berth::Log
