#include "response.h"

#include "requesthead.h"

#include <cstring>

namespace Berth::Http {

namespace {

Q_ALWAYS_INLINE quint64 load64(const char *p)
{
    quint64 word;
    std::memcpy(&word, p, sizeof(word));
    return word;
}

// Equal to a string literal of the same length: a few word compares the compiler unrolls (no
// memcmp call; this runs for every field an app sets).
template <size_t N> Q_ALWAYS_INLINE bool sameAs(const char *p, const char (&literal)[N])
{
    constexpr size_t n = N - 1;
    quint64 diff = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        diff |= load64(p + i) ^ load64(literal + i);
    if constexpr (n % 8 != 0) {
        if constexpr (n >= 8) {
            diff |= load64(p + n - 8) ^ load64(literal + n - 8);
        } else {
            for (; i < n; ++i)
                diff |= quint8(p[i] ^ literal[i]);
        }
    }
    return diff == 0;
}

// The literal as a QByteArray over its static bytes: copies share them, nothing is allocated.
template <size_t N>
Q_ALWAYS_INLINE bool take(const char *p, const char (&literal)[N], QByteArray &out)
{
    if (!sameAs(p, literal))
        return false;
    out = QByteArray(QByteArrayData(nullptr, const_cast<char *>(literal), N - 1));
    return true;
}

// Header names and values most responses carry (case-sensitive: the app's spelling is what goes
// out). Found by length first, so a miss costs a switch. None of them is a framing field or
// holds CR, LF or NUL: a field made of them needs no check when it is written.
Q_ALWAYS_INLINE bool interned(QByteArrayView text, QByteArray &out)
{
    const char *p = text.data();
    switch (text.size()) {
    case 4:
        return take(p, "ETag", out) || take(p, "Vary", out);
    case 5:
        return take(p, "bytes", out);
    case 8:
        return take(p, "Location", out) || take(p, "no-store", out) || take(p, "no-cache", out);
    case 12:
        return take(p, "Content-Type", out);
    case 13:
        return take(p, "Cache-Control", out) || take(p, "Last-Modified", out) ||
               take(p, "Accept-Ranges", out);
    case 15:
        return take(p, "Accept-Encoding", out);
    case 16:
        return take(p, "Content-Encoding", out) || take(p, "application/json", out);
    case 24:
        return take(p, "text/html; charset=utf-8", out) || take(p, "application/octet-stream", out);
    case 25:
        return take(p, "text/plain; charset=utf-8", out);
    default:
        return false;
    }
}

// Fills a new field's name: interned, or a copy. True when it is known to go out as is.
Q_ALWAYS_INLINE bool keepName(QByteArrayView name, QByteArray &out)
{
    if (interned(name, out))
        return true;
    out = name.toByteArray();
    return !isFramingFieldName(name) && isSafeFieldText(name);
}

bool sameName(const QByteArray &a, QByteArrayView b)
{
    return a.size() == b.size() && equalsIgnoreCase(a, b);
}

} // namespace

// Inlined into setHeader and addHeader: one call per field set, not two.
Q_ALWAYS_INLINE void Response::add(QByteArrayView name, QByteArrayView value)
{
    auto &field = m_headers.emplace_back(); // built in place: no moves of the two arrays
    bool clean = keepName(name, field.first);
    if (!interned(value, field.second)) {
        field.second = value.toByteArray();
        clean = clean && isSafeFieldText(value);
    }
    m_fieldBytes += name.size() + value.size();
    m_mayNeedFiltering = m_mayNeedFiltering || !clean;
}

void Response::setHeader(QByteArrayView name, QByteArrayView value)
{
    removeHeader(name);
    add(name, value);
}

void Response::addHeader(QByteArrayView name, QByteArrayView value)
{
    add(name, value);
}

void Response::addSharedHeader(QByteArrayView name, const QByteArray &value)
{
    auto &field = m_headers.emplace_back();
    const bool clean = keepName(name, field.first) && isSafeFieldText(value);
    field.second = value;
    m_fieldBytes += name.size() + value.size();
    m_mayNeedFiltering = m_mayNeedFiltering || !clean;
}

void Response::setSharedHeader(QByteArrayView name, const QByteArray &value)
{
    removeHeader(name);
    addSharedHeader(name, value);
}

void Response::removeMatching(QByteArrayView name)
{
    // Order-keeping compaction (as erase_if), keeping the byte count right.
    auto kept = m_headers.begin();
    for (auto it = m_headers.begin(); it != m_headers.end(); ++it) {
        if (sameName(it->first, name)) {
            m_fieldBytes -= it->first.size() + it->second.size();
            continue;
        }
        if (kept != it)
            *kept = std::move(*it);
        ++kept;
    }
    m_headers.erase(kept, m_headers.end());
}

QByteArrayView Response::header(QByteArrayView name) const
{
    for (const auto &h : m_headers) {
        if (sameName(h.first, name))
            return h.second;
    }
    return {};
}

void Response::clear()
{
    status = 200;
    m_headers.clear();
    m_fieldBytes = 0;
    m_mayNeedFiltering = false;
}

bool isFramingFieldName(QByteArrayView name)
{
    switch (name.size()) {
    case 4:
        return equalsIgnoreCase(name, "date");
    case 6:
        return equalsIgnoreCase(name, "server");
    case 10:
        return equalsIgnoreCase(name, "connection");
    case 14:
        return equalsIgnoreCase(name, "content-length");
    case 17:
        return equalsIgnoreCase(name, "transfer-encoding");
    default:
        return false;
    }
}

bool isSafeFieldText(QByteArrayView text)
{
    // CR (13), LF (10) and NUL are all below 14, and most text has no byte that low: eight bytes
    // at a time tell that ("has a byte less than n", exact for n <= 128). Only from the first
    // word that has one is each byte looked at.
    constexpr quint64 Ones = 0x0101010101010101ULL;
    constexpr quint64 Highs = 0x8080808080808080ULL;
    const char *p = text.data();
    const qsizetype n = text.size();
    qsizetype i = 0;
    for (; i + 8 <= n; i += 8) {
        const quint64 word = load64(p + i);
        if ((word - Ones * 14) & ~word & Highs)
            break;
    }
    for (; i < n; ++i) {
        const char c = p[i];
        if (c == '\r' || c == '\n' || c == '\0')
            return false;
    }
    return true;
}

QByteArrayView reasonPhrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

} // namespace Berth::Http
