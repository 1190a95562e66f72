#include "upstream/memberaddress.h"
#include "upstream/responsehead.h"

#include <QTest>

using namespace Berth::Upstream;
using namespace Qt::Literals::StringLiterals;

class tst_ResponseHead : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void parsesAndFrames_data();
    void parsesAndFrames();
    void refuses_data();
    void refuses();
    void needsMore();
    void keepAlive_data();
    void keepAlive();
    void hopByHop();
    void memberAddresses_data();
    void memberAddresses();
};

void tst_ResponseHead::parsesAndFrames_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("framing");
    QTest::addColumn<qint64>("length");
    using F = BodyFraming;
    QTest::newRow("length") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                            << QByteArray("GET") << 200 << int(F::Length) << qint64(5);
    QTest::newRow("equal duplicates")
        << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n") << QByteArray("GET") << 200
        << int(F::Length) << qint64(5);
    QTest::newRow("chunked") << QByteArray(
                                    "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
                             << QByteArray("POST") << 201 << int(F::Chunked) << qint64(-1);
    QTest::newRow("gzip, chunked")
        << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
        << QByteArray("GET") << 200 << int(F::Chunked) << qint64(-1);
    QTest::newRow("other coding") << QByteArray(
                                         "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
                                  << QByteArray("GET") << 200 << int(F::UntilClose) << qint64(-1);
    QTest::newRow("no framing") << QByteArray("HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n")
                                << QByteArray("GET") << 200 << int(F::UntilClose) << qint64(-1);
    QTest::newRow("head") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
                          << QByteArray("HEAD") << 200 << int(F::None) << qint64(99);
    QTest::newRow("204") << QByteArray("HTTP/1.1 204 No Content\r\n\r\n") << QByteArray("GET")
                         << 204 << int(F::None) << qint64(-1);
    QTest::newRow("304") << QByteArray("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n")
                         << QByteArray("GET") << 304 << int(F::None) << qint64(7);
    QTest::newRow("100") << QByteArray("HTTP/1.1 100 Continue\r\n\r\n") << QByteArray("POST") << 100
                         << int(F::None) << qint64(-1);
    QTest::newRow("no reason") << QByteArray("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n")
                               << QByteArray("GET") << 404 << int(F::Length) << qint64(0);
}

void tst_ResponseHead::parsesAndFrames()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, method);
    ResponseHeadParser parser;
    ResponseHead head;
    qsizetype consumed = 0;
    QCOMPARE(parser.parse(input, &head, &consumed), ResponseHeadParser::Status::Done);
    QCOMPARE(consumed, input.indexOf("\r\n\r\n") + 4);
    QTEST(head.status, "status");
    QTEST(int(head.framing(method)), "framing");
    QTEST(head.contentLength, "length");
}

