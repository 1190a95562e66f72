#include "requestlogline.h"

#include "logsink.h"

#include <QDateTime>

#include <array>
#include <charconv>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace Berth::Log {

namespace {

// Writes into memory the caller has sized for the worst case (see maxRequestLogLineBytes()): no
// capacity check and no QByteArray call per field, which is where the line's time went. A format
// keeps its Writer local and passes it only to inline helpers (anything out of line takes and
// returns the bare pointer): a char store may alias any memory, so a Writer whose address
// escapes would be reloaded and stored back around every byte written.
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
    // A literal's length is known here: the copy is a few moves, not a memcpy call.
    template <size_t N> Writer &operator+=(const char (&literal)[N])
    {
        std::memcpy(p, literal, N - 1);
        p += N - 1;
        return *this;
    }
};

// The fixed text a line holds besides its fields (separators, quotes, the timestamp, numbers of
// at most 20 digits each, JSON's names) is well within this; every field byte may take 6 bytes.
constexpr qsizetype FixedBytes = 512;
constexpr qsizetype BytesPerFieldByte = 6;

// Timestamps are formatted once per second per thread and style; only milliseconds are added
// per line. Kept in fixed arrays copied whole (the writer has room to spare): a line copies
// its timestamp with a few moves instead of a memcpy call.
enum class Stamp { Skitai, Combined, Iso };
constexpr int StampBytes = 48; // the longest, Combined's "[21/Nov/2026:20:05:06 +0100]", is 28
constexpr int OffsetBytes = 8; // "+01:00" or "Z"

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

struct StampCache
{
    qint64 second = -1;
    LogTime time = LogTime::Local;
    int size = 0;
    int offsetSize = 0;
    char text[StampBytes] = {};
    char offset[OffsetBytes] = {}; // Iso: "+01:00", or "Z" in utc
};

// Fills the cache for another second (once a second: not on the per-line path).
Q_DECL_COLD_FUNCTION void refillStamp(StampCache &c, qint64 second, Stamp stamp, LogTime time)
{
    const QByteArray text = makeStamp(second, stamp, time);
    const QByteArray offset = time == LogTime::Utc
                                  ? QByteArray("Z")
                                  : offsetText(QDateTime::fromSecsSinceEpoch(second), true);
    c.second = second;
    c.time = time;
    // A year beyond 9999 (or a zone name nobody uses) cannot overflow the arrays: cut, not
    // written past (the stamp stays two fields).
    c.size = int(qMin<qsizetype>(text.size(), StampBytes));
    c.offsetSize = int(qMin<qsizetype>(offset.size(), OffsetBytes));
    std::memset(c.text, ' ', sizeof(c.text));
    std::memcpy(c.text, text.constData(), size_t(c.size));
    std::memcpy(c.offset, offset.constData(), size_t(c.offsetSize));
}

