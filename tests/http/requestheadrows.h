// The request heads tst_requestheadparser runs through the parser (whole, in two pieces at
// every split, byte by byte) and writes as the fuzzers' seed corpus: one row each, with what
// the parser must derive from it or the error it must give. Test data: included by that test
// only.
#pragma once

#include "http/requestheadparser.h"

#include <QByteArray>
#include <QList>

namespace RequestHeadRows {

using Berth::Http::RequestHeadParser;
using Status = RequestHeadParser::Status;

// A literal that may hold NUL bytes.
template <std::size_t N> inline QByteArray B(const char (&s)[N])
{
    return QByteArray(s, N - 1);
}

inline QByteArray get11(const QByteArray &fields = {})
{
    return "GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n";
}

inline QByteArray post11(const QByteArray &fields)
{
    return "POST / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n";
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

inline QList<HeadRow> headRows()
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

} // namespace RequestHeadRows
