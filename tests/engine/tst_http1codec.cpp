// The HTTP/1 codec on byte strings: no socket, no clock, no app.
#include "engine/http1codec.h"
#include "engine/protocolselector.h"
#include "http/response.h"

#include <QtTest>

#include <functional>
#include <vector>

using namespace Berth;
using Engine::Http1::RequestDecoder;
using Event = RequestDecoder::Event;

namespace {

Http::HeadLimits limits()
{
    return Http::HeadLimits();
}

// Feeds the whole body through decodeBody in pieces of `step` bytes, as reads would deliver
// it, and returns the decoded bytes; *last gets the final event.
QByteArray decodeAll(RequestDecoder &decoder, QByteArrayView body, qsizetype step, Event *last)
{
    QByteArray decoded;
    QByteArray buffered;
    qsizetype fed = 0;
    *last = Event::NeedMore;
    while (!decoder.bodyComplete()) {
        if (buffered.isEmpty()) {
            if (fed >= body.size())
                break;
            const qsizetype n = qMin(step, body.size() - fed);
            buffered.append(body.sliced(fed, n));
            fed += n;
        }
        *last = decoder.decodeBody(buffered);
        if (*last == Event::Data)
            decoded.append(decoder.data()); // a view into buffered: before it changes
        buffered.remove(0, decoder.consumed());
        if (*last == Event::Error)
            break;
    }
    return decoded;
}

QByteArray head(const Engine::Http1::ResponseHeadInput &input, const Http::Response &response,
                Engine::Http1::ResponseFraming *framing = nullptr)
{
    QByteArray out;
    const auto f = Engine::Http1::appendResponseHead(out, input, response);
    if (framing)
        *framing = f;
    // The Date line changes every second: blank it.
    const qsizetype date = out.indexOf("Date: ");
    const qsizetype end = out.indexOf("\r\n", date);
    out.replace(date, end - date, "Date: X");
    return out;
}

// The head as it was built before the single-resize writer (one QByteArray append per piece):
// the reference the new writer must match byte for byte.
QByteArray referenceHead(const Engine::Http1::ResponseHeadInput &input,
                         const Http::Response &response, QByteArrayView date)
{
    auto framingName = [](QByteArrayView name) {
        for (const char *framing :
             {"content-length", "transfer-encoding", "connection", "date", "server"}) {
            if (Http::equalsIgnoreCase(name, framing))
                return true;
        }
        return false;
    };
    auto safe = [](QByteArrayView text) {
        return !text.contains('\r') && !text.contains('\n') && !text.contains('\0');
    };
    QByteArray out;
    const int status = input.status;
    const bool noBodyStatus = status < 200 || status == 204 || status == 304;
    const bool headOnly = noBodyStatus || input.headRequest;
    const bool http11 = input.versionMinor >= 1 || !input.parsedRequest;
    bool keepAlive = input.keepAlive;
    out +=
        "HTTP/1.1 " + QByteArray::number(status) + ' ' + Http::reasonPhrase(status).toByteArray();
    out += "\r\nServer: berth\r\nDate: " + date.toByteArray() + "\r\n";
    if (!noBodyStatus) {
        if (input.contentLength >= 0)
            out += "Content-Length: " + QByteArray::number(input.contentLength) + "\r\n";
        else if (http11)
            out += "Transfer-Encoding: chunked\r\n";
        else
            keepAlive = false;
    }
    if (!keepAlive)
        out += "Connection: close\r\n";
    else if (!http11 || input.versionMinor == 0)
        out += "Connection: keep-alive\r\n";
    if (!input.hsts.isEmpty())
        out += "Strict-Transport-Security: " + input.hsts.toByteArray() + "\r\n";
    out += "X-Berth-Txn: " + input.txnId.toByteArray() + "\r\n";
    for (const auto &[name, value] : response.headers()) {
        if (framingName(name) || !safe(name) || !safe(value))
            continue;
        out += name + ": " + value + "\r\n";
    }
    out += "\r\n";
    if (!headOnly)
        out += input.body.toByteArray();
    return out;
}
} // namespace