Q_ALWAYS_INLINE void appendStamp(Writer &line, qint64 msecs, Stamp stamp, LogTime time)
{
    thread_local StampCache caches[3];
    StampCache &c = caches[int(stamp)];
    const qint64 second = msecs >= 0 ? msecs / 1000 : (msecs - 999) / 1000;
    if (Q_UNLIKELY(second != c.second || time != c.time))
        refillStamp(c, second, stamp, time);
    std::memcpy(line.p, c.text, StampBytes); // whole: the bytes past c.size are overwritten
    line.p += c.size;
    if (stamp == Stamp::Combined || (stamp == Stamp::Skitai && time == LogTime::Local))
        return;
    const int millis = int(msecs - second * 1000);
    line.p[0] = '.';
    line.p[1] = char('0' + millis / 100);
    line.p[2] = char('0' + millis / 10 % 10);
    line.p[3] = char('0' + millis % 10);
    line.p += 4;
    std::memcpy(line.p, c.offset, OffsetBytes);
    line.p += c.offsetSize;
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

template <typename T> T load(const char *p)
{
    T value;
    std::memcpy(&value, p, sizeof(value));
    return value;
}
template <typename T> void store(char *p, T value)
{
    std::memcpy(p, &value, sizeof(value));
}

// The 1 to 7 bytes of a short value as one word, padded with a plain byte ('a'), copied to out
// on the way: two overlapping 4-byte loads, or the first, middle and last byte. Never a byte
// outside the value.
inline quint64 shortWord(char *out, const char *in, qsizetype n)
{
    constexpr quint64 Padding = 0x6161616161616161ull;
    if (n >= 4) {
        const auto head = load<quint32>(in);
        const auto tail = load<quint32>(in + n - 4);
        store(out, head);
        store(out + n - 4, tail);
        return head | quint64(tail) << 32; // the bytes twice over, in some order: all we need
    }
    if (n == 0)
        return Padding;
    const auto a = static_cast<unsigned char>(in[0]);
    const auto b = static_cast<unsigned char>(in[n / 2]);
    const auto c = static_cast<unsigned char>(in[n - 1]);
    out[0] = char(a);
    out[n / 2] = char(b);
    out[n - 1] = char(c);
    return a | quint64(b) << 8 | quint64(c) << 16 | Padding << 24;
}

#if defined(__SSE2__)
// Sixteen bytes per step (SSE2 is part of x86-64): whether every byte of v is plain
// (isPlainByte()), as a mask of 0xff bytes. Signed bytes: 0x80-0xff are negative, so one
// "greater than" excludes them with the control bytes.
template <bool SpaceAllowed> Q_ALWAYS_INLINE __m128i plainBytes(__m128i v)
{
    const __m128i printable =
        _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(SpaceAllowed ? 0x1f : 0x20)),
                      _mm_cmplt_epi8(v, _mm_set1_epi8(0x7f)));
    const __m128i special =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    return _mm_andnot_si128(special, printable);
}

// Copies value to out and says whether every byte of it is plain: whole vectors and words only,
// however short the value (overlapping loads and stores, never a byte outside the value). The
// fields are short and mostly clean: a per-byte loop, or a memcpy call per field, was most of
// the line's cost.
template <bool SpaceAllowed> Q_ALWAYS_INLINE bool copyIfPlain(char *out, QByteArrayView value)
{
    const char *in = value.data();
    const qsizetype n = value.size();
    if (n >= 16) {
        __m128i plain = _mm_set1_epi8(-1);
        for (qsizetype i = 0; i < n - 16; i += 16) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(in + i));
            plain = _mm_and_si128(plain, plainBytes<SpaceAllowed>(v));
            _mm_storeu_si128(reinterpret_cast<__m128i *>(out + i), v);
        }
        const __m128i last = _mm_loadu_si128(reinterpret_cast<const __m128i *>(in + n - 16));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(out + n - 16), last);
        plain = _mm_and_si128(plain, plainBytes<SpaceAllowed>(last));
        return _mm_movemask_epi8(plain) == 0xffff;
    }
    __m128i v;
    if (n >= 8) {
        const __m128i head = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(in));
        const __m128i tail = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(in + n - 8));
        _mm_storel_epi64(reinterpret_cast<__m128i *>(out), head);
        _mm_storel_epi64(reinterpret_cast<__m128i *>(out + n - 8), tail);
        v = _mm_unpacklo_epi64(head, tail);
    } else {
        v = _mm_set1_epi64x(qint64(shortWord(out, in, n)));
    }
    return _mm_movemask_epi8(plainBytes<SpaceAllowed>(v)) == 0xffff;
}
#else
// Bit tricks over eight bytes at once (Hacker's Delight / "Bit Twiddling Hacks"): the high bit
// of some byte of the result is set exactly when some byte of x is not plain (isPlainByte()).
// A borrow or carry only starts at a byte that is not plain, so it may mark a neighbour too, but
// never makes a clean word look dirty. Only the high bits count: the caller ORs the results of
// a whole value and masks them once.
constexpr quint64 Ones = 0x0101010101010101ull;
constexpr quint64 Highs = 0x8080808080808080ull;
template <bool SpaceAllowed> constexpr quint64 notPlainBits(quint64 x)
{
    constexpr quint64 Below = Ones * (SpaceAllowed ? 0x20 : 0x21); // control bytes (and space)
    constexpr quint64 AboveTilde = Ones * (0x7f - 0x7e);           // DEL; x's own bit: >= 0x80
    const quint64 quote = x ^ (Ones * '"');                        // zero where x has '"'
    const quint64 backslash = x ^ (Ones * '\\');
    return ((x - Below) & ~x) | (x + AboveTilde) | x | ((quote - Ones) & ~quote) |
           ((backslash - Ones) & ~backslash);
}