void tst_ResponseHead::refuses_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::newRow("conflicting lengths")
        << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    QTest::newRow("list of lengths")
        << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n");
    QTest::newRow("CL and TE") << QByteArray(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
    QTest::newRow("two TE") << QByteArray(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n");
    QTest::newRow("obs-fold") << QByteArray("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n");
    QTest::newRow("bare CR") << QByteArray("HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\n\r\n");
    QTest::newRow("bare LF") << QByteArray("HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\n\r\n");
    QTest::newRow("space before colon") << QByteArray("HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n");
    QTest::newRow("NUL") << QByteArray("HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n", 29);
    QTest::newRow("HTTP/2") << QByteArray("HTTP/2 200 OK\r\n\r\n");
    QTest::newRow("status 99") << QByteArray("HTTP/1.1 099 X\r\n\r\n");
    QTest::newRow("status 1000") << QByteArray("HTTP/1.1 1000 X\r\n\r\n");
    QTest::newRow("signed length") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n");
    QTest::newRow("garbage") << QByteArray("SSH-2.0-OpenSSH\r\n\r\n");
}

void tst_ResponseHead::refuses()
{
    QFETCH(QByteArray, input);
    ResponseHeadParser parser;
    ResponseHead head;
    qsizetype consumed = 0;
    QCOMPARE(parser.parse(input, &head, &consumed), ResponseHeadParser::Status::Error);
}

void tst_ResponseHead::needsMore()
{
    ResponseHeadParser parser(64);
    ResponseHead head;
    qsizetype consumed = 0;
    QCOMPARE(parser.parse("HTTP/1.1 200 OK\r\nX-A: 1\r\n", &head, &consumed),
             ResponseHeadParser::Status::NeedMore);
    // A bare LF is refused before the head completes; so is a head over the limit.
    QCOMPARE(parser.parse("HTTP/1.1 200 OK\nX", &head, &consumed),
             ResponseHeadParser::Status::Error);
    QCOMPARE(parser.parse(QByteArray("HTTP/1.1 200 OK\r\nX-A: ") + QByteArray(100, 'a'), &head,
                          &consumed),
             ResponseHeadParser::Status::Error);
}

void tst_ResponseHead::keepAlive_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<bool>("keepAlive");
    QTest::newRow("1.1 length") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                                << true;
    QTest::newRow("1.1 close")
        << QByteArray("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n") << false;
    QTest::newRow("1.1 until close") << QByteArray("HTTP/1.1 200 OK\r\n\r\n") << false;
    QTest::newRow("1.0") << QByteArray("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n") << false;
    QTest::newRow("1.0 keep-alive")
        << QByteArray("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
        << true;
    QTest::newRow("204") << QByteArray("HTTP/1.1 204 No Content\r\n\r\n") << true;
}

void tst_ResponseHead::keepAlive()
{
    QFETCH(QByteArray, input);
    ResponseHeadParser parser;
    ResponseHead head;
    qsizetype consumed = 0;
    QCOMPARE(parser.parse(input, &head, &consumed), ResponseHeadParser::Status::Done);
    QTEST(head.keepAlive(), "keepAlive");
}

void tst_ResponseHead::hopByHop()
{
    for (const char *name : {"Connection", "keep-alive", "TE", "Transfer-Encoding", "Upgrade",
                             "Proxy-Authorization", "Trailer"})
        QVERIFY2(isHopByHopField(name), name);
    for (const char *name : {"Content-Type", "X-Forwarded-For", "Set-Cookie"})
        QVERIFY2(!isHopByHopField(name), name);
}

void tst_ResponseHead::memberAddresses_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<bool>("literal");
    QTest::newRow("v4") << u"127.0.0.1:5001"_s << true << true;
    QTest::newRow("v6") << u"[::1]:5001"_s << true << true;
    QTest::newRow("name") << u"app.internal:80"_s << true << false;
    QTest::newRow("unix") << u"unix:/run/app.sock"_s << true << true;
    QTest::newRow("no port") << u"127.0.0.1"_s << false << false;
    QTest::newRow("bare v6") << u"::1:5001"_s << false << false;
    QTest::newRow("port 0") << u"127.0.0.1:0"_s << false << false;
    QTest::newRow("port 70000") << u"127.0.0.1:70000"_s << false << false;
    QTest::newRow("bracketed name") << u"[host]:80"_s << false << false;
    QTest::newRow("empty unix") << u"unix:"_s << false << false;
}

void tst_ResponseHead::memberAddresses()
{
    QFETCH(QString, text);
    QFETCH(bool, ok);
    MemberAddress address;
    QString error;
    QCOMPARE(MemberAddress::parse(text, &address, &error), ok);
    if (!ok) {
        QVERIFY(!error.isEmpty());
        return;
    }
    QCOMPARE(address.text(), text);
    ResolvedAddress resolved;
    QTEST(resolveLiteral(address, &resolved), "literal");
}

QTEST_GUILESS_MAIN(tst_ResponseHead)
#include "tst_responsehead.moc"
