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

// Printable ASCII that may stand for itself in a field. Everything else becomes \xHH, as in
// nginx's access log: a space would shift every later column, a control byte (or NEL, U+2028,
// an invalid UTF-8 sequence) could break or forge a line in a viewer, and a backslash must be
// escaped for \xHH to stay unambiguous.
bool isPlainByte(char c, bool spaceAllowed)
{
    const auto u = static_cast<unsigned char>(c);
    if (u == ' ')
        return spaceAllowed;
    return u > ' ' && u < 0x7f && c != '"' && c != '\\';
}

void appendEscaped(QByteArray &line, QByteArrayView value, bool spaceAllowed)
{
    static constexpr char Hex[] = "0123456789ABCDEF";
    qsizetype start = 0;
    for (qsizetype i = 0; i < value.size(); ++i) {
        if (isPlainByte(value[i], spaceAllowed))
            continue;
        // Clean runs are copied whole: most values have nothing to escape.
        line.append(value.sliced(start, i - start));
        const auto u = static_cast<unsigned char>(value[i]);
        const char escaped[4] = {'\\', 'x', Hex[u >> 4], Hex[u & 0xf]};
        line.append(escaped, 4);
        start = i + 1;
    }
    line.append(value.sliced(start));
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
    appendEscaped(line, value, false); // one field, one token
}

void appendQuoted(QByteArray &line, QByteArrayView value)
{
    line += " \"";
    appendEscaped(line, value, true);
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