// Copies value to out and says whether every byte of it is plain, eight bytes per step (see the
// SSE2 version above).
template <bool SpaceAllowed> Q_ALWAYS_INLINE bool copyIfPlain(char *out, QByteArrayView value)
{
    const char *in = value.data();
    const qsizetype n = value.size();
    quint64 bits = 0;
    if (n >= 8) {
        for (qsizetype i = 0; i < n - 8; i += 8) {
            const auto word = load<quint64>(in + i);
            bits |= notPlainBits<SpaceAllowed>(word);
            store(out + i, word);
        }
        const auto last = load<quint64>(in + n - 8); // overlaps the previous word
        bits |= notPlainBits<SpaceAllowed>(last);
        store(out + n - 8, last);
    } else {
        bits = notPlainBits<SpaceAllowed>(shortWord(out, in, n));
    }
    return (bits & Highs) == 0;
}
#endif

// A value with something to escape (rare: hostile or non-ASCII input), one byte at a time.
Q_DECL_COLD_FUNCTION char *appendEscapedSlow(char *p, QByteArrayView value, bool spaceAllowed)
{
    static constexpr char Hex[] = "0123456789ABCDEF";
    for (const char c : value) {
        if (isPlainByte(c, spaceAllowed)) {
            *p++ = c;
            continue;
        }
        const auto u = static_cast<unsigned char>(c);
        p[0] = '\\';
        p[1] = 'x';
        p[2] = Hex[u >> 4];
        p[3] = Hex[u & 0xf];
        p += 4;
    }
    return p;
}

template <bool SpaceAllowed> Q_ALWAYS_INLINE void appendEscaped(Writer &line, QByteArrayView value)
{
    if (Q_LIKELY(copyIfPlain<SpaceAllowed>(line.p, value))) {
        line.p += value.size();
        return;
    }
    line.p = appendEscapedSlow(line.p, value, SpaceAllowed); // writes over the copy
}

// "00" "01" ... "99": two digits per step.
constexpr auto DigitPairs = [] {
    std::array<char, 200> pairs{};
    for (int i = 0; i < 100; ++i) {
        pairs[size_t(2 * i)] = char('0' + i / 10);
        pairs[size_t(2 * i + 1)] = char('0' + i % 10);
    }
    return pairs;
}();

inline void appendTwoDigits(char *p, unsigned v) // v < 100
{
    std::memcpy(p, DigitPairs.data() + 2 * v, 2);
}

Q_ALWAYS_INLINE void appendNumber(Writer &line, qint64 value)
{
    // Statuses, small sizes, milliseconds: most numbers of a line, written in place.
    if (value >= 0 && value < 10000) {
        const auto v = unsigned(value);
        char *p = line.p;
        if (v < 10) {
            p[0] = char('0' + v);
            line.p += 1;
        } else if (v < 100) {
            appendTwoDigits(p, v);
            line.p += 2;
        } else if (v < 1000) {
            p[0] = char('0' + v / 100);
            appendTwoDigits(p + 1, v % 100);
            line.p += 3;
        } else {
            appendTwoDigits(p, v / 100);
            appendTwoDigits(p + 2, v % 100);
            line.p += 4;
        }
        return;
    }
    line.p = std::to_chars(line.p, line.p + 24, value).ptr; // 20 digits and a sign at most
}

Q_ALWAYS_INLINE void appendField(Writer &line, QByteArrayView value)
{
    line += ' ';
    if (value.isEmpty()) {
        line += '-';
        return;
    }
    appendEscaped<false>(line, value); // one field, one token
}

Q_ALWAYS_INLINE void appendQuoted(Writer &line, QByteArrayView value)
{
    line += " \"";
    appendEscaped<true>(line, value);
    line += '"';
}

Q_ALWAYS_INLINE void appendMillis(Writer &line, qint64 micros)
{
    line += ' ';
    appendNumber(line, (micros + 500) / 1000);
    line += "ms";
}

