#include "requestlogline.h"

#include <QDateTime>

#include <charconv>
#include <cstring>

namespace Berth::Log {

namespace {

// Writes into memory the caller has sized for the worst case (see appendRequestLogLine): no
// capacity check and no QByteArray call per field, which is where the line's time went.
struct Writer
{
    char *p;

    void append(const char *data, qsizetype size)
    {
        if (size == 0) // an empty view may have no storage; memcpy wants a valid pointer
            return;
        std::memcpy(p, data, size_t(size));
        p += size;
    }
    void append(QByteArrayView data) { append(data.data(), data.size()); }
    Writer &operator+=(char c)
    {
        *p++ = c;
        return *this;
    }
    template <size_t N> Writer &operator+=(const char (&literal)[N])
    {
        append(literal, qsizetype(N - 1));
        return *this;
    }
    Writer &operator+=(QByteArrayView data)
    {
        append(data);
        return *this;
    }
};

// Timestamps are formatted once per second per thread and style; only milliseconds are added
// per line.
enum class Stamp { Skitai, Combined, Iso };

QByteArray offsetText(const QDateTime &when, bool colon)
{
    const int offset = when.offsetFromUtc() / 60;
    const int minutes = offset < 0 ? -offset : offset;
    QByteArray text(offset < 0 ? "-" : "+");
    text += QByteArray::number(minutes / 60).rightJustified(2, '0');
    if (colon)
        text += ':';
    text += QByteArray::number(minutes % 60).rightJustified(2, '0');
    return text;
}

QByteArray makeStamp(qint64 second, Stamp stamp, LogTime time)
{
    const QDateTime when = time == LogTime::Utc ? QDateTime::fromSecsSinceEpoch(second, Qt::UTC)
                                                : QDateTime::fromSecsSinceEpoch(second);
    switch (stamp) {
    case Stamp::Skitai:
        return when
            .toString(time == LogTime::Utc ? QStringLiteral("yyyy-MM-dd HH:mm:ss")
                                           : QStringLiteral("yyyy.MM.dd HH:mm:ss"))
            .toLatin1();
    case Stamp::Combined:
        // QDateTime::toString() uses the C locale: English month names, as Apache writes them.
        return '[' + when.toString(QStringLiteral("dd/MMM/yyyy:HH:mm:ss ")).toLatin1() +
               offsetText(when, false) + ']';
    case Stamp::Iso:
        return when.toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss")).toLatin1();
    }
    return {};
}

void appendStamp(Writer &line, qint64 msecs, Stamp stamp, LogTime time)
{
    struct Cache
    {
        qint64 second = -1;
        LogTime time = LogTime::Local;
        QByteArray text;
        QByteArray offset; // Iso, local: "+01:00"
    };
    thread_local Cache caches[3];
    Cache &c = caches[int(stamp)];
    const qint64 second = msecs >= 0 ? msecs / 1000 : (msecs - 999) / 1000;
    if (second != c.second || time != c.time) {
        c.second = second;
        c.time = time;
        c.text = makeStamp(second, stamp, time);
        c.offset = time == LogTime::Utc ? QByteArray("Z")
                                        : offsetText(QDateTime::fromSecsSinceEpoch(second), true);
    }
    line += c.text;
    if (stamp == Stamp::Combined || (stamp == Stamp::Skitai && time == LogTime::Local))
        return;
    const int millis = int(msecs - second * 1000);
    const char fraction[4] = {'.', char('0' + millis / 100), char('0' + millis / 10 % 10),
                              char('0' + millis % 10)};
    line.append(fraction, 4);
    line += c.offset;
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

// Bit tricks over eight bytes at once (Hacker's Delight / "Bit Twiddling Hacks"): each is
// non-zero exactly when some byte of x qualifies. A borrow or carry only starts at a byte that
// qualifies, so it may mark a neighbour too, but never makes a clean word look dirty.
constexpr quint64 Ones = 0x0101010101010101ull;
constexpr quint64 Highs = 0x8080808080808080ull;
constexpr quint64 zeroByteIn(quint64 x)
{
    return (x - Ones) & ~x & Highs;
}
constexpr quint64 byteBelowIn(quint64 x, quint64 n) // n <= 128
{
    return (x - Ones * n) & ~x & Highs;
}
constexpr quint64 byteAboveIn(quint64 x, quint64 n) // n < 128
{
    return ((x + Ones * (127 - n)) | x) & Highs;
}

// Whether one of eight bytes is not a plain byte (see isPlainByte()).
constexpr bool wordNeedsEscaping(quint64 word, bool spaceAllowed)
{
    return (byteBelowIn(word, spaceAllowed ? 0x20 : 0x21) | byteAboveIn(word, 0x7e) |
            zeroByteIn(word ^ (Ones * '"')) | zeroByteIn(word ^ (Ones * '\\'))) != 0;
}

// The end of the run of plain bytes starting at value[from]: the index of the first byte to
// escape, or value.size(). Eight bytes per step: the fields are mostly clean, and this scan was
// the largest single cost of a request.log line.
qsizetype plainRunEnd(QByteArrayView value, qsizetype from, bool spaceAllowed)
{
    const char *data = value.data();
    const qsizetype size = value.size();
    qsizetype i = from;
    for (; i + 8 <= size; i += 8) {
        quint64 word;
        std::memcpy(&word, data + i, sizeof(word));
        if (wordNeedsEscaping(word, spaceAllowed))
            break;
    }
    if (i < size && i + 8 > size) {
        // The last 1-7 bytes in one word too: the final eight bytes (those before i are known to
        // be plain), or the rest padded with a plain byte when the value is shorter than that.
        quint64 word = Ones * 'a';
        if (size >= 8)
            std::memcpy(&word, data + size - 8, sizeof(word));
        else
            std::memcpy(&word, data + i, size_t(size - i));
        if (!wordNeedsEscaping(word, spaceAllowed))
            return size;
    }
    // Some byte needs escaping: find which.
    while (i < size && isPlainByte(data[i], spaceAllowed))
        ++i;
    return i;
}

void appendEscaped(Writer &line, QByteArrayView value, bool spaceAllowed)
{
    static constexpr char Hex[] = "0123456789ABCDEF";
    qsizetype start = 0;
    for (;;) {
        // Clean runs are copied whole: most values have nothing to escape.
        const qsizetype end = plainRunEnd(value, start, spaceAllowed);
        line.append(value.data() + start, end - start);
        if (end == value.size())
            return;
        const auto u = static_cast<unsigned char>(value[end]);
        const char escaped[4] = {'\\', 'x', Hex[u >> 4], Hex[u & 0xf]};
        line.append(escaped, 4);
        start = end + 1;
    }
}

void appendNumber(Writer &line, qint64 value)
{
    if (value >= 0 && value < 100000) {
        // Statuses, small sizes, milliseconds: most numbers of a line. Digits written in place,
        // without std::to_chars' length pass and a copy.
        auto v = unsigned(value);
        const int digits = v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : 5;
        line.p += digits;
        char *p = line.p;
        do {
            *--p = char('0' + v % 10);
            v /= 10;
        } while (v != 0);
        return;
    }
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    line.append(buffer, result.ptr - buffer);
}

void appendField(Writer &line, QByteArrayView value)
{
    line += ' ';
    if (value.isEmpty()) {
        line += '-';
        return;
    }
    appendEscaped(line, value, false); // one field, one token
}

void appendQuoted(Writer &line, QByteArrayView value)
{
    line += " \"";
    appendEscaped(line, value, true);
    line += '"';
}

void appendMillis(Writer &line, qint64 micros)
{
    line += ' ';
    appendNumber(line, (micros + 500) / 1000);
    line += "ms";
}

// Combined: "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"".
void appendCombined(Writer &line, const RequestLogRecord &r, LogTime time)
{
    // %h is the address alone: "10.0.0.1:5000" -> "10.0.0.1", "::1:5000" or "[::1]:5000" ->
    // "::1" (the client field always ends in ":port").
    QByteArrayView host = r.client;
    if (host.startsWith('[')) {
        const qsizetype close = host.indexOf(']');
        host = close > 0 ? host.sliced(1, close - 1) : host;
    } else if (const qsizetype colon = host.lastIndexOf(':'); colon > 0) {
        host = host.first(colon);
    }
    if (host.isEmpty())
        line += '-';
    else
        appendEscaped(line, host, false);
    line += " -";
    appendField(line, r.user);
    line += ' ';
    appendStamp(line, r.startedAtMsecs, Stamp::Combined, time);
    if (r.method.isEmpty()) {
        line += " \"-\"";
    } else {
        line += " \"";
        appendEscaped(line, r.method, false);
        line += ' ';
        appendEscaped(line, r.url, false);
        line += ' ';
        appendEscaped(line, r.version, false);
        line += '"';
    }
    line += ' ';
    appendNumber(line, r.status);
    line += ' ';
    if (r.bytesSent > 0)
        appendNumber(line, r.bytesSent);
    else
        line += '-';
    if (r.referer.isEmpty())
        line += " \"-\"";
    else
        appendQuoted(line, r.referer);
    if (r.userAgent.isEmpty())
        line += " \"-\"";
    else
        appendQuoted(line, r.userAgent);
}

// The length of the valid UTF-8 sequence starting at value[i] (2-4), or 0 if there is none;
// its code point in *codePoint.
int utf8Sequence(QByteArrayView value, qsizetype i, char32_t *codePoint)
{
    const auto u = static_cast<unsigned char>(value[i]);
    int length = 0;
    char32_t cp = 0;
    char32_t minimum = 0;
    if (u >= 0xc2 && u <= 0xdf) {
        length = 2, cp = u & 0x1f, minimum = 0x80;
    } else if (u >= 0xe0 && u <= 0xef) {
        length = 3, cp = u & 0x0f, minimum = 0x800;
    } else if (u >= 0xf0 && u <= 0xf4) {
        length = 4, cp = u & 0x07, minimum = 0x10000;
    } else {
        return 0;
    }
    if (i + length > value.size())
        return 0;
    for (int k = 1; k < length; ++k) {
        const auto c = static_cast<unsigned char>(value[i + k]);
        if ((c & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < minimum || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *codePoint = cp;
    return length;
}

void appendUnicodeEscape(Writer &line, char32_t unit)
{
    static constexpr char Hex[] = "0123456789abcdef";
    const char escaped[6] = {'\\',
                             'u',
                             Hex[(unit >> 12) & 0xf],
                             Hex[(unit >> 8) & 0xf],
                             Hex[(unit >> 4) & 0xf],
                             Hex[unit & 0xf]};
    line.append(escaped, 6);
}

// A JSON string. Only printable ASCII stands for itself: a line stays one line for every
// reader (Python's splitlines() breaks at U+2028 and NEL too) and valid UTF-8 whatever the client
// sent.
void appendJsonString(Writer &line, QByteArrayView value)
{
    line += '"';
    qsizetype start = 0;
    for (;;) {
        // JSON's plain bytes are the quoted fields' (space allowed): printable ASCII but " and \.
        qsizetype i = plainRunEnd(value, start, true);
        line.append(value.data() + start, i - start);
        if (i == value.size())
            break;
        const auto u = static_cast<unsigned char>(value[i]);
        char32_t cp = 0;
        const int length = u >= 0x80 ? utf8Sequence(value, i, &cp) : 0;
        if (length == 0) {
            cp = u >= 0x80 ? 0xfffd : u;
        } else {
            i += length - 1;
        }
        if (cp >= 0x10000) {
            appendUnicodeEscape(line, 0xd800 + ((cp - 0x10000) >> 10));
            appendUnicodeEscape(line, 0xdc00 + ((cp - 0x10000) & 0x3ff));
        } else {
            appendUnicodeEscape(line, cp);
        }
        start = i + 1;
    }
    line += '"';
}

void appendJsonField(Writer &line, const char *name, QByteArrayView value)
{
    line += name;
    if (value.isEmpty())
        line += "null";
    else
        appendJsonString(line, value);
}

void appendJsonNumber(Writer &line, const char *name, qint64 value)
{
    line += name;
    appendNumber(line, value);
}

void appendJson(Writer &line, const RequestLogRecord &r, LogTime time)
{
    line += "{\"time\":\"";
    appendStamp(line, r.startedAtMsecs, Stamp::Iso, time);
    line += '"';
    appendJsonField(line, ",\"client\":", r.client);
    appendJsonField(line, ",\"server\":", r.server);
    appendJsonField(line, ",\"method\":", r.method);
    appendJsonField(line, ",\"url\":", r.url);
    appendJsonField(line, ",\"version\":", r.version);
    appendJsonNumber(line, ",\"status\":", r.status);
    appendJsonNumber(line, ",\"bytes_received\":", r.bytesReceived);
    appendJsonNumber(line, ",\"bytes_sent\":", r.bytesSent);
    appendJsonField(line, ",\"txn\":", r.globalTxn);
    appendJsonField(line, ",\"local_txn\":", r.localTxn);
    appendJsonField(line, ",\"user\":", r.user);
    appendJsonField(line, ",\"token\":", r.token);
    appendJsonField(line, ",\"user_agent\":", r.userAgent);
    appendJsonField(line, ",\"referer\":", r.referer);
    appendJsonNumber(line, ",\"handling_us\":", r.handlingMicros);
    appendJsonNumber(line, ",\"sending_us\":", r.sendingMicros);
    line += '}';
}

void appendSkitai(Writer &line, const RequestLogRecord &r, LogTime time)
{
    appendStamp(line, r.startedAtMsecs, Stamp::Skitai, time);
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

} // namespace

void appendRequestLogLine(QByteArray &line, const RequestLogRecord &record, RequestLogFormat format,
                          LogTime time)
{
    // The longest line these fields can make: every byte escaped (at most 6 bytes each, as
    // \\u00XX or U+FFFD; a 4-byte UTF-8 sequence takes 12), the timestamp, the numbers and the
    // fixed text well within the constant.
    const qsizetype variable = record.client.size() + record.server.size() + record.method.size() +
                               record.url.size() + record.version.size() + record.globalTxn.size() +
                               record.localTxn.size() + record.user.size() + record.token.size() +
                               record.userAgent.size() + record.referer.size();
    const qsizetype start = line.size();
    line.resize(start + 6 * variable + 512); // reuses the capacity of a line buffer kept
    Writer out{line.data() + start};
    switch (format) {
    case RequestLogFormat::Skitai:
        appendSkitai(out, record, time);
        break;
    case RequestLogFormat::Combined:
        appendCombined(out, record, time);
        break;
    case RequestLogFormat::Json:
        appendJson(out, record, time);
        break;
    }
    line.truncate(out.p - line.constData());
}

QByteArray formatRequestLogLine(const RequestLogRecord &record, RequestLogFormat format,
                                LogTime time)
{
    QByteArray line;
    line.reserve(256);
    appendRequestLogLine(line, record, format, time);
    return line;
}

QByteArray formatLogTimestamp(qint64 msecs, LogTime time)
{
    char text[64];
    Writer out{text};
    appendStamp(out, msecs, Stamp::Skitai, time);
    return QByteArray(text, out.p - text);
}

} // namespace Berth::Log
