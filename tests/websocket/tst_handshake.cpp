// The opening handshake as apps see it through an exchange: RFC 6455 §4.2 over HTTP/1.1,
// RFC 8441 extended CONNECT over HTTP/2, Origin, subprotocols and the answers a refused
// handshake gets (HOSTILE-INPUTS item 35).
#include "fakeexchange.h"
#include "websocket/handshake.h"
#include "websocket/session.h"

#include <QtTest>

using namespace Berth;
using namespace Berth::WebSocket;
using Tests::FakeExchange;
using Headers = FakeExchange::Headers;

namespace {

const QByteArray Key = "dGhlIHNhbXBsZSBub25jZQ==";

Headers upgradeHeaders(const Headers &extra = {})
{
    Headers h{{"Host", "a"},
              {"Connection", "keep-alive, Upgrade"},
              {"Upgrade", "websocket"},
              {"Sec-WebSocket-Key", Key},
              {"Sec-WebSocket-Version", "13"}};
    return h + extra;
}

Headers without(Headers h, QByteArrayView name)
{
    h.removeIf([name](const auto &f) { return f.first == name; });
    return h;
}

} // namespace

class TestHandshake : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void acceptKeyFromRfc();
    void refusals_data();
    void refusals();
    void acceptsAndAnswers101();
    void origins_data();
    void origins();
    void subprotocolInOurOrder();
    void http2ExtendedConnect();
};

