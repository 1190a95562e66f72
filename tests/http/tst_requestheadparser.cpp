#include "http/requestheadparser.h"

#include <QDir>
#include <QFile>
#include <QSet>
#include <QTest>

#include <cctype>
#include <cstdlib>
#include <new>

using namespace Berth::Http;
using Status = RequestHeadParser::Status;

// Counts heap allocations made while g_countAllocations is set, to prove that parse() does not
// allocate once the head's field vector has its capacity.
static bool g_countAllocations = false;
static long g_allocations = 0;

void *operator new(std::size_t size)
{
    if (g_countAllocations)
        ++g_allocations;
    void *p = std::malloc(size ? size : 1);
    if (!p)
        std::abort();
    return p;
}
void *operator new[](std::size_t size)
{
    return operator new(size);
}
void operator delete(void *p) noexcept
{
    std::free(p);
}
void operator delete[](void *p) noexcept
{
    std::free(p);
}
void operator delete(void *p, std::size_t) noexcept
{
    std::free(p);
}
void operator delete[](void *p, std::size_t) noexcept
{
    std::free(p);
}

namespace {

// A literal that may hold NUL bytes.
template <std::size_t N> QByteArray B(const char (&s)[N])
{
    return QByteArray(s, N - 1);
}

QByteArray get11(const QByteArray &fields = {})
{
    return "GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n";
}

QByteArray post11(const QByteArray &fields)
{
    return "POST / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n";
}

// One line that states what the parser derived: method|path|query|authority|host|
// contentLength|flags|version|field count, flags from C(hunked) K(eep-alive) E(xpect) U(pgrade).
QByteArray summary(const RequestHead &h, const Http1Framing &f)
{
    QByteArray flags;
    if (f.chunked)
        flags += 'C';
    if (f.keepAlive)
        flags += 'K';
    if (f.expectContinue)
        flags += 'E';
    if (f.upgrade)
        flags += 'U';
    return h.method.toByteArray() + '|' + h.path.toByteArray() + '|' + h.query.toByteArray() + '|' +
           h.authority.toByteArray() + '|' + h.host.toByteArray() + '|' +
           QByteArray::number(h.contentLength) + '|' + flags + '|' +
           QByteArray::number(f.versionMajor) + '.' + QByteArray::number(f.versionMinor) + '|' +
           QByteArray::number(qsizetype(h.fields.size()));
}

struct HeadRow
{
    QByteArray name;
    QByteArray input;
    Status status;
    int httpStatus = 0;      // for Error
    QByteArray expected;     // Done: summary(); Error: errorReason()
    qsizetype consumed = -1; // for Done; -1 = the whole input
};

// What one parse run ended with.
struct Outcome
{
    Status status = Status::NeedMore;
    int httpStatus = 0;
    QByteArray reason;
    qsizetype consumed = 0;
    QByteArray summary;