class TestHttp1Codec : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void headThenPipelinedHead();
    void headNeedsMoreUntilBlankLine();
    void headErrorCarriesStatus();
    void contentLengthBodyInPieces_data();
    void contentLengthBodyInPieces();
    void chunkedBodyInPieces_data();
    void chunkedBodyInPieces();
    void chunkedBodyOverLimitIs413();
    void malformedChunkIs400();
    void bodyThatCanNeverComplete();
    void responseHeadFraming();
    void responseHeadHttp10();
    void responseHeadNoBodyStatuses();
    void responseHeadDropsFramingAndUnsafeFields();
    void responseHeadMatchesReference();
    void responseHeadCarriesBody();
    void chunkFraming();
    void protocolSelection_data();
    void protocolSelection();
};

void TestHttp1Codec::headThenPipelinedHead()
{
    RequestDecoder decoder(limits());
    const QByteArray in = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    Http::RequestHead h;
    QCOMPARE(decoder.decodeHead(in, h), Event::Head);
    QCOMPARE(h.target, QByteArrayView("/a"));
    const qsizetype first = decoder.consumed();
    QCOMPARE(first, qsizetype(in.indexOf("GET /b")));
    decoder.startBody(h, 1024);
    QVERIFY(decoder.bodyComplete());
    decoder.reset();
    Http::RequestHead h2;
    QCOMPARE(decoder.decodeHead(QByteArrayView(in).sliced(first), h2), Event::Head);
    QCOMPARE(h2.target, QByteArrayView("/b"));
    QCOMPARE(first + decoder.consumed(), in.size());
}

void TestHttp1Codec::headNeedsMoreUntilBlankLine()
{
    RequestDecoder decoder(limits());
    Http::RequestHead h;
    QCOMPARE(decoder.decodeHead("GET / HTTP/1.1\r\nHost: x\r\n", h), Event::NeedMore);
    QCOMPARE(decoder.decodeHead("GET / HTTP/1.1\r\nHost: x\r\n\r\n", h), Event::Head);
    QVERIFY(decoder.framing().keepAlive);
    QCOMPARE(decoder.framing().versionMinor, 1);
}

void TestHttp1Codec::headErrorCarriesStatus()
{
    RequestDecoder decoder(limits());
    Http::RequestHead h;
    QCOMPARE(decoder.decodeHead("GET / HTTP/9.9\r\nHost: x\r\n\r\n", h), Event::Error);
    QCOMPARE(decoder.errorStatus(), 505);
    QVERIFY(std::strlen(decoder.errorReason()) > 0);
}

void TestHttp1Codec::contentLengthBodyInPieces_data()
{
    QTest::addColumn<int>("step");
    QTest::newRow("1") << 1;
    QTest::newRow("7") << 7;
    QTest::newRow("whole") << 1000;
}

void TestHttp1Codec::contentLengthBodyInPieces()
{
    QFETCH(int, step);
    RequestDecoder decoder(limits());
    Http::RequestHead h;
    QCOMPARE(decoder.decodeHead("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\n", h),
             Event::Head);
    decoder.startBody(h, 1024);
    QVERIFY(!decoder.bodyComplete());
    QCOMPARE(decoder.bodyRemaining(), 26);
    Event last;
    // Bytes after the body (a pipelined request) are not taken.
    const QByteArray decoded = decodeAll(decoder, "abcdefghijklmnopqrstuvwxyzGET", step, &last);
    QCOMPARE(decoded, QByteArray("abcdefghijklmnopqrstuvwxyz"));
    QVERIFY(decoder.bodyComplete());
}

void TestHttp1Codec::chunkedBodyInPieces_data()
{
    QTest::addColumn<int>("step");
    QTest::newRow("1") << 1;
    QTest::newRow("5") << 5;
    QTest::newRow("whole") << 1000;
}

