#include "pathnormalizer.h"

#include "bytescan.h"
#include "formencoding.h"

#include <array>
#include <cstring>

// Most paths need no change at all ("/index.html"): one scan says so and the raw path is the
// result. Otherwise two passes over one buffer: percent-decode everything (so "%2e%2e" and "%2F"
// are seen for what they are), then resolve dot segments in place (RFC 3986 §5.2.4) while merging
// empty segments. Decoding happens exactly once: "%252e" becomes the literal name "%2e", never ".",
// and nothing downstream may decode again. The result names a file under the root or the
// request is refused; there is no "clamp at root" guessing (nginx and Envoy refuse too).

namespace Berth::Http {

namespace {

constexpr bool isControl(uchar c)
{
    return c < 0x20 || c == 0x7f;
}

// Bytes that may make the normalised path differ from the raw one: an escape, a control byte
// (refused) and '/' (the segment after it may be empty, "." or "..").
constexpr std::array<bool, 256> makeNotPlain()
{
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c)
        t[c] = c == '%' || c == '/' || isControl(uchar(c));
    return t;
}
constexpr std::array<bool, 256> kNotPlain = makeNotPlain();

// True if normalizing changes nothing: no escape, no control byte, no empty segment but a final
// one ("/a/" names a directory and stays), no segment starting with '.' (".hidden" would stay,
// but telling it from "." and ".." is the slow path's business).
bool isPlainBytes(const char *p, qsizetype n)
{
    for (qsizetype i = 0; i < n; ++i) {
        const uchar c = uchar(p[i]);
        if (!kNotPlain[c])
            continue;
        if (c != '/' || (i + 1 < n && (p[i + 1] == '/' || p[i + 1] == '.')))
            return false;
    }
    return true;
}

#if Q_BYTE_ORDER == Q_LITTLE_ENDIAN
// The same test on eight bytes: non-zero if they may hold an escape, a control byte, or a '/'
// followed by '/' or '.'. It may flag bytes that are fine (the slow path then decides), never
// miss one.
constexpr quint64 notPlainWord(quint64 w)
{
    using namespace ByteScan;
    const quint64 slash = bytesEqual(w, '/');
    const quint64 slashOrDot = slash | bytesEqual(w, '.');
    return bytesEqual(w, '%') | bytesBelow(w, 0x20) | bytesEqual(w, 0x7f) |
           (slash & (slashOrDot >> 8));
}
#endif

bool isPlain(const char *p, qsizetype n)
{
#if Q_BYTE_ORDER == Q_LITTLE_ENDIAN
    using ByteScan::load32;
    using ByteScan::load64;
    // Words overlapping by at least one byte, so that every pair of neighbours lies in one.
    if (n >= 8) {
        for (qsizetype i = 0; i + 8 < n; i += 7) {
            if (notPlainWord(load64(p + i)))
                return false;
        }
        return !notPlainWord(load64(p + n - 8));
    }
    if (n >= 4) // both halves in one word; the pair at the seam may only flag in vain
        return !notPlainWord(load32(p) | quint64(load32(p + n - 4)) << 32);
#endif
    return isPlainBytes(p, n);
}

} // namespace

bool normalizePath(QByteArrayView rawPath, QByteArray &out)
{
    const qsizetype n = rawPath.size();
    if (n == 0 || rawPath[0] != '/') {
        out.resize(0);
        return false;
    }
    if (isPlain(rawPath.data(), n)) {
        // The result is the raw path. A keep-alive client asks for the same one again and
        // again: then `out` already holds it, and nothing is written.
        if (out.size() != n || !ByteScan::sameBytes(out.constData(), rawPath.data(), n)) {
            out.resize(n);
            std::memcpy(out.data(), rawPath.data(), size_t(n));
        }
        return true;
    }
    out.resize(0);

    // Pass 1: decode. The decoded path is never longer than the raw one; one spare byte lets
    // pass 2 write a separator after the last segment.
    out.resize(n + 1);
    char *d = out.data();
    qsizetype len = 0;
    for (qsizetype i = 0; i < n; ++i) {
        uchar c = static_cast<uchar>(rawPath[i]);
        if (c == '%') {
            const int hi = i + 2 < n ? hexDigitValue(rawPath[i + 1]) : -1;
            const int lo = hi >= 0 ? hexDigitValue(rawPath[i + 2]) : -1;
            if (lo < 0) {
                out.resize(0);
                return false; // "%", "%2", "%zz": not a URI (RFC 3986 §2.1)
            }
            c = static_cast<uchar>(hi * 16 + lo);
            i += 2;
        }
        // A control byte (NUL above all) has no business in a file name: "/a%00.html" would
        // be truncated by any C API below us.
        if (isControl(c)) {
            out.resize(0);
            return false;
        }
        d[len++] = static_cast<char>(c);
    }

    // Pass 2: the output is "/" followed by "segment/" for each kept segment, written over the
    // decoded bytes; the write position never passes the read position.
    qsizetype w = 1;
    qsizetype r = 1;
    bool endsAsDirectory = true; // "/", "/a/", "/a/." and "/a/.." all name a directory
    while (r <= len) {
        const char *slash = static_cast<const char *>(std::memchr(d + r, '/', len - r));
        const qsizetype e = slash ? slash - d : len;
        const qsizetype segSize = e - r;
        const bool last = e == len;
        if (segSize == 0 || (segSize == 1 && d[r] == '.')) {
            // "//" merges; "." is the current directory.
            if (last)
                endsAsDirectory = true;
        } else if (segSize == 2 && d[r] == '.' && d[r + 1] == '.') {
            if (w == 1) {
                out.resize(0);
                return false; // climbs above the root
            }
            // Drop the previous segment: back up to the '/' before it.
            qsizetype k = w - 1;
            while (k > 0 && d[k - 1] != '/')
                --k;
            w = k;
            if (last)
                endsAsDirectory = true;
        } else {
            std::memmove(d + w, d + r, segSize);
            w += segSize;
            d[w++] = '/';
            if (last)
                endsAsDirectory = false;
        }
        r = e + 1;
    }
    if (!endsAsDirectory && w > 1)
        --w; // the last segment named a file: drop the separator pass 2 appended
    out.resize(w);
    return true;
}

} // namespace Berth::Http