void TestHandshake::acceptKeyFromRfc()
{
    QCOMPARE(acceptKey(Key), QByteArray("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

void TestHandshake::refusals_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<Headers>("headers");
    QTest::addColumn<int>("status");
    QTest::newRow("no key") << QByteArray("GET") << without(upgradeHeaders(), "Sec-WebSocket-Key")
                            << 400;
    QTest::newRow("short key") << QByteArray("GET")
                               << without(upgradeHeaders(), "Sec-WebSocket-Key") +
                                      Headers{{"Sec-WebSocket-Key", "c2hvcnQ="}}
                               << 400;
    QTest::newRow("two keys") << QByteArray("GET") << upgradeHeaders({{"Sec-WebSocket-Key", Key}})
                              << 400;
    QTest::newRow("version 12") << QByteArray("GET")
                                << without(upgradeHeaders(), "Sec-WebSocket-Version") +
                                       Headers{{"Sec-WebSocket-Version", "12"}}
                                << 426;
    QTest::newRow("no version") << QByteArray("GET")
                                << without(upgradeHeaders(), "Sec-WebSocket-Version") << 426;
    QTest::newRow("POST") << QByteArray("POST") << upgradeHeaders() << 400;
    QTest::newRow("no connection upgrade")
        << QByteArray("GET") << without(upgradeHeaders(), "Connection") << 400;
    QTest::newRow("plain GET") << QByteArray("GET") << Headers{{"Host", "a"}} << 426;
    QTest::newRow("CONNECT without protocol")
        << QByteArray("CONNECT") << Headers{{"Sec-WebSocket-Version", "13"}} << 400;
}

void TestHandshake::refusals()
{
    QFETCH(QByteArray, method);
    QFETCH(Headers, headers);
    QFETCH(int, status);
    FakeExchange ex(method, "/ws", headers);
    QVERIFY(!Session::accept(ex, Settings()));
    QCOMPARE(ex.status(), status);
    QVERIFY(ex.finished());
    QVERIFY(!ex.isTunnel());
    QVERIFY(ex.header("Sec-WebSocket-Accept").isNull());
    if (status == 426) {
        QCOMPARE(ex.header("Sec-WebSocket-Version"), QByteArray("13"));
        QCOMPARE(ex.header("Upgrade"), QByteArray("websocket"));
    }
}

void TestHandshake::acceptsAndAnswers101()
{
    FakeExchange ex("GET", "/ws",
                    upgradeHeaders({{"Sec-WebSocket-Extensions", "permessage-deflate"}}));
    Session *s = Session::accept(ex, Settings());
    QVERIFY(s);
    QCOMPARE(ex.status(), 101);
    QVERIFY(ex.isTunnel());
    QCOMPARE(ex.header("Sec-WebSocket-Accept"), QByteArray("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    QCOMPARE(ex.header("Sec-WebSocket-Extensions"), QByteArray("permessage-deflate"));
    QVERIFY(ex.header("Sec-WebSocket-Protocol").isNull());
    int closed = 0;
    s->onClose([&](int code, QByteArrayView) {
        ++closed;
        QCOMPARE(code, 1006);
    });
    ex.simulateClientAbort(); // the session deletes itself
    QCOMPARE(closed, 1);

    Settings noDeflate;
    noDeflate.deflate = false;
    FakeExchange ex2("GET", "/ws",
                     upgradeHeaders({{"Sec-WebSocket-Extensions", "permessage-deflate"}}));
    QVERIFY(Session::accept(ex2, noDeflate));
    QVERIFY(ex2.header("Sec-WebSocket-Extensions").isNull());
    ex2.simulateClientAbort();
}

void TestHandshake::origins_data()
{
    QTest::addColumn<QByteArray>("origin"); // null: no Origin field
    QTest::addColumn<int>("status");
    QTest::newRow("allowed") << QByteArray("https://good.example") << 101;
    QTest::newRow("case") << QByteArray("https://GOOD.example") << 101;
    QTest::newRow("foreign") << QByteArray("https://evil.example") << 403;
    QTest::newRow("prefix") << QByteArray("https://good.example.evil") << 403;
    QTest::newRow("none") << QByteArray() << 101;
}

void TestHandshake::origins()
{
    QFETCH(QByteArray, origin);
    QFETCH(int, status);
    Settings settings;
    settings.allowedOrigins = {"https://good.example"};
    Headers extra;
    if (!origin.isNull())
        extra.append({"Origin", origin});
    FakeExchange ex("GET", "/ws", upgradeHeaders(extra));
    Session *s = Session::accept(ex, settings);
    QCOMPARE(ex.status(), status);
    QCOMPARE(s != nullptr, status == 101);
    if (s)
        ex.simulateClientAbort();
}

void TestHandshake::subprotocolInOurOrder()
{
    FakeExchange ex("GET", "/ws",
                    upgradeHeaders({{"Sec-WebSocket-Protocol", "v1.chat, v2.chat"},
                                    {"Sec-WebSocket-Protocol", "v3.chat"}}));
    Session *s = Session::accept(ex, Settings(), {"v3.chat", "v2.chat"});
    QVERIFY(s);
    QCOMPARE(ex.header("Sec-WebSocket-Protocol"), QByteArray("v3.chat"));
    QCOMPARE(s->subprotocol(), QByteArrayView("v3.chat"));
    ex.simulateClientAbort();

    FakeExchange none("GET", "/ws", upgradeHeaders({{"Sec-WebSocket-Protocol", "other"}}));
    Session *s2 = Session::accept(none, Settings(), {"v3.chat"});
    QVERIFY(s2);
    QVERIFY(none.header("Sec-WebSocket-Protocol").isNull());
    QVERIFY(s2->subprotocol().isEmpty());
    none.simulateClientAbort();
}

void TestHandshake::http2ExtendedConnect()
{
    // RFC 8441: no key, no accept; the tunnel answers 200 on HTTP/2 (101 on the fake).
    FakeExchange ex("CONNECT", "/ws", {{"sec-websocket-version", "13"}});
    ex.request().head.protocol = "websocket";
    const Handshake h = checkHandshake(ex.request(), {}, {}, true);
    QCOMPARE(h.status, 0);
    QVERIFY(h.accept.isEmpty());
    Session *s = Session::accept(ex, Settings());
    QVERIFY(s);
    QVERIFY(ex.header("Sec-WebSocket-Accept").isNull());
    ex.simulateClientAbort();

    FakeExchange bad("CONNECT", "/ws", {{"sec-websocket-version", "8"}});
    bad.request().head.protocol = "websocket";
    QVERIFY(!Session::accept(bad, Settings()));
    QCOMPARE(bad.status(), 426);
}

QTEST_GUILESS_MAIN(TestHandshake)
#include "tst_handshake.moc"