void TestHttp1Codec::chunkedBodyInPieces()
{
    QFETCH(int, step);
    RequestDecoder decoder(limits());
    Http::RequestHead h;
    QCOMPARE(
        decoder.decodeHead("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", h),
        Event::Head);
    decoder.startBody(h, 1024);
    QVERIFY(decoder.chunked());
    Event last;
    const QByteArray decoded = decodeAll(
        decoder, "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n", step, &last);
    QCOMPARE(decoded, QByteArray("hello world"));
    QCOMPARE(last, Event::End);
    QVERIFY(decoder.bodyComplete());
}

void TestHttp1Codec::chunkedBodyOverLimitIs413()
{
    RequestDecoder decoder(limits());
    Http::RequestHead h;
    decoder.decodeHead("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", h);
    decoder.startBody(h, 8);
    Event last;
    decodeAll(decoder, "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 100, &last);
    QCOMPARE(last, Event::Error);
    QCOMPARE(decoder.errorStatus(), 413);
}

void TestHttp1Codec::malformedChunkIs400()
{
    RequestDecoder decoder(limits());
    Http::RequestHead h;
    decoder.decodeHead("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", h);
    decoder.startBody(h, 1024);
    Event last;
    decodeAll(decoder, "zz\r\nhello\r\n", 100, &last);
    QCOMPARE(last, Event::Error);
    QCOMPARE(decoder.errorStatus(), 400);
}

void TestHttp1Codec::bodyThatCanNeverComplete()
{
    RequestDecoder decoder(limits());
    Http::RequestHead h;
    decoder.decodeHead("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", h);
    decoder.startBody(h, 1024);
    QVERIFY(decoder.bodyCanNeverComplete(9));
    QVERIFY(!decoder.bodyCanNeverComplete(10));
    RequestDecoder chunked(limits());
    chunked.decodeHead("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", h);
    chunked.startBody(h, 1024);
    QVERIFY(chunked.bodyCanNeverComplete(0));
    QVERIFY(!chunked.bodyCanNeverComplete(3)); // not decoded yet: it might be the last chunk
}

void TestHttp1Codec::responseHeadFraming()
{
    Http::Response response;
    response.setHeader("Content-Type", "text/plain");
    Engine::Http1::ResponseHeadInput input;
    input.status = 200;
    input.contentLength = 5;
    input.txnId = "t-1";
    Engine::Http1::ResponseFraming framing;
    QCOMPARE(head(input, response, &framing),
             QByteArray("HTTP/1.1 200 OK\r\nServer: berth\r\nDate: X\r\nContent-Length: 5\r\n"
                        "X-Berth-Txn: t-1\r\nContent-Type: text/plain\r\n\r\n"));
    QVERIFY(framing.keepAlive && !framing.chunked && !framing.headOnly);

    input.contentLength = -1;
    input.keepAlive = false;
    input.hsts = "max-age=60";
    QCOMPARE(head(input, response, &framing),
             QByteArray("HTTP/1.1 200 OK\r\nServer: berth\r\nDate: X\r\n"
                        "Transfer-Encoding: chunked\r\nConnection: close\r\n"
                        "Strict-Transport-Security: max-age=60\r\nX-Berth-Txn: t-1\r\n"
                        "Content-Type: text/plain\r\n\r\n"));
    QVERIFY(framing.chunked && !framing.keepAlive);

    input.headRequest = true; // HEAD: framing announced, no body bytes
    head(input, response, &framing);
    QVERIFY(framing.headOnly && !framing.chunked);
}

void TestHttp1Codec::responseHeadHttp10()
{
    Http::Response response;
    Engine::Http1::ResponseHeadInput input;
    input.versionMinor = 0;
    input.contentLength = 3;
    Engine::Http1::ResponseFraming framing;
    QVERIFY(head(input, response, &framing).contains("\r\nConnection: keep-alive\r\n"));
    QVERIFY(framing.keepAlive);
    input.contentLength = -1; // HTTP/1.0 can't chunk: the body ends with the connection
    const QByteArray text = head(input, response, &framing);
    QVERIFY(!text.contains("Transfer-Encoding"));
    QVERIFY(text.contains("\r\nConnection: close\r\n"));
    QVERIFY(!framing.keepAlive && !framing.chunked);
}

void TestHttp1Codec::responseHeadNoBodyStatuses()
{
    Http::Response response;
    Engine::Http1::ResponseHeadInput input;
    Engine::Http1::ResponseFraming framing;
    for (int status : {101, 204, 304}) {
        input.status = status;
        input.contentLength = 10;
        const QByteArray text = head(input, response, &framing);
        QVERIFY(!text.contains("Content-Length"));
        QVERIFY(framing.headOnly);
    }
}

void TestHttp1Codec::responseHeadDropsFramingAndUnsafeFields()
{
    Http::Response response;
    response.addHeader("Content-Length", "99");
    response.addHeader("Transfer-Encoding", "gzip");
    response.addHeader("connection", "upgrade");
    response.addHeader("Server", "other");
    response.addHeader("X-Split", "a\r\nInjected: yes");
    response.addHeader("X-Ok", "fine");
    Engine::Http1::ResponseHeadInput input;
    input.contentLength = 0;
    const QByteArray text = head(input, response);
    QCOMPARE(text.count("Content-Length"), 1);
    QVERIFY(text.contains("Content-Length: 0\r\n"));
    QVERIFY(!text.contains("gzip") && !text.contains("upgrade") && !text.contains("other"));
    QVERIFY(!text.contains("Injected"));
    QVERIFY(text.contains("X-Ok: fine\r\n"));
}

void TestHttp1Codec::responseHeadMatchesReference()
{
    // Every status line, framing and connection case, field set and piece length the writer
    // sizes differently (short and long copies, interned and copied fields, filtered ones).
    const QByteArray longValue(70, 'v');
    std::vector<std::function<void(Http::Response &)>> fieldSets = {
        [](Http::Response &) {},
        [](Http::Response &r) {
            r.setHeader("Cache-Control", "no-store");
            r.setHeader("Content-Type", "text/plain; charset=utf-8");
        },
        [&](Http::Response &r) {
            r.addHeader("X-A", "1");
            r.addHeader("X-Long-Name-Of-Thirty-Three-Bytes", longValue);
            r.addSharedHeader("Vary", QByteArray("Accept-Encoding"));
            r.addHeader("ETag", "\"abc\"");
        },
        [](Http::Response &r) {
            r.addHeader("content-length", "7");
            r.addHeader("X-Ok", "fine");
            r.addHeader("X-Bad", "a\nb");
            r.addHeader("Date", "yesterday");
            r.addHeader("X-Nul", QByteArrayView("a\0b", 3));
            r.addHeader("X-Tab", "a\tb");
        },
        [](Http::Response &r) { // a dropped field removed again: filtering is now stale
            r.addHeader("Server", "other");
            r.addHeader("Location", "/next");
            r.removeHeader("server");
        },
    };
    int cases = 0;
    for (int status : {100, 101, 200, 204, 206, 304, 404, 431, 503, 299, 599, 999, 42}) {
        for (qint64 length : {qint64(-1), qint64(0), qint64(3), qint64(123456789012345)}) {
            for (int variant = 0; variant < 8; ++variant) {
                for (size_t set = 0; set < fieldSets.size(); ++set) {
                    Http::Response response;
                    fieldSets[set](response);
                    Engine::Http1::ResponseHeadInput input;
                    input.status = status;
                    input.contentLength = length;
                    input.headRequest = variant & 1;
                    input.versionMinor = (variant & 2) ? 0 : 1;
                    input.keepAlive = !(variant & 4);
                    input.parsedRequest = set != 1 || variant != 3;
                    input.txnId = (variant & 1) ? QByteArrayView("0123456789abcdef0123456789")
                                                : QByteArrayView("t-1");
                    input.hsts = (variant & 4) ? QByteArrayView("max-age=60") : QByteArrayView();
                    if (length == 3)
                        input.body = "OK\n";
                    QByteArray out = "before"; // appended to, not replaced
                    Engine::Http1::appendResponseHead(out, input, response);
                    QVERIFY(out.startsWith("before"));
                    out.remove(0, 6);
                    // Both heads carry the current Date: compare with it blanked.
                    const qsizetype at = out.indexOf("\r\nDate: ") + 8;
                    QVERIFY(at >= 8);
                    out.replace(at, 29, "D");
                    const QByteArray expected = referenceHead(input, response, "D");
                    if (out != expected)
                        qWarning() << "status" << status << "length" << length << "variant"
                                   << variant << "set" << set;
                    QCOMPARE(out, expected);
                    ++cases;
                }
            }
        }
    }
    QCOMPARE(cases, 13 * 4 * 8 * 5);
}

void TestHttp1Codec::responseHeadCarriesBody()
{
    Http::Response response;
    Engine::Http1::ResponseHeadInput input;
    input.contentLength = 3;
    input.body = "OK\n";
    Engine::Http1::ResponseFraming framing;
    QVERIFY(head(input, response, &framing).endsWith("\r\n\r\nOK\n"));
    input.headRequest = true; // announced, not sent
    QVERIFY(head(input, response, &framing).endsWith("X-Berth-Txn: \r\n\r\n"));
    input.headRequest = false;
    input.status = 304;
    QVERIFY(head(input, response, &framing).endsWith("X-Berth-Txn: \r\n\r\n"));
}

void TestHttp1Codec::chunkFraming()
{
    QByteArray out;
    Engine::Http1::appendChunk(out, QByteArray(26, 'a'));
    QCOMPARE(out, "1a\r\n" + QByteArray(26, 'a') + "\r\n");
    out.clear();
    Engine::Http1::appendChunkSize(out, 4096);
    out.append(Engine::Http1::LastChunk);
    QCOMPARE(out, QByteArray("1000\r\n0\r\n\r\n"));
}

void TestHttp1Codec::protocolSelection_data()
{
    QTest::addColumn<QByteArray>("alpn");
    QTest::addColumn<QByteArray>("first");
    QTest::addColumn<int>("expected");
    using Engine::Protocol;
    QTest::newRow("alpn-h2") << QByteArray("h2") << QByteArray() << int(Protocol::Http2);
    QTest::newRow("alpn-http11") << QByteArray("http/1.1") << QByteArray("PRI * HTTP/2.0")
                                 << int(Protocol::Http1);
    QTest::newRow("get") << QByteArray() << QByteArray("GET / HTTP/1.1\r\n")
                         << int(Protocol::Http1);
    QTest::newRow("post-shares-P") << QByteArray() << QByteArray("PO") << int(Protocol::Http1);
    QTest::newRow("preface-prefix")
        << QByteArray() << QByteArray("PRI * HT") << int(Protocol::Undecided);
    QTest::newRow("preface") << QByteArray() << QByteArray(Engine::Http2Preface.data()) + "xyz"
                             << int(Protocol::Http2);
}

void TestHttp1Codec::protocolSelection()
{
    QFETCH(QByteArray, alpn);
    QFETCH(QByteArray, first);
    QFETCH(int, expected);
    QCOMPARE(int(Engine::selectProtocol(alpn, first)), expected);
    // With HTTP/1 the only codec, nothing is registered for HTTP/2.
    QVERIFY(!Engine::codecFactory(Engine::Protocol::Http2));
}

QTEST_GUILESS_MAIN(TestHttp1Codec)
#include "tst_http1codec.moc"
