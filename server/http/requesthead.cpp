#include "requesthead.h"

#include "bytescan.h"

#include <array>
#include <cstring>

namespace Berth::Http {

namespace CharClass {

namespace {

constexpr bool inSet(const char *set, int c)
{
    for (; *set; ++set) {
        if (static_cast<uchar>(*set) == c)
            return true;
    }
    return false;
}

constexpr std::array<quint8, 256> makeTable()
{
    std::array<quint8, 256> t{};
    for (int c = 0; c < 256; ++c) {
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        const bool digit = c >= '0' && c <= '9';
        const bool vchar = c >= 0x21 && c <= 0x7e;
        quint8 v = 0;
        if (alpha || digit || inSet("!#$%&'*+-.^_`|~", c))
            v |= Token;
        if (vchar || c == ' ' || c == '\t' || c >= 0x80)
            v |= FieldValue;
        // Bytes >= 0x80 are not allowed in a request-target at all (RFC 3986 needs them
        // percent-encoded); '#' starts a fragment, which a client must never send.
        if (vchar && c != '#')
            v |= Target;
        if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
            v |= HexDigit;
        if (digit)
            v |= Digit;
        if (alpha || digit || inSet("-._~!$&'()*+,;=", c))
            v |= RegName;
        if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
            (c >= 0x5d && c <= 0x7e) || c >= 0x80)
            v |= QuotedText;
        t[c] = v;
    }
    return t;
}

} // namespace

// Computed at compile time; the header's extern declaration gives it external linkage.
constexpr std::array<quint8, 256> table = makeTable();

} // namespace CharClass

namespace {

bool isOws(char c)
{
    return c == ' ' || c == '\t';
}

// dec-octet "." dec-octet "." dec-octet "." dec-octet, without leading zeros (RFC 3986 §3.2.2).
bool isValidIpv4(QByteArrayView s)
{
    int octets = 0;
    qsizetype i = 0;
    const qsizetype n = s.size();
    while (true) {
        const qsizetype start = i;
        int value = 0;
        while (i < n && i - start < 4 && CharClass::is(s[i], CharClass::Digit))
            value = value * 10 + (s[i++] - '0');
        const qsizetype len = i - start;
        if (len == 0 || len > 3 || value > 255 || (len > 1 && s[start] == '0'))
            return false;
        if (++octets == 4)
            return i == n;
        if (i == n || s[i] != '.')
            return false;
        ++i;
    }
}

// RFC 3986 §3.2.2 IPv6address: eight h16 groups, or fewer with exactly one "::"; the last
// 32 bits may be written as an IPv4 address. Not inlined: it would weigh on every Host check.
[[gnu::noinline]] bool isValidIpv6(QByteArrayView s)
{
    const qsizetype n = s.size();
    qsizetype i = 0;
    int groups = 0;
    bool compressed = false;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        i = 2;
    } else if (n == 0 || s[0] == ':') {
        return false;
    }
    while (i < n) {
        const qsizetype start = i;
        while (i < n && i - start < 5 && CharClass::is(s[i], CharClass::HexDigit))
            ++i;
        if (i < n && s[i] == '.') {
            if (!isValidIpv4(s.sliced(start)))
                return false;
            groups += 2;
            break;
        }
        const qsizetype len = i - start;
        if (len == 0 || len > 4)
            return false;
        ++groups;
        if (i == n)
            break;
        if (s[i] != ':')
            return false;
        ++i;
        if (i < n && s[i] == ':') {
            if (compressed)
                return false;
            compressed = true;
            ++i;
        } else if (i == n) {
            return false; // a single trailing ':'
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

} // namespace

bool equalsIgnoreCase(QByteArrayView a, QByteArrayView b)
{
    return a.size() == b.size() && ByteScan::sameBytesIgnoreCase(a.data(), b.data(), a.size());
}

bool listContainsToken(QByteArrayView value, QByteArrayView token)
{
    qsizetype i = 0;
    const qsizetype n = value.size();
    while (i <= n) {
        const char *comma =
            static_cast<const char *>(i < n ? std::memchr(value.data() + i, ',', n - i) : nullptr);
        qsizetype end = comma ? comma - value.data() : n;
        qsizetype start = i;
        while (start < end && isOws(value[start]))
            ++start;
        qsizetype last = end;
        while (last > start && isOws(value[last - 1]))
            --last;
        if (equalsIgnoreCase(value.sliced(start, last - start), token))
            return true;
        i = end + 1;
    }
    return false;
}

bool isToken(QByteArrayView value)
{
    if (value.isEmpty())
        return false;
    for (char c : value) {
        if (!CharClass::is(c, CharClass::Token))
            return false;
    }
    return true;
}

bool isValidHostPort(QByteArrayView value, bool allowEmptyHost, bool requirePort)
{
    const qsizetype n = value.size();
    qsizetype i = 0;
    if (n > 0 && value[0] == '[') {
        const char *close = static_cast<const char *>(std::memchr(value.data(), ']', n));
        if (!close)
            return false;
        i = close - value.data() + 1;
        // IPvFuture ("[v1.x]") is syntactically allowed by RFC 3986 but names nothing Berth
        // can serve; rejecting it keeps the accepted set small.
        if (!isValidIpv6(value.sliced(1, i - 2)))
            return false;
    } else {
        // reg-name bytes (neither ':' nor '%' is one) in a tight loop; pct-encoded between runs.
        // Eight at a time first while they are the usual ones (every request has a Host).
        const char *s = value.data();
#if Q_BYTE_ORDER == Q_LITTLE_ENDIAN
        while (n - i >= 8 && !ByteScan::unusualHostBytes(ByteScan::load64(s + i)))
            i += 8;
#endif
        for (;;) {
            while (i < n && CharClass::is(s[i], CharClass::RegName))
                ++i;
            if (i == n || s[i] != '%')
                break;
            if (i + 2 >= n || !CharClass::is(s[i + 1], CharClass::HexDigit) ||
                !CharClass::is(s[i + 2], CharClass::HexDigit))
                return false;
            i += 3;
        }
        if (i < n && s[i] != ':')
            return false;
        if (i == 0 && !allowEmptyHost)
            return false;
    }
    if (i == n)
        return !requirePort;
    if (value[i] != ':')
        return false;
    // port = *DIGIT; an empty port is allowed by RFC 3986 unless one is required. More than
    // 5 digits or a value above 65535 cannot be a TCP port.
    ++i;
    if (n - i > 5 || (requirePort && i == n))
        return false;
    int port = 0;
    for (; i < n; ++i) {
        const unsigned digit = uchar(value[i]) - unsigned('0');
        if (digit > 9)
            return false;
        port = port * 10 + int(digit);
    }
    return port <= 65535;
}

QByteArrayView RequestHead::field(QByteArrayView name) const
{
    // Most fields differ from the name in length: only those of its length are compared.
    const qsizetype n = name.size();
    for (const HeaderField &f : fields) {
        if (f.name.size() == n && ByteScan::sameBytesIgnoreCase(f.name.data(), name.data(), n))
            return f.value;
    }
    return {};
}

int RequestHead::fieldCount(QByteArrayView name) const
{
    const qsizetype n = name.size();
    int count = 0;
    for (const HeaderField &f : fields) {
        if (f.name.size() == n && ByteScan::sameBytesIgnoreCase(f.name.data(), name.data(), n))
            ++count;
    }
    return count;
}

} // namespace Berth::Http
