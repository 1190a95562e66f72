#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <array>
#include <vector>

namespace Berth::Http {

// A header field as received: views into the connection's head storage, valid until the
// exchange that owns the head ends. Names keep their case; compare them case-insensitively.
struct HeaderField
{
    QByteArrayView name;
    QByteArrayView value; // leading and trailing whitespace removed
};

// The parsed request line and header section of one request, as every protocol has them.
// Plain data so tests can build one by hand.
struct RequestHead
{
    QByteArrayView method;
    QByteArrayView target;    // as sent: "/a%20b?x=1", "*", "http://host/p"
    QByteArrayView path;      // raw (undecoded) path of target: "/a%20b"; "*" for OPTIONS *
    QByteArrayView query;     // after '?', without it; empty if none
    QByteArrayView authority; // host[:port] of an absolute-form target, else empty
    QByteArrayView protocol;  // HTTP/2 extended CONNECT's ":protocol" (RFC 8441), else empty
    std::vector<HeaderField> fields;

    // Derived by the parser from the fields, the same for every protocol (HTTP/1 framing —
    // chunked coding, keep-alive, 100-continue, the version — stays with the HTTP/1 codec):
    QByteArrayView host;       // absolute-form authority if present, else the Host field
    qint64 contentLength = -1; // -1 when there is no Content-Length
    bool bodyFollows = false;  // a body of unannounced length follows (HTTP/1: chunked)

    bool hasBody() const { return bodyFollows || contentLength > 0; }
    // First field with this name (case-insensitive), or a null view.
    QByteArrayView field(QByteArrayView name) const;
    // How many fields have this name.
    int fieldCount(QByteArrayView name) const;
    // Inline: the parser clears the head of every request.
    void clear()
    {
        method = {};
        target = {};
        path = {};
        query = {};
        authority = {};
        protocol = {};
        fields.clear(); // keeps the capacity for the next request on this connection
        host = {};
        contentLength = -1;
        bodyFollows = false;
    }
};

// Case-insensitive ASCII comparison of two header names or tokens.
bool equalsIgnoreCase(QByteArrayView a, QByteArrayView b);
// v without leading and trailing OWS (SP and HTAB, RFC 9110 §5.6.3).
inline QByteArrayView trimOws(QByteArrayView v)
{
    const char *begin = v.data();
    const char *end = begin + v.size();
    while (begin < end && (*begin == ' ' || *begin == '\t'))
        ++begin;
    while (end > begin && (end[-1] == ' ' || end[-1] == '\t'))
        --end;
    return QByteArrayView(begin, end - begin);
}
// True if the comma-separated list `value` holds `token` (case-insensitive): "keep-alive, Upgrade".
bool listContainsToken(QByteArrayView value, QByteArrayView token);

// Byte classes of the HTTP grammar, shared by the head parser and the chunked decoder.
namespace CharClass {
enum : quint8 {
    Token = 0x01,      // tchar (RFC 9110 §5.6.2)
    FieldValue = 0x02, // field-vchar / SP / HTAB / obs-text (RFC 9110 §5.5)
    Target = 0x04,     // allowed in a request-target: VCHAR except '#' (RFC 9112 §3.2)
    HexDigit = 0x08,   // HEXDIG
    Digit = 0x10,      // DIGIT
    RegName = 0x20,    // unreserved / sub-delims (RFC 3986 §3.2.2 reg-name, without '%')
    QuotedText = 0x40, // qdtext (RFC 9110 §5.6.4)
};
extern const std::array<quint8, 256> table;
inline bool is(char c, quint8 cls)
{
    return table[static_cast<uchar>(c)] & cls;
}
} // namespace CharClass

// RFC 9110 §5.6.2 token: one or more tchar.
bool isToken(QByteArrayView value);
// uri-host [":" port] (RFC 9110 §7.2, RFC 3986 §3.2.2): a reg-name, an IPv4 address or an
// [IPv6] literal, then an optional port of at most 5 digits <= 65535. The host may be empty
// only when allowEmptyHost; requirePort demands the ":port" part (CONNECT's authority-form).
bool isValidHostPort(QByteArrayView value, bool allowEmptyHost, bool requirePort);

} // namespace Berth::Http
