// The HTTP/1 codec on byte strings: no socket, no clock, no app.
#include "engine/http1codec.h"
#include "engine/protocolselector.h"
#include "http/response.h"

#include <QtTest>

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
