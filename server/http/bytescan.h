#pragma once

#include <QtGlobal>

#include <bit>
#include <cstddef>
#include <cstring>
#include <limits>

// Word-at-a-time byte helpers for the per-request hot path (head parsing, field lookups,
// routing): a byte loop costs ~5 instructions a byte and a libc memcmp/memchr call ~20 before
// it compares anything, against a few hundred bytes of head per request. Everything here is
// inline and reads only the bytes it is given.
namespace Berth::Http::ByteScan {

inline quint64 load64(const char *p)
{
    quint64 v;
    std::memcpy(&v, p, 8);
    return v;
}

inline quint32 load32(const char *p)
{
    quint32 v;
    std::memcpy(&v, p, 4);
    return v;
}

inline quint16 load16(const char *p)
{
    quint16 v;
    std::memcpy(&v, p, 2);
    return v;
}

constexpr quint64 kOnes = 0x0101010101010101ULL;
constexpr quint64 kHigh = 0x8080808080808080ULL;

// The high bit of each byte of w that is below n (n <= 0x80). Exact up to and including the
// lowest flagged byte (a borrow out of a flagged byte may flag the bytes above it), which is
// all the scanners below use: they stop at the lowest one.
constexpr quint64 bytesBelow(quint64 w, quint8 n)
{
    return (w - kOnes * n) & ~w & kHigh;
}
constexpr quint64 bytesEqual(quint64 w, quint8 c)
{
    return bytesBelow(w ^ (kOnes * c), 1);
}

// The high bit of each byte of w equal to c, exact for every byte (slower than bytesEqual).
constexpr quint64 bytesEqualExact(quint64 w, quint8 c)
{
    const quint64 x = w ^ (kOnes * c);
    return ~(((x & ~kHigh) + ~kHigh) | x) & kHigh;
}

// Eight bytes with every ASCII upper-case letter lowered (other bytes unchanged).
constexpr quint64 lowerAscii(quint64 w)
{
    const quint64 low7 = w & ~kHigh; // adding to 7-bit bytes never carries into the next byte
    const quint64 atLeastA = low7 + kOnes * (0x80 - 'A');
    const quint64 aboveZ = low7 + kOnes * (0x80 - 'Z' - 1);
    const quint64 upper = (atLeastA ^ aboveZ) & ~w & kHigh;
    return w | (upper >> 2); // 0x80 >> 2 == 0x20, the case bit
}

// The high bit of each byte of w in [lo, hi] (hi < 0x80). Exact for every byte: 7-bit sums
// never carry into the next byte.
constexpr quint64 bytesInRange(quint64 w, quint8 lo, quint8 hi)
{
    const quint64 low7 = w & ~kHigh;
    const quint64 atLeastLo = low7 + kOnes * (0x80 - lo);
    const quint64 aboveHi = low7 + kOnes * (0x80 - hi - 1);
    return atLeastLo & ~aboveHi & ~w & kHigh;
}

// Non-zero unless all eight bytes are lower-case letters, digits, '-' or '.': the bytes of
// nearly every host name and IPv4 address (a subset of reg-name).
constexpr quint64 unusualHostBytes(quint64 w)
{
    const quint64 usual =
        bytesInRange(w, 'a', 'z') | bytesInRange(w, '0', '9') | bytesInRange(w, '-', '.');
    return ~usual & kHigh;
}

// Byte offsets of the lowest flagged byte of a non-zero mask (little-endian: the first byte).
inline int firstFlagged(quint64 mask)
{
    return std::countr_zero(mask) / 8;
}

// True if n bytes at a and b are equal. For the short keys of routing and lookups.
inline bool sameBytes(const char *a, const char *b, qsizetype n)
{
    if (n >= 8) {
        for (qsizetype i = 0; i + 8 < n; i += 8) {
            if (load64(a + i) != load64(b + i))
                return false;
        }
        return load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4)
        return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
    for (qsizetype i = 0; i < n; ++i) {
        if (a[i] != b[i])
            return false;
    }
    return true;
}

// True if the n bytes at a and b are equal ignoring ASCII case (any bytes).
inline bool sameBytesIgnoreCase(const char *a, const char *b, qsizetype n)
{
    const auto same = [](quint64 x, quint64 y) { return x == y || lowerAscii(x) == lowerAscii(y); };
    if (n >= 8) {
        for (qsizetype i = 0; i + 8 < n; i += 8) {
            if (!same(load64(a + i), load64(b + i)))
                return false;
        }
        return same(load64(a + n - 8), load64(b + n - 8));
    }
    if (n >= 4) {
        // Both (overlapping) halves in one word.
        const quint64 x = load32(a) | (quint64(load32(a + n - 4)) << 32);
        const quint64 y = load32(b) | (quint64(load32(b + n - 4)) << 32);
        return same(x, y);
    }
    if (n == 0)
        return true;
    // 1 to 3 bytes: the first, the middle and the last (some the same byte).
    const quint64 x =
        quint64(uchar(a[0])) | quint64(uchar(a[n / 2])) << 8 | quint64(uchar(a[n - 1])) << 16;
    const quint64 y =
        quint64(uchar(b[0])) | quint64(uchar(b[n / 2])) << 8 | quint64(uchar(b[n - 1])) << 16;
    return same(x, y);
}

// True if the N-1 bytes at p, which must all be tchar (a validated field name or token), equal
// the lower-case constant `lower` ignoring case. `lower` may hold only lower-case letters,
// digits and '-': OR-ing the case bit 0x20 into a byte then maps exactly the two cases of a
// letter onto the constant, and the only other byte it maps onto a digit or '-' is a control
// byte, which is never a tchar. One or two word compares against constants, no loop.
template <size_t N> inline bool tokenIs(const char *p, const char (&lower)[N])
{
    constexpr qsizetype n = N - 1;
    static_assert(n >= 1);
    if constexpr (n >= 8) {
        for (qsizetype i = 0; i + 8 < n; i += 8) {
            if ((load64(p + i) | 0x2020202020202020ULL) != load64(lower + i))
                return false;
        }
        return (load64(p + n - 8) | 0x2020202020202020ULL) == load64(lower + n - 8);
    } else if constexpr (n >= 4) {
        return (load32(p) | 0x20202020U) == load32(lower) &&
               (load32(p + n - 4) | 0x20202020U) == load32(lower + n - 4);
    } else if constexpr (n >= 2) {
        return quint16(load16(p) | 0x2020U) == load16(lower) &&
               quint16(load16(p + n - 2) | 0x2020U) == load16(lower + n - 2);
    } else {
        return (p[0] | 0x20) == lower[0];
    }
}

// a + b, or the largest qsizetype where that would overflow; a negative b adds nothing (a limit
// that is off).
constexpr qsizetype addClamped(qsizetype a, qsizetype b)
{
    if (b < 0)
        return a;
    return b > std::numeric_limits<qsizetype>::max() - a ? std::numeric_limits<qsizetype>::max()
                                                         : a + b;
}

constexpr bool isDigit(char c)
{
    return c >= '0' && c <= '9';
}

} // namespace Berth::Http::ByteScan