// Combined: "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"".
char *appendCombined(char *out, const RequestLogRecord &r, LogTime time)
{
    Writer line{out};
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
        appendEscaped<false>(line, host);
    line += " -";
    appendField(line, r.user);
    line += ' ';
    appendStamp(line, r.startedAtMsecs, Stamp::Combined, time);
    if (r.method.isEmpty()) {
        line += " \"-\"";
    } else {
        line += " \"";
        appendEscaped<false>(line, r.method);
        line += ' ';
        appendEscaped<false>(line, r.url);
        line += ' ';
        appendEscaped<false>(line, r.version);
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
    return line.p;
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

inline void appendUnicodeEscape(Writer &line, char32_t unit)
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

// A JSON string with something to escape (rare: hostile or non-ASCII input). JSON's plain bytes
// are the quoted fields' (space allowed): printable ASCII but " and \.
Q_DECL_COLD_FUNCTION char *appendJsonEscaped(char *out, QByteArrayView value)
{
    Writer line{out};
    qsizetype start = 0;
    for (;;) {
        qsizetype i = start;
        while (i < value.size() && isPlainByte(value[i], true))
            ++i;
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
    return line.p;
}

// A JSON string. Only printable ASCII stands for itself: a line stays one line for every
// reader (Python's splitlines() breaks at U+2028 and NEL too) and valid UTF-8 whatever the client
// sent.
Q_ALWAYS_INLINE void appendJsonString(Writer &line, QByteArrayView value)
{
    line += '"';
    if (Q_LIKELY(copyIfPlain<true>(line.p, value)))
        line.p += value.size();
    else
        line.p = appendJsonEscaped(line.p, value); // writes over the copy
    line += '"';
}

template <size_t N>
Q_ALWAYS_INLINE void appendJsonField(Writer &line, const char (&name)[N], QByteArrayView value)
{
    line += name;
    if (value.isEmpty())
        line += "null";
    else
        appendJsonString(line, value);
}

template <size_t N>
Q_ALWAYS_INLINE void appendJsonNumber(Writer &line, const char (&name)[N], qint64 value)
{
    line += name;
    appendNumber(line, value);
}

char *appendJson(char *out, const RequestLogRecord &r, LogTime time)
{
    Writer line{out};
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
    return line.p;
}

char *appendSkitai(char *out, const RequestLogRecord &r, LogTime time)
{
    Writer line{out};
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
    return line.p;
}

struct LineJob
{
    const RequestLogRecord *record;
    RequestLogFormat format;
    LogTime time;
};

char *formatLine(char *out, const void *context)
{
    const auto &job = *static_cast<const LineJob *>(context);
    switch (job.format) {
    case RequestLogFormat::Skitai:
        return appendSkitai(out, *job.record, job.time);
    case RequestLogFormat::Combined:
        return appendCombined(out, *job.record, job.time);
    case RequestLogFormat::Json:
        return appendJson(out, *job.record, job.time);
    }
    return out;
}

} // namespace

qsizetype maxRequestLogLineBytes(const RequestLogRecord &record)
{
    // Every byte escaped (at most 6 bytes each, as \u00XX or U+FFFD; a 4-byte UTF-8 sequence
    // takes 12), the timestamp, the numbers and the fixed text well within the constant.
    const qsizetype variable = record.client.size() + record.server.size() + record.method.size() +
                               record.url.size() + record.version.size() + record.globalTxn.size() +
                               record.localTxn.size() + record.user.size() + record.token.size() +
                               record.userAgent.size() + record.referer.size();
    return BytesPerFieldByte * variable + FixedBytes;
}

char *writeRequestLogLine(char *out, const RequestLogRecord &record, RequestLogFormat format,
                          LogTime time)
{
    const LineJob job{&record, format, time};
    return formatLine(out, &job);
}

void appendRequestLogLine(QByteArray &line, const RequestLogRecord &record, RequestLogFormat format,
                          LogTime time)
{
    const qsizetype start = line.size();
    line.resize(start +
                maxRequestLogLineBytes(record)); // reuses the capacity of a line buffer kept
    char *end = writeRequestLogLine(line.data() + start, record, format, time);
    line.truncate(end - line.constData());
}

void appendRequestLogLine(LogSink &sink, const RequestLogRecord &record, RequestLogFormat format,
                          LogTime time)
{
    const LineJob job{&record, format, time};
    sink.appendFormatted(maxRequestLogLineBytes(record), &formatLine, &job);
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
    char text[StampBytes + 16];
    Writer out{text};
    appendStamp(out, msecs, Stamp::Skitai, time);
    return QByteArray(text, out.p - text);
}

} // namespace Berth::Log