    bool operator==(const Outcome &o) const
    {
        return status == o.status && httpStatus == o.httpStatus && reason == o.reason &&
               consumed == o.consumed && summary == o.summary;
    }
};

const char *statusName(Status s)
{
    switch (s) {
    case Status::NeedMore:
        return "NeedMore";
    case Status::Done:
        return "Done";
    case Status::Error:
        return "Error";
    case Status::EmptyClose:
        return "EmptyClose";
    }
    return "?";
}

QByteArray describe(const Outcome &o)
{
    return QByteArray(statusName(o.status)) + ' ' + QByteArray::number(o.httpStatus) + " \"" +
           o.reason + "\" consumed=" + QByteArray::number(o.consumed) + ' ' + o.summary;
}

// True if every view of the head points inside buffer: the engine moves a head to its own
// storage by rebasing the views, so none may point anywhere else (not even to a static "/").
bool viewsInside(const RequestHead &h, QByteArrayView buffer)
{
    const auto inside = [&](QByteArrayView v) {
        if (v.isNull())
            return true;
        return v.data() >= buffer.data() && v.data() + v.size() <= buffer.data() + buffer.size();
    };
    if (!(inside(h.method) && inside(h.target) && inside(h.path) && inside(h.query) &&
          inside(h.authority) && inside(h.host)))
        return false;
    for (const HeaderField &f : h.fields) {
        if (!inside(f.name) || !inside(f.value))
            return false;
    }
    return true;
}

Outcome finish(const RequestHeadParser &parser, Status status, const RequestHead &head,
               QByteArrayView buffer)
{
    Outcome o;
    o.status = status;
    o.consumed = parser.consumed();
    if (status == Status::Error) {
        o.httpStatus = parser.errorStatus();
        o.reason = parser.errorReason();
    }
    if (status == Status::Done) {
        o.summary = summary(head, parser.framing());
        if (!viewsInside(head, buffer))
            o.summary += " VIEWS-OUTSIDE-BUFFER";
    }
    return o;
}

Outcome parseWhole(const QByteArray &input, const HeadLimits &limits = {})
{
    RequestHeadParser parser(limits);
    RequestHead head;
    const Status s = parser.parse(input, head);
    return finish(parser, s, head, input);
}

// The engine's way: a buffer that grows by append (and may move), parsed after each piece.
Outcome parsePieces(const QByteArray &input, const QList<qsizetype> &cuts,
                    const HeadLimits &limits = {})
{
    RequestHeadParser parser(limits);
    RequestHead head;
    QByteArray buffer;
    qsizetype from = 0;
    Status s = Status::NeedMore;
    for (qsizetype i = 0; i <= cuts.size(); ++i) {
        const qsizetype to = i < cuts.size() ? cuts[i] : input.size();
        buffer.append(input.constData() + from, to - from);
        buffer.squeeze(); // force a reallocation now and then
        from = to;
        s = parser.parse(buffer, head);
        if (s != Status::NeedMore)
            break;
    }
    return finish(parser, s, head, buffer);
}

Outcome parseByteByByte(const QByteArray &input, const HeadLimits &limits = {})
{
    RequestHeadParser parser(limits);
    RequestHead head;
    QByteArray buffer;
    Status s = parser.parse(buffer, head);
    for (qsizetype i = 0; i < input.size() && s == Status::NeedMore; ++i) {
        buffer.append(input[i]);
        s = parser.parse(buffer, head);
    }
    return finish(parser, s, head, buffer);
}

QList<HeadRow> headRows()
{
    QList<HeadRow> rows;
    const auto ok = [&](const char *name, const QByteArray &in, const char *sum,
                        qsizetype consumed = -1) {
        rows.append({name, in, Status::Done, 0, sum, consumed});
    };
    const auto bad = [&](const char *name, const QByteArray &in, int status, const char *reason) {
        rows.append({name, in, Status::Error, status, reason, -1});
    };
    const auto more = [&](const char *name, const QByteArray &in) {
        rows.append({name, in, Status::NeedMore, 0, {}, -1});
    };

    // --- happy paths
    ok("simple GET", get11(), "GET|/|||a|-1|K|1.1|1");
    ok("origin-form with query", "GET /a%20b?x=1&y=?z HTTP/1.1\r\nHost: h\r\n\r\n",
       "GET|/a%20b|x=1&y=?z||h|-1|K|1.1|1");
    ok("empty query", "GET /p? HTTP/1.1\r\nHost: h\r\n\r\n", "GET|/p|||h|-1|K|1.1|1");
    ok("path starting with //", "GET //x HTTP/1.1\r\nHost: h\r\n\r\n", "GET|//x|||h|-1|K|1.1|1");
    ok("sub-delims and quotes in target",
       "GET /a!$&'()*+,;=:@\"<>\\^`{|}~ HTTP/1.1\r\nHost: h\r\n\r\n",
       "GET|/a!$&'()*+,;=:@\"<>\\^`{|}~|||h|-1|K|1.1|1");
    ok("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", "GET|/||||-1||1.0|0");
    ok("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
       "GET|/||||-1|K|1.0|1");
    ok("HTTP/1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
       "GET|/||||-1||1.0|1");
    ok("HTTP/1.1 Connection close", get11("Connection: close\r\n"), "GET|/|||a|-1||1.1|2");
    ok("close in second Connection field",
       get11("Connection: keep-alive\r\nConnection: foo, CLOSE\r\n"), "GET|/|||a|-1||1.1|3");
    ok("upgrade", get11("Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"),
       "GET|/|||a|-1|KU|1.1|3");
    ok("Connection upgrade without Upgrade field", get11("Connection: upgrade\r\n"),
       "GET|/|||a|-1|K|1.1|2");
    ok("Upgrade field without Connection upgrade", get11("Upgrade: h2c\r\n"),
       "GET|/|||a|-1|K|1.1|2");
    ok("upgrade ignored in HTTP/1.0",
       "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", "GET|/||||-1||1.0|2");
    ok("Content-Length", post11("Content-Length: 5\r\n") + "hello", "POST|/|||a|5|K|1.1|2",
       post11("Content-Length: 5\r\n").size());
    ok("Content-Length 0", post11("Content-Length: 0\r\n"), "POST|/|||a|0|K|1.1|2");
    ok("Content-Length leading zeros", post11("Content-Length: 007\r\n"), "POST|/|||a|7|K|1.1|2");
    ok("Content-Length with OWS", post11("Content-Length: \t 12 \t\r\n"), "POST|/|||a|12|K|1.1|2");
    ok("Content-Length 18 digits", post11("Content-Length: 999999999999999999\r\n"),
       "POST|/|||a|999999999999999999|K|1.1|2");
    ok("Content-Length 2 MiB (413 is the engine's)", post11("Content-Length: 2097152\r\n"),
       "POST|/|||a|2097152|K|1.1|2");
    ok("Content-Length 4 GiB", post11("Content-Length: 4294967296\r\n"),
       "POST|/|||a|4294967296|K|1.1|2");
    ok("chunked", post11("Transfer-Encoding: chunked\r\n"), "POST|/|||a|-1|CK|1.1|2");
    ok("chunked mixed case with OWS", post11("transfer-encoding:  ChUnKeD \r\n"),
       "POST|/|||a|-1|CK|1.1|2");
    ok("Expect 100-continue", post11("Content-Length: 3\r\nExpect: 100-continue\r\n"),
       "POST|/|||a|3|KE|1.1|3");
    ok("Expect 100-Continue any case", post11("Content-Length: 3\r\nExpect: 100-CONTINUE\r\n"),
       "POST|/|||a|3|KE|1.1|3");
    ok("Expect ignored in HTTP/1.0",
       "POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
       "POST|/||||3||1.0|2");
    ok("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS|*|||a|-1|K|1.1|1");
    ok("OPTIONS origin-form", "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n",
       "OPTIONS|/x|||a|-1|K|1.1|1");
    ok("absolute-form: authority wins over Host", "GET http://x/p?q=1 HTTP/1.1\r\nHost: y\r\n\r\n",
       "GET|/p|q=1|x|x|-1|K|1.1|1");
    ok("absolute-form https with port, no path",
       "GET https://x.example:8443 HTTP/1.1\r\nHost: y\r\n\r\n",
       "GET|/||x.example:8443|x.example:8443|-1|K|1.1|1");
    ok("absolute-form query without path", "GET http://x?a=b HTTP/1.1\r\nHost: x\r\n\r\n",
       "GET|/|a=b|x|x|-1|K|1.1|1");
    ok("absolute-form scheme case-insensitive", "GET HTTP://X/ HTTP/1.1\r\nHost: x\r\n\r\n",
       "GET|/||X|X|-1|K|1.1|1");
    ok("absolute-form IPv6", "GET http://[::1]:8080/a HTTP/1.1\r\nHost: x\r\n\r\n",
       "GET|/a||[::1]:8080|[::1]:8080|-1|K|1.1|1");
    ok("absolute-form in HTTP/1.0 without Host", "GET http://x/ HTTP/1.0\r\n\r\n",
       "GET|/||x|x|-1||1.0|0");
    ok("CONNECT authority-form (engine answers 405)",
       "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
       "CONNECT||||a.example:443|-1|K|1.1|1");
    ok("extension method", "M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", "M-SEARCH|/|||a|-1|K|1.1|1");
    ok("lowercase method is a token", "get / HTTP/1.1\r\nHost: a\r\n\r\n", "get|/|||a|-1|K|1.1|1");
    ok("32-byte method", QByteArray(32, 'M') + " / HTTP/1.1\r\nHost: a\r\n\r\n",
       QByteArray(32, 'M') + "|/|||a|-1|K|1.1|1");
    ok("one leading CRLF", "\r\n" + get11(), "GET|/|||a|-1|K|1.1|1");
    ok("eight leading CRLFs", QByteArray("\r\n").repeated(8) + get11(), "GET|/|||a|-1|K|1.1|1");
    ok("pipelined: second request left", get11() + get11(), "GET|/|||a|-1|K|1.1|1", get11().size());
    ok("pipelined after Content-Length 0 body", post11("Content-Length: 0\r\n") + get11(),
       "POST|/|||a|0|K|1.1|2", post11("Content-Length: 0\r\n").size());
    ok("pipelined: garbage after the head is the next request's", get11() + "\x01garbage",
       "GET|/|||a|-1|K|1.1|1", get11().size());
    ok("obs-text in value", get11("X: \xa0\x85\xff\r\n"), "GET|/|||a|-1|K|1.1|2");
    ok("HTAB inside value", get11("X: a\tb\r\n"), "GET|/|||a|-1|K|1.1|2");
    ok("empty value", get11("X:\r\n"), "GET|/|||a|-1|K|1.1|2");
    ok("value of only OWS", get11("X: \t \r\n"), "GET|/|||a|-1|K|1.1|2");
    ok("field name with all tchar", get11("!#$%&'*+-.^_`|~09azAZ: v\r\n"), "GET|/|||a|-1|K|1.1|2");
    ok("unknown Transfer-Encoding-like name", get11("Transfer-Encodings: gzip\r\n"),
       "GET|/|||a|-1|K|1.1|2");
    ok("Host with port", "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n",
       "GET|/|||a.example:8080|-1|K|1.1|1");
    ok("Host IPv4", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "GET|/|||127.0.0.1|-1|K|1.1|1");
    ok("Host IPv6", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
       "GET|/|||[2001:db8::1]:443|-1|K|1.1|1");
    ok("Host IPv6 with IPv4 tail", "GET / HTTP/1.1\r\nHost: [::ffff:192.0.2.1]\r\n\r\n",
       "GET|/|||[::ffff:192.0.2.1]|-1|K|1.1|1");
    ok("Host full IPv6", "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8]\r\n\r\n",
       "GET|/|||[1:2:3:4:5:6:7:8]|-1|K|1.1|1");
    ok("Host empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET|/||||-1|K|1.1|1");
    ok("Host sub-delims and pct-encoded", "GET / HTTP/1.1\r\nHost: a!$&'()*+,;=_~-.%41\r\n\r\n",
       "GET|/|||a!$&'()*+,;=_~-.%41|-1|K|1.1|1");
    ok("Host port 65535", "GET / HTTP/1.1\r\nHost: a:65535\r\n\r\n", "GET|/|||a:65535|-1|K|1.1|1");

    // --- incomplete heads
    more("empty", {});
    more("request line only", "GET / HTTP/1.1\r\n");
    more("request line without LF", "GET / HTTP/1.1\r");
    more("no blank line", "GET / HTTP/1.1\r\nHost: a\r\n");
    more("blank line CR only", "GET / HTTP/1.1\r\nHost: a\r\n\r");
    more("value CR pending", "GET / HTTP/1.1\r\nHost: a\r");
    more("partial method", "GE");
    more("partial version", "GET / HTT");

    // --- 1. CL.TE and 2. TE.CL
    bad("1 CL.TE", post11("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\nG",
        400, "both Content-Length and Transfer-Encoding");
    bad("2 TE.CL",
        post11("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n") +
            "8\r\nSMUGGLED\r\n0\r\n\r\n",
        400, "both Content-Length and Transfer-Encoding");
    bad("1 CL 0 with TE", post11("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"), 400,
        "both Content-Length and Transfer-Encoding");
    // --- 3. duplicate Content-Length
    bad("3 CL 5 and 6", post11("Content-Length: 5\r\nContent-Length: 6\r\n"), 400,
        "duplicate Content-Length");
    bad("3 CL equal duplicates", post11("Content-Length: 5\r\ncontent-length: 5\r\n"), 400,
        "duplicate Content-Length");
    bad("3 CL list", post11("Content-Length: 5, 6\r\n"), 400, "invalid Content-Length");
    bad("3 CL equal list", post11("Content-Length: 5, 5\r\n"), 400, "invalid Content-Length");
    // --- 4. malformed Content-Length
    bad("4 CL +5", post11("Content-Length: +5\r\n"), 400, "invalid Content-Length");
    bad("4 CL -1", post11("Content-Length: -1\r\n"), 400, "invalid Content-Length");
    bad("4 CL 0x5", post11("Content-Length: 0x5\r\n"), 400, "invalid Content-Length");
    bad("4 CL 05 5", post11("Content-Length: 05 5\r\n"), 400, "invalid Content-Length");
    bad("4 CL 1_0", post11("Content-Length: 1_0\r\n"), 400, "invalid Content-Length");
    bad("4 CL empty", post11("Content-Length:\r\n"), 400, "invalid Content-Length");
    bad("4 CL overflow", post11("Content-Length: 99999999999999999999\r\n"), 400,
        "invalid Content-Length");
    bad("4 CL 19 digits", post11("Content-Length: 1000000000000000000\r\n"), 400,
        "invalid Content-Length");
    bad("4 CL 5.0", post11("Content-Length: 5.0\r\n"), 400, "invalid Content-Length");
    bad("4 CL 5e2", post11("Content-Length: 5e2\r\n"), 400, "invalid Content-Length");
    // --- 5. obfuscated Transfer-Encoding
    bad("5 TE xchunked", post11("Transfer-Encoding: xchunked\r\n"), 501,
        "unsupported transfer-coding");
    bad("5 TE chunked, identity", post11("Transfer-Encoding: chunked, identity\r\n"), 400,
        "chunked is not the final transfer-coding");
    bad("5 TE ,chunked", post11("Transfer-Encoding: ,chunked\r\n"), 400,
        "malformed Transfer-Encoding");
    bad("5 TE chunked,", post11("Transfer-Encoding: chunked,\r\n"), 400,
        "malformed Transfer-Encoding");
    bad("5 TE chunked\\x0b", post11("Transfer-Encoding: chunked\x0b\r\n"), 400,
        "control character in field value");
    bad("5 TE two lines", post11("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        400, "duplicate Transfer-Encoding");
    bad("5 TE chunked, chunked", post11("Transfer-Encoding: chunked, chunked\r\n"), 400,
        "chunked applied more than once");
    bad("5 TE gzip alone", post11("Transfer-Encoding: gzip\r\n"), 501,
        "unsupported transfer-coding");
    bad("5 TE gzip, chunked", post11("Transfer-Encoding: gzip, chunked\r\n"), 501,
        "unsupported transfer-coding");
    bad("5 TE deflate, chunked", post11("Transfer-Encoding: deflate,chunked\r\n"), 501,
        "unsupported transfer-coding");
    bad("5 TE chunked, gzip", post11("Transfer-Encoding: chunked, gzip\r\n"), 400,
        "chunked is not the final transfer-coding");
    bad("5 TE identity", post11("Transfer-Encoding: identity\r\n"), 501,
        "unsupported transfer-coding");
    bad("5 TE empty", post11("Transfer-Encoding:\r\n"), 400, "malformed Transfer-Encoding");
    bad("5 TE parameter", post11("Transfer-Encoding: chunked;q=1\r\n"), 400,
        "malformed Transfer-Encoding");
    bad("5 TE space inside", post11("Transfer-Encoding: chun ked\r\n"), 400,
        "malformed Transfer-Encoding");
    bad("5 TE quoted", post11("Transfer-Encoding: \"chunked\"\r\n"), 400,
        "malformed Transfer-Encoding");
    // --- 6. TE in HTTP/1.0
    bad("6 TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
        "Transfer-Encoding in HTTP/1.0");
    // --- 8. bare LF and bare CR
    bad("8 bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", 400,
        "bare LF after the request line");
    bad("8 bare LF after a field", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400,
        "bare LF in field value");
    bad("8 bare LF as the blank line", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400,
        "bare LF in the header section");
    bad("8 bare LF inside value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400,
        "bare LF in field value");
    bad("8 bare LF before request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "bare LF before the request line");
    bad("8 bare CR in value", get11("X: a\rb\r\n"), 400, "bare CR in field value");
    bad("8 header block ended by CR X", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400,
        "bare CR in the header section");
    bad("8 bare CR after request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400,
        "bare CR after the request line");
    bad("8 CR CR LF", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400, "bare CR after the request line");
    bad("8 bare CR before request line", "\rGET / HTTP/1.1\r\n\r\n", 400,
        "bare CR before the request line");
    bad("8 bare CR in name", get11("X\rY: 1\r\n"), 400, "header field without colon");
    // --- 9. obs-fold
    bad("9 obs-fold", get11("X-A: a\r\n b\r\n"), 400, "obs-fold in the header section");
    bad("9 obs-fold TE", post11("Transfer-Encoding:\r\n chunked\r\n"), 400,
        "obs-fold in the header section");
    bad("9 obs-fold HTAB", get11("X-A: a\r\n\tb\r\n"), 400, "obs-fold in the header section");
    bad("9 whitespace before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400,
        "whitespace before the first header field");
    // --- 10. whitespace before the colon
    bad("10 CL space colon", post11("Content-Length : 5\r\n"), 400, "whitespace before colon");
    bad("10 TE tab colon", post11("Transfer-Encoding\t: chunked\r\n"), 400,
        "whitespace before colon");
    // --- 11. illegal bytes in fields
    bad("11 NUL in value", get11(B("X: a\0b\r\n")), 400, "NUL in field value");
    bad("11 SOH in value",
        get11("X: a\x01"
              "b\r\n"),
        400, "control character in field value");
    bad("11 DEL in value", get11("X: a\x7f\r\n"), 400, "control character in field value");
    bad("11 ESC in value", get11("X: \x1b[31m\r\n"), 400, "control character in field value");
    bad("11 DEL in name", get11("X\x7f: 1\r\n"), 400, "invalid byte in field name");
    bad("11 0xa0 in name", get11("X\xa0: 1\r\n"), 400, "invalid byte in field name");
    bad("11 space in name", get11("X Y: 1\r\n"), 400, "whitespace before colon");
    bad("11 @ in name", get11("X@Y: 1\r\n"), 400, "invalid byte in field name");
    bad("11 NUL in name", get11(B("X\0: 1\r\n")), 400, "invalid byte in field name");
    bad("11 empty name", get11(": x\r\n"), 400, "empty field name");
    bad("11 no colon", get11("NoColonHere\r\n"), 400, "header field without colon");
    bad("11 quote in name", get11("\"X\": 1\r\n"), 400, "invalid byte in field name");
    bad("11 slash in name", get11("X/Y: 1\r\n"), 400, "invalid byte in field name");
    // --- 12. Host
    bad("12 no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400, "missing Host");
    bad("12 two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "duplicate Host");
    bad("12 two equal Host lines", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400,
        "duplicate Host");
    bad("12 Host with space a b", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host");
    bad("12 Host with userinfo a@b", "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400, "invalid Host");
    bad("12 Host with slash a/b", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid Host");
    bad("12 Host port too big", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400, "invalid Host");
    bad("12 Host port not digits", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400, "invalid Host");
    bad("12 Host two colons", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400, "invalid Host");
    bad("12 Host unclosed IPv6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "invalid Host");
    bad("12 Host bad IPv6", "GET / HTTP/1.1\r\nHost: [:::1]\r\n\r\n", 400, "invalid Host");
    bad("12 Host IPv6 nine groups with ::", "GET / HTTP/1.1\r\nHost: [1:2:3:4::5:6:7:8]\r\n\r\n",
        400, "invalid Host");
    bad("12 Host IPv6 too many groups", "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8:9]\r\n\r\n", 400,
        "invalid Host");
    bad("12 Host IPv6 zone id", "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", 400,
        "invalid Host");
    bad("12 Host bad pct-encoding", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400, "invalid Host");
    bad("12 Host backslash", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 400, "invalid Host");
    bad("12 Host still required with absolute-form", "GET http://x/ HTTP/1.1\r\n\r\n", 400,
        "missing Host");
    // --- 13. request-target forms
    bad("13 GET admin", "GET admin HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request-target");
    bad("13 GET *", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk-form without OPTIONS");
    bad("13 OPTIONS */x", "OPTIONS */x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request-target");
    bad("13 fragment", "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "fragment in request-target");
    bad("13 CONNECT /", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "CONNECT without authority-form target");
    bad("13 CONNECT without port", "CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "CONNECT without authority-form target");
    bad("13 CONNECT absolute-form", "CONNECT http://a:443/ HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "CONNECT without authority-form target");
    bad("13 authority-form with GET", "GET a.example:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "invalid request-target");
    bad("13 other scheme", "GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "invalid request-target");
    bad("13 userinfo", "GET http://user@x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "userinfo in request-target");
    bad("13 empty authority", "GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "invalid authority in request-target");
    bad("13 http:/x", "GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request-target");
    bad("13 bad authority", "GET http://a<b/ HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "invalid authority in request-target");
    bad("13 byte 0x80 in target", "GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "invalid byte in request-target");
    bad("13 CTL in target", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "invalid byte in request-target");
    bad("13 DEL in target", "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "invalid byte in request-target");
    bad("13 NUL in target", B("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
        "invalid byte in request-target");
    bad("13 tab in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "invalid byte in request-target");
    // --- 14. method and version
    bad("14 HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "HTTP version not supported");
    bad("14 HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP version not supported");
    bad("14 HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505, "HTTP version not supported");
    bad("14 HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "malformed HTTP version");
    bad("14 HTTP/01.1", "GET / HTTP/01.1\r\nHost: a\r\n\r\n", 400, "malformed HTTP version");
    bad("14 http/1.1", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, "malformed HTTP version");
    bad("14 HTTP/1.1x", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400, "malformed HTTP version");
    bad("14 HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "malformed HTTP version");
    bad("14 HTTP/1.", "GET / HTTP/1.\r\nHost: a\r\n\r\n", 400, "malformed HTTP version");
    bad("14 HTTP/1.1 trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400,
        "malformed HTTP version");
    bad("14 HTTP/0.9 request", "GET /\r\n\r\n", 400, "request line without HTTP version");
    bad("14 G NUL T", B("G\0T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid byte in method");
    bad("14 10 KiB method", QByteArray(10 * 1024, 'G') + " / HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "method too long");
    bad("14 10 KiB method, no line end yet", QByteArray(10 * 1024, 'G'), 400, "method too long");
    bad("14 33-byte method", QByteArray(33, 'M') + " / HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "method too long");
    bad("14 double SP", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "empty request-target");
    bad("14 leading SP", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "empty method");
    bad("14 HTAB separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid byte in method");
    bad("14 method with slash", "GE/T / HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "invalid byte in method");
    bad("14 extra request line part", "GET / x HTTP/1.1\r\nHost: a\r\n\r\n", 400,
        "malformed HTTP version");
    // --- 15. empty connection, stray CRLF
    more("15 only CRLF", "\r\n");
    more("15 eight CRLFs", QByteArray("\r\n").repeated(8));
    more("15 CR pending", "\r");
    rows.append({"15 nine CRLFs", QByteArray("\r\n").repeated(9), Status::EmptyClose, 0, {}, -1});
    rows.append({"15 many CRLFs then request",
                 QByteArray("\r\n").repeated(20) + get11(),
                 Status::EmptyClose,
                 0,
                 {},
                 -1});
    // --- 17. Expect
    bad("17 Expect other", post11("Content-Length: 3\r\nExpect: something\r\n"), 417,
        "unsupported expectation");
    bad("17 Expect list", post11("Content-Length: 3\r\nExpect: 100-continue, x\r\n"), 417,
        "unsupported expectation");
    bad("17 Expect empty", post11("Content-Length: 3\r\nExpect:\r\n"), 417,
        "unsupported expectation");
    // --- 18. long request line
    bad("18 9 KiB request line",
        "GET /" + QByteArray(9 * 1024, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414,
        "request-target too long");
    bad("18 70 KiB request line, no line end", "GET /" + QByteArray(70 * 1024, 'a'), 414,
        "request-target too long");
    // --- 19. oversized headers
    bad("19 16 KiB cookie", get11("Cookie: " + QByteArray(16 * 1024, 'c') + "\r\n"), 431,
        "header field too large");
    bad("19 16 KiB cookie, no line end",
        "GET / HTTP/1.1\r\nHost: a\r\nCookie: " + QByteArray(16 * 1024, 'c'), 431,
        "header field too large");
    {
        QByteArray fields;
        for (int i = 0; i < 20; ++i)
            fields +=
                "X-" + QByteArray::number(i) + ": " + QByteArray(6 * 1024 + 500, 'v') + "\r\n";
        bad("19 128 KiB of headers", get11(fields), 431, "header section too large");
    }
    {
        QByteArray fields;
        for (int i = 0; i < 200; ++i)
            fields += "X-" + QByteArray::number(i) + ": 1\r\n";
        bad("19 200 small headers", get11(fields), 431, "too many header fields");
    }
    bad("19 long name without colon", get11(QByteArray(9000, 'N')), 431, "header field too large");

    // --- limits at the boundary (defaults: 8 KiB target, 8 KiB field, 100 fields, 32 KiB head)
    {
        const QByteArray target = "/" + QByteArray(8 * 1024 - 1, 'a');
        ok("target at maxUriBytes", "GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET|" + target + "|||a|-1|K|1.1|1");
        bad("target one over maxUriBytes", "GET " + target + "a HTTP/1.1\r\nHost: a\r\n\r\n", 414,
            "request-target too long");
    }
    {
        const QByteArray line = "X: " + QByteArray(8 * 1024 - 3, 'v');
        ok("field line at maxFieldBytes", get11(line + "\r\n"), "GET|/|||a|-1|K|1.1|2");
        bad("field line one over maxFieldBytes", get11(line + "v\r\n"), 431,
            "header field too large");
        ok("field line at maxFieldBytes, trailing OWS",
           get11(QByteArray(line).replace(8000, 3, "   ") + "\r\n"), "GET|/|||a|-1|K|1.1|2");
        const QByteArray name = QByteArray(8 * 1024 - 1, 'N') + ":";
        ok("field name filling maxFieldBytes", get11(name + "\r\n"), "GET|/|||a|-1|K|1.1|2");
        bad("field name one over maxFieldBytes", get11("N" + name + "\r\n"), 431,
            "header field too large");
    }
    {
        QByteArray fields;
        for (int i = 1; i < 100; ++i)
            fields += "X-" + QByteArray::number(i) + ": 1\r\n";
        ok("100 fields", get11(fields), "GET|/|||a|-1|K|1.1|100");
        bad("101 fields", get11(fields + "Y: 1\r\n"), 431, "too many header fields");
    }
    {
        // Exactly 32 KiB from the request line to the final CRLF.
        QByteArray head = "GET / HTTP/1.1\r\nHost: a\r\n";
        const QByteArray filler = "F: " + QByteArray(8000, 'f') + "\r\n";
        for (int i = 0; i < 4; ++i)
            head += filler;
        const qsizetype rest = 32 * 1024 - head.size() - 2 - 5; // "G: " + value + CRLF, blank line
        head += "G: " + QByteArray(rest, 'g') + "\r\n\r\n";
        Q_ASSERT(head.size() == 32 * 1024);
        ok("head at maxHeaderBytes", head, "GET|/|||a|-1|K|1.1|6");
        ok("head at maxHeaderBytes after CRLFs", "\r\n\r\n" + head, "GET|/|||a|-1|K|1.1|6");
        QByteArray over = head;
        over.insert(over.size() - 4, 'g');
        bad("head one over maxHeaderBytes", over, 431, "header section too large");
        bad("head over maxHeaderBytes, no blank line", head.chopped(2) + "H: 1\r\n", 431,
            "header section too large");
    }
    return rows;
}

// One seed file per row, named after the row.
QByteArray corpusFileName(const QByteArray &rowName)
{
    QByteArray file;
    for (char c : rowName)
        file += (std::isalnum(uchar(c)) ? c : '_');
    return file;
}

void writeCorpus(const char *dirName, const QList<QPair<QByteArray, QByteArray>> &items)
{
    const QByteArray root = qgetenv("BERTH_WRITE_CORPUS");
    if (root.isEmpty())
        return;
    QDir dir(QFile::decodeName(root));
    dir.mkpath(QFile::decodeName(dirName));
    for (const auto &[name, data] : items) {
        QFile f(dir.filePath(QFile::decodeName(dirName) + u'/' +
                             QString::fromLatin1(corpusFileName(name))));
        if (f.open(QIODevice::WriteOnly))
            f.write(data);
    }
}

} // namespace

class TestRequestHeadParser : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void parse_data();
    void parse();
    void incrementalMatchesWhole_data() { parse_data(); }
    void incrementalMatchesWhole();
    void fieldViews();
    void reuseAcrossRequests();
    void noAllocation();
    void customLimits_data();
    void customLimits();
    void earlyLimitsWithoutLineEnd();
    void everyLimitValue_data();
    void everyLimitValue();
    void parseAgainAfterDone();
    void helpers();
};

void TestRequestHeadParser::initTestCase()
{
    // BERTH_WRITE_CORPUS=fuzz/corpus turns the rows into the fuzzer's seed corpus.
    QList<QPair<QByteArray, QByteArray>> items;
    QSet<QByteArray> files;
    for (const HeadRow &r : headRows()) {
        items.append({r.name, r.input});
        QVERIFY2(!files.contains(corpusFileName(r.name)), "row names must differ in [A-Za-z0-9]");
        files.insert(corpusFileName(r.name));
    }
    writeCorpus("requesthead", items);
}

void TestRequestHeadParser::parse_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("httpStatus");
    QTest::addColumn<QByteArray>("expected");
    QTest::addColumn<qsizetype>("consumed");
    for (const HeadRow &r : headRows()) {
        QTest::newRow(r.name.constData())
            << r.input << int(r.status) << r.httpStatus << r.expected
            << (r.consumed < 0 && r.status == Status::Done ? r.input.size() : r.consumed);
    }
}

void TestRequestHeadParser::parse()
{
    QFETCH(QByteArray, input);
    QFETCH(int, status);
    QFETCH(int, httpStatus);
    QFETCH(QByteArray, expected);
    QFETCH(qsizetype, consumed);

    const Outcome o = parseWhole(input);
    QCOMPARE(statusName(o.status), statusName(Status(status)));
    if (o.status == Status::Error) {
        QCOMPARE(o.httpStatus, httpStatus);
        QCOMPARE(o.reason, expected);
    }
    if (o.status == Status::Done) {
        QCOMPARE(o.summary, expected);
        QCOMPARE(o.consumed, consumed);
    }
}

void TestRequestHeadParser::incrementalMatchesWhole()
{
    QFETCH(QByteArray, input);
    const Outcome whole = parseWhole(input);

    const Outcome bytes = parseByteByByte(input);
    QVERIFY2(bytes == whole, describe(bytes) + " != " + describe(whole));

    // Two pieces, cut at every offset (at a stride for the big rows, to keep the run short).
    const qsizetype stride = input.size() > 2048 ? 97 : 1;
    for (qsizetype cut = 1; cut < input.size(); cut += stride) {
        const Outcome two = parsePieces(input, {cut});
        QVERIFY2(two == whole, "cut " + QByteArray::number(cut) + ": " + describe(two) +
                                   " != " + describe(whole));
    }
}

void TestRequestHeadParser::fieldViews()
{
    const QByteArray input = "PUT /up HTTP/1.1\r\nHost:  a.example \r\nX-Empty:\r\n"
                             "x-multi: one \t two\t\r\nContent-Length: 4\r\n\r\nbody";
    RequestHeadParser parser;
    RequestHead head;
    QCOMPARE(parser.parse(input, head), Status::Done);
    QCOMPARE(parser.consumed(), input.size() - 4);
    QCOMPARE(head.fields.size(), std::size_t(4));
    QCOMPARE(head.fields[0].name, "Host");
    QCOMPARE(head.fields[0].value, "a.example");
    QCOMPARE(head.fields[1].name, "X-Empty");
    QVERIFY(head.fields[1].value.isEmpty());
    QCOMPARE(head.fields[2].name, "x-multi");
    QCOMPARE(head.fields[2].value, "one \t two");
    QCOMPARE(head.field("X-MULTI"), "one \t two");
    QCOMPARE(head.fieldCount("x-empty"), 1);
    QCOMPARE(head.fieldCount("missing"), 0);
    QVERIFY(head.field("missing").isNull());
    QCOMPARE(head.target, "/up");
    QCOMPARE(head.contentLength, 4);
    QVERIFY(head.hasBody());
    QVERIFY(parser.framing().isHttp11());
    // Views point into the caller's buffer: no copies.
    QCOMPARE(head.method.data(), input.constData());
    QCOMPARE(head.fields[0].value.data(), input.constData() + input.indexOf("a.example"));
}

void TestRequestHeadParser::reuseAcrossRequests()
{
    // The engine keeps one parser and one head per connection: reset() and parse again.
    const QByteArray first = get11("A: 1\r\nB: 2\r\n");
    const QByteArray second = "POST /x HTTP/1.0\r\nContent-Length: 2\r\n\r\n";
    RequestHeadParser parser;
    RequestHead head;
    QCOMPARE(parser.parse(first, head), Status::Done);
    QCOMPARE(summary(head, parser.framing()), "GET|/|||a|-1|K|1.1|3");
    const auto capacity = head.fields.capacity();
    QVERIFY(capacity >= 32);
    parser.reset();
    QCOMPARE(parser.parse(second, head), Status::Done);
    QCOMPARE(summary(head, parser.framing()), "POST|/x||||2||1.0|1");
    QCOMPARE(head.fields.capacity(), capacity);
    // An error is sticky until reset().
    parser.reset();
    QCOMPARE(parser.parse("BAD\x01", head), Status::Error);
    QCOMPARE(parser.parse(first, head), Status::Error);
    parser.reset();
    QCOMPARE(parser.parse(first, head), Status::Done);
}

void TestRequestHeadParser::noAllocation()
{
    QByteArray fields;
    for (int i = 0; i < 29; ++i)
        fields += "X-Field-" + QByteArray::number(i) + ": value " + QByteArray::number(i) + "\r\n";
    const QByteArray input = post11("Content-Length: 10\r\nConnection: keep-alive\r\n" + fields);
    RequestHeadParser parser;
    RequestHead head;
    head.fields.reserve(32);
    g_allocations = 0;
    g_countAllocations = true;
    Status s = Status::NeedMore;
    for (qsizetype i = 1; i <= input.size() && s == Status::NeedMore; ++i)
        s = parser.parse(QByteArrayView(input).first(i), head);
    parser.reset();
    const Status again = parser.parse(input, head);
    g_countAllocations = false;
    QCOMPARE(s, Status::Done);
    QCOMPARE(again, Status::Done);
    QCOMPARE(head.fields.size(), std::size_t(32));
    QCOMPARE(g_allocations, 0L);
}

void TestRequestHeadParser::customLimits_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("httpStatus");
    // Limits: 10-byte target, 20-byte field line, 3 fields, 64-byte head.
    QTest::newRow("all at the limits")
        << QByteArray("GET /123456789 HTTP/1.1\r\nHost: abcdefg\r\nX: 12345678901234567\r\n\r\n")
        << int(Status::Done) << 0;
    QTest::newRow("target over") << QByteArray("GET /1234567890 HTTP/1.1\r\n") << int(Status::Error)
                                 << 414;
    QTest::newRow("target over, partial")
        << QByteArray("GET /1234567890") << int(Status::Error) << 414;
    QTest::newRow("target at limit, partial")
        << QByteArray("GET /123456789") << int(Status::NeedMore) << 0;
    QTest::newRow("field over") << QByteArray("GET / HTTP/1.1\r\nX: 1234567890123456789\r\n")
                                << int(Status::Error) << 431;
    QTest::newRow("field at limit, CR pending")
        << QByteArray("GET / HTTP/1.1\r\nX: 12345678901234567\r") << int(Status::NeedMore) << 0;
    QTest::newRow("fourth field") << QByteArray("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD")
                                  << int(Status::Error) << 431;
    QTest::newRow("head at limit, partial")
        << QByteArray("GET /123456789 HTTP/1.1\r\nHost: abcdefg\r\nX: 12345678901234567\r\nYY")
        << int(Status::NeedMore) << 0;
    QTest::newRow("head over, partial")
        << QByteArray("GET /123456789 HTTP/1.1\r\nHost: abcdefg\r\nX: 12345678901234567\r\nYYY")
        << int(Status::Error) << 431;
    QTest::newRow("head over by the final LF")
        << QByteArray("GET /123456789 HTTP/1.1\r\nHost: abcdefgh\r\nX: 12345678901234567\r\n\r\n")
        << int(Status::Error) << 431;
    QTest::newRow("bad byte before the limit wins") << QByteArray("GET /12\x01"
                                                                  "4567890 HTTP/1.1\r\n")
                                                    << int(Status::Error) << 400;
}

void TestRequestHeadParser::customLimits()
{
    QFETCH(QByteArray, input);
    QFETCH(int, status);
    QFETCH(int, httpStatus);
    HeadLimits limits;
    limits.maxUriBytes = 10;
    limits.maxFieldBytes = 20;
    limits.maxHeaders = 3;
    limits.maxHeaderBytes = 64;
    const Outcome whole = parseWhole(input, limits);
    QCOMPARE(statusName(whole.status), statusName(Status(status)));
    QCOMPARE(whole.httpStatus, httpStatus);
    const Outcome bytes = parseByteByByte(input, limits);
    QVERIFY2(bytes == whole, describe(bytes) + " != " + describe(whole));
}

void TestRequestHeadParser::earlyLimitsWithoutLineEnd()
{
    // The parser must not wait for a line end that an attacker never sends (HOSTILE-INPUTS
    // 18/19): each limit fires from a partial buffer just past it.
    RequestHeadParser parser;
    RequestHead head;
    QByteArray buffer = "GET /";
    QCOMPARE(parser.parse(buffer, head), Status::NeedMore);
    buffer += QByteArray(8 * 1024 - 1, 'a');
    QCOMPARE(parser.parse(buffer, head), Status::NeedMore);
    buffer += 'a';
    QCOMPARE(parser.parse(buffer, head), Status::Error);
    QCOMPARE(parser.errorStatus(), 414);

    parser.reset();
    buffer = "GET / HTTP/1.1\r\nX: " + QByteArray(8 * 1024 - 3, 'v');
    QCOMPARE(parser.parse(buffer, head), Status::NeedMore);
    buffer += 'v';
    QCOMPARE(parser.parse(buffer, head), Status::Error);
    QCOMPARE(parser.errorStatus(), 431);
    QCOMPARE(parser.errorReason(), "header field too large");

    parser.reset();
    buffer = QByteArray(32, 'M');
    QCOMPARE(parser.parse(buffer, head), Status::NeedMore);
    buffer += 'M';
    QCOMPARE(parser.parse(buffer, head), Status::Error);
    QCOMPARE(parser.errorStatus(), 400);
    QCOMPARE(parser.errorReason(), "method too long");
}

void TestRequestHeadParser::everyLimitValue_data()
{
    QTest::addColumn<int>("which");
    QTest::newRow("maxHeaderBytes") << 0;
    QTest::newRow("maxFieldBytes") << 1;
    QTest::newRow("maxUriBytes") << 2;
    QTest::newRow("maxHeaders") << 3;
}

void TestRequestHeadParser::everyLimitValue()
{
    // Sweeps one limit over every value around the request's own size, so the check sits at
    // every byte position once (request line, field bytes, each CR and LF): the request must
    // pass exactly when it fits, and fail with the limit's status otherwise, however it is fed.
    QFETCH(int, which);
    const QByteArray lead = "\r\n";
    const QByteArray head = "POST /p?q HTTP/1.1\r\nHost: a\r\nX-Long: some value\r\n"
                            "Content-Length: 0\r\n\r\n";
    const QByteArray input = lead + head;
    const qsizetype longestField = QByteArray("X-Long: some value").size();
    const qsizetype target = QByteArray("/p?q").size();
    const int fields = 3;
    const qsizetype need[] = {head.size(), longestField, target, fields};
    const int failStatus[] = {431, 431, 414, 431};
    for (qsizetype limit = 0; limit <= need[which] + 2; ++limit) {
        HeadLimits limits;
        switch (which) {
        case 0:
            limits.maxHeaderBytes = limit;
            break;
        case 1:
            limits.maxFieldBytes = limit;
            break;
        case 2:
            limits.maxUriBytes = limit;
            break;
        default:
            limits.maxHeaders = int(limit);
            break;
        }
        const Outcome whole = parseWhole(input, limits);
        const QByteArray where = "limit " + QByteArray::number(limit) + ": " + describe(whole);
        if (limit >= need[which]) {
            QVERIFY2(whole.status == Status::Done, where);
            QCOMPARE(whole.consumed, input.size());
        } else {
            QVERIFY2(whole.status == Status::Error, where);
            QCOMPARE(whole.httpStatus, failStatus[which]);
        }
        const Outcome bytes = parseByteByByte(input, limits);
        QVERIFY2(bytes == whole, where + " != " + describe(bytes));
    }
}

void TestRequestHeadParser::parseAgainAfterDone()
{
    // Done is sticky: a second call with the (possibly moved) buffer refills the views.
    const QByteArray input = get11("X: 1\r\n");
    RequestHeadParser parser;
    RequestHead head;
    QCOMPARE(parser.parse(input, head), Status::Done);
    const QByteArray copy = input + "next";
    QCOMPARE(parser.parse(copy, head), Status::Done);
    QCOMPARE(parser.consumed(), input.size());
    QVERIFY(viewsInside(head, copy));
    QCOMPARE(parser.parse(QByteArrayView(input).first(3), head), Status::Error);
}

void TestRequestHeadParser::helpers()
{
    QVERIFY(equalsIgnoreCase("Content-Length", "content-LENGTH"));
    QVERIFY(!equalsIgnoreCase("Content-Length", "Content-Lengt"));
    QVERIFY(!equalsIgnoreCase("a", "b"));
    QVERIFY(equalsIgnoreCase("", ""));
    QVERIFY(listContainsToken("keep-alive, Upgrade", "upgrade"));
    QVERIFY(listContainsToken("  close  ", "close"));
    QVERIFY(listContainsToken("a,,close,", "close"));
    QVERIFY(!listContainsToken("closed", "close"));
    QVERIFY(!listContainsToken("", "close"));
    QVERIFY(!listContainsToken("x-close, closer", "close"));
    QVERIFY(isToken("chunked"));
    QVERIFY(!isToken(""));
    QVERIFY(!isToken("a b"));
    QVERIFY(isValidHostPort("a:1", false, true));
    QVERIFY(!isValidHostPort("a", false, true));
    QVERIFY(!isValidHostPort("a:", false, true));
    QVERIFY(isValidHostPort("a:", false, false));
    QVERIFY(!isValidHostPort(":80", false, false));
    QVERIFY(isValidHostPort(":80", true, false));
    QVERIFY(isValidHostPort("[::]", false, false));
    QVERIFY(isValidHostPort("[1::]", false, false));
    QVERIFY(!isValidHostPort("[1::2::3]", false, false));
    QVERIFY(!isValidHostPort("[12345::1]", false, false));
    QVERIFY(!isValidHostPort("[::1.2.3]", false, false));
    QVERIFY(!isValidHostPort("[::01.2.3.4]", false, false));
    QVERIFY(!isValidHostPort("[::1.2.3.256]", false, false));
    QVERIFY(!isValidHostPort("[v1.x]", false, false));
    QVERIFY(!isValidHostPort("[::1]x", false, false));
    QVERIFY(!isValidHostPort("a:123456", false, false));
    QVERIFY(!isValidHostPort("a:000080", false, false));
    QVERIFY(isValidHostPort("a:00080", false, false));
    QVERIFY(!isValidHostPort("[1:2:3:4::5:6:7:8]", false, false));
    QVERIFY(isValidHostPort("[1:2:3::5:6:7:8]", false, false));
    QVERIFY(!isValidHostPort("[1:2:3:4:5:6:7]", false, false));
    QVERIFY(!isValidHostPort("[1:2:3:4:5:6:7:]", false, false));
    QVERIFY(isValidHostPort("[1:2:3:4:5:6:1.2.3.4]", false, false));
    QVERIFY(!isValidHostPort("[1:2:3:4:5:6:7:1.2.3.4]", false, false));
    QVERIFY(!isValidHostPort("[]", false, false));
}

QTEST_APPLESS_MAIN(TestRequestHeadParser)
#include "tst_requestheadparser.moc"
