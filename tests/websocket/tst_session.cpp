// WebSocket sessions on a FakeExchange tunnel: echo, control frames, the close handshake,
// protocol errors, limits, back-pressure (queue, paused input, the writable callback),
// keep-alive pings and timeouts fired by the fake's timers (no clock, no sleeps), exceptions
// from app callbacks, and permessage-deflate end to end.
#include "fakeexchange.h"
#include "websocket/frame.h"
#include "websocket/session.h"

#include <QtTest>

#include <stdexcept>

#include <zlib.h>

using namespace Berth;
using namespace Berth::WebSocket;
using Tests::FakeExchange;

namespace {

const quint8 Mask[4] = {1, 2, 3, 4};

QByteArray clientFrame(Opcode op, QByteArrayView payload, bool fin = true, bool rsv1 = false)
{
    QByteArray out;
    appendFrame(out, op, payload, fin, rsv1, Mask);
    return out;
}

struct ServerFrame
{
    Opcode opcode;
    bool rsv1;
    QByteArray payload;
};

QList<ServerFrame> serverFrames(const QByteArray &bytes)
{
    QList<ServerFrame> frames;
    FrameParser parser(FrameOptions{1 << 30, false, true});
    QByteArray buffer = bytes;
    qsizetype pos = 0;
    while (parser.next(buffer, pos) == FrameParser::Result::Frame)
        frames.append(
            {parser.header().opcode, parser.header().rsv1, parser.payload().toByteArray()});
    return frames;
}

int closeCode(const ServerFrame &f)
{
    if (f.payload.size() < 2)
        return 1005;
    return (quint8(f.payload[0]) << 8) | quint8(f.payload[1]);
}

FakeExchange::Headers upgrade(const FakeExchange::Headers &extra = {})
{
    return FakeExchange::Headers{{"Host", "a"},
                                 {"Connection", "Upgrade"},
                                 {"Upgrade", "websocket"},
                                 {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                 {"Sec-WebSocket-Version", "13"}} +
           extra;
}

// One session with an echoing app, and what it reported.
struct Harness
{
    explicit Harness(const Settings &settings = Settings(), const FakeExchange::Headers &extra = {})
        : ex("GET", "/ws", upgrade(extra))
    {
        session = Session::accept(ex, settings);
        if (!session)
            return;
        session->onMessage([this](MessageType type, QByteArrayView payload) {
            messages.append({type, payload.toByteArray()});
            if (throwOnMessage)
                throw std::runtime_error("app bug");
            if (echo)
                (type == MessageType::Text ? session->sendText(payload)
                                           : session->sendBinary(payload));
        });
        session->onClose([this](int code, QByteArrayView reason) {
            ++closes;
            closeCodeSeen = code;
            closeReason = reason.toByteArray();
            session = nullptr; // deleted right after
        });
    }
    ~Harness()
    {
        if (session)
            ex.simulateClientAbort();
    }
    QList<ServerFrame> output() { return serverFrames(ex.takeTunnelOutput()); }

    FakeExchange ex;
    Session *session = nullptr;
    QList<QPair<MessageType, QByteArray>> messages;
    int closes = 0;
    int closeCodeSeen = 0;
    QByteArray closeReason;
    bool echo = true;
    bool throwOnMessage = false;
};

} // namespace

class TestSession : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void echoesTextAndBinary();
    void reassemblesFragmentsAroundPing();
    void closeHandshakeEchoesCode_data();
    void closeHandshakeEchoesCode();
    void protocolErrors_data();
    void protocolErrors();
    void serverCloseWaitsThenTimesOut();
    void peerEndWithoutCloseIs1006();
    void drainSaysGoingAway();
    void exceptionFromHandlerCloses1011();
    void backPressurePausesInputAndCallsWritable();
    void slowPeerIsGivenUp();
    void keepAlivePingAndPongTimeout();
    void inputKeepsConnectionWithoutPing();
    void deflateBothWays();
    void closeFromInsideMessageHandler();
};

void TestSession::echoesTextAndBinary()
{
    Harness h;
    QVERIFY(h.session);
    QCOMPARE(h.ex.status(), 101);
    h.ex.feedTunnel(clientFrame(Opcode::Text, "héllo") + clientFrame(Opcode::Binary, "\x00\xff"));
    QCOMPARE(h.messages.size(), 2);
    QCOMPARE(h.messages[0].first, MessageType::Text);
    const auto out = h.output();
    QCOMPARE(out.size(), 2);
    QCOMPARE(out[0].opcode, Opcode::Text);
    QCOMPARE(out[0].payload, QByteArray("héllo"));
    QCOMPARE(out[1].opcode, Opcode::Binary);
    // Bytes split anywhere, even inside the header.
    const QByteArray f = clientFrame(Opcode::Text, QByteArray(70000, 'w'));
    for (qsizetype i = 0; i < f.size(); i += 999)
        h.ex.feedTunnel(f.sliced(i, qMin<qsizetype>(999, f.size() - i)));
    QCOMPARE(h.messages.size(), 3);
    QCOMPARE(h.messages[2].second.size(), 70000);
    QVERIFY(h.ex.protocolErrors().isEmpty());
}

void TestSession::reassemblesFragmentsAroundPing()
{
    Harness h;
    h.ex.feedTunnel(clientFrame(Opcode::Text, "a", false) + clientFrame(Opcode::Ping, "p!") +
                    clientFrame(Opcode::Continuation, "b", false) +
                    clientFrame(Opcode::Continuation, "c") + clientFrame(Opcode::Pong, "x"));
    QCOMPARE(h.messages.size(), 1);
    QCOMPARE(h.messages[0].second, QByteArray("abc"));
    const auto out = h.output();
    QCOMPARE(out.size(), 2);
    QCOMPARE(out[0].opcode, Opcode::Pong);
    QCOMPARE(out[0].payload, QByteArray("p!"));
    QCOMPARE(out[1].payload, QByteArray("abc")); // the unsolicited pong got no answer
}

void TestSession::closeHandshakeEchoesCode_data()
{
    QTest::addColumn<QByteArray>("payload");
    QTest::addColumn<int>("reported");
    QTest::addColumn<int>("echoed");
    QTest::newRow("1000") << closePayload(1000, "bye") << 1000 << 1000;
    QTest::newRow("4000") << closePayload(4000, {}) << 4000 << 4000;
    QTest::newRow("none") << QByteArray() << 1005 << 1005;
}

void TestSession::closeHandshakeEchoesCode()
{
    QFETCH(QByteArray, payload);
    QFETCH(int, reported);
    QFETCH(int, echoed);
    Harness h;
    h.ex.feedTunnel(clientFrame(Opcode::Close, payload) + clientFrame(Opcode::Text, "late"));
    QCOMPARE(h.closes, 1);
    QCOMPARE(h.closeCodeSeen, reported);
    QVERIFY(h.messages.isEmpty());
    const auto out = h.output();
    QCOMPARE(out.size(), 1);
    QCOMPARE(out[0].opcode, Opcode::Close);
    QCOMPARE(closeCode(out[0]), echoed);
    QVERIFY(h.ex.finished()); // the server closes TCP first
    QVERIFY(!h.ex.aborted());
}

void TestSession::protocolErrors_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("code");
    QByteArray unmasked;
    appendFrame(unmasked, Opcode::Text, "x");
    QTest::newRow("unmasked") << unmasked << 1002;
    QTest::newRow("bad utf8") << clientFrame(Opcode::Text, "\xc0\xaf") << 1007;
    QTest::newRow("bad utf8 across fragments") << clientFrame(Opcode::Text, "ok\xed", false) +
                                                      clientFrame(Opcode::Continuation, "\xa0\x80")
                                               << 1007;
    QTest::newRow("invalid close code")
        << clientFrame(Opcode::Close, closePayload(1004, {})) << 1002;
    QTest::newRow("close 999") << clientFrame(Opcode::Close, QByteArray("\x03\xe7", 2)) << 1002;
    QTest::newRow("one byte close") << clientFrame(Opcode::Close, "x") << 1002;
    QTest::newRow("close reason not utf8")
        << clientFrame(Opcode::Close, closePayload(1000, "\xff")) << 1007;
    QTest::newRow("message too big") << clientFrame(Opcode::Binary, QByteArray(2000, 'b'), false) +
                                            clientFrame(Opcode::Continuation, QByteArray(100, 'b'))
                                     << 1009;
    QTest::newRow("frame too big") << clientFrame(Opcode::Binary, QByteArray(3000, 'b')) << 1009;
    QTest::newRow("rsv1 without deflate") << clientFrame(Opcode::Binary, "x", true, true) << 1002;
}

void TestSession::protocolErrors()
{
    QFETCH(QByteArray, input);
    QFETCH(int, code);
    Settings s;
    s.maxMessageBytes = 2048;
    s.maxFrameBytes = 2048;
    Harness h(s);
    h.ex.feedTunnel(input);
    QCOMPARE(h.closes, 1);
    QCOMPARE(h.closeCodeSeen, code);
    const auto out = h.output();
    QVERIFY(!out.isEmpty());
    QCOMPARE(out.last().opcode, Opcode::Close);
    QCOMPARE(closeCode(out.last()), code);
    QVERIFY(h.ex.finished());
    QVERIFY(h.messages.isEmpty());
}

void TestSession::serverCloseWaitsThenTimesOut()
{
    Settings s;
    s.pingIntervalMs = 0;
    Harness h(s);
    h.session->close(4001, "going");
    const auto out = h.output();
    QCOMPARE(out.size(), 1);
    QCOMPARE(closeCode(out[0]), 4001);
    QCOMPARE(out[0].payload.sliced(2), QByteArray("going"));
    QCOMPARE(h.closes, 0); // waiting for the peer's close frame
    QVERIFY(!h.session->sendText("nope"));
    h.ex.feedTunnel(clientFrame(Opcode::Text, "discarded"));
    QVERIFY(h.messages.isEmpty());
    QCOMPARE(h.ex.pendingTimers(), 1);
    h.ex.runTimers(); // close_timeout passes without an answer
    QCOMPARE(h.closes, 1);
    QCOMPARE(h.closeCodeSeen, 1006);
    QVERIFY(h.ex.aborted());

    // Answered in time: the peer's code is reported and the exchange finishes cleanly.
    Harness h2(s);
    h2.session->close();
    h2.ex.feedTunnel(clientFrame(Opcode::Close, closePayload(1000, {})));
    QCOMPARE(h2.closes, 1);
    QCOMPARE(h2.closeCodeSeen, 1000);
    QVERIFY(h2.ex.finished());
    QCOMPARE(h2.output().size(), 1); // our close frame only: not echoed twice
}

void TestSession::drainSaysGoingAway()
{
    Settings s;
    s.pingIntervalMs = 0;
    Harness h(s);
    h.ex.simulateDrain(); // a stop or reload
    const auto out = h.output();
    QCOMPARE(out.size(), 1);
    QCOMPARE(closeCode(out[0]), 1001);
    QCOMPARE(h.closes, 0); // the client's answer ends it
    h.ex.feedTunnel(clientFrame(Opcode::Close, closePayload(1001, {})));
    QCOMPARE(h.closes, 1);
    QCOMPARE(h.closeCodeSeen, 1001);
    QVERIFY(h.ex.finished());

    // A session already closing sends no second close frame.
    Harness h2(s);
    h2.session->close(4000, {});
    QCOMPARE(h2.output().size(), 1);
    h2.ex.simulateDrain();
    QCOMPARE(h2.output().size(), 0);
}

void TestSession::peerEndWithoutCloseIs1006()
{
    Harness h;
    h.ex.feedTunnel(clientFrame(Opcode::Text, "half", false));
    h.ex.endTunnelInput();
    QCOMPARE(h.closes, 1);
    QCOMPARE(h.closeCodeSeen, 1006);
    QVERIFY(h.ex.finished());

    Harness h2;
    h2.ex.simulateClientAbort();
    QCOMPARE(h2.closes, 1);
    QCOMPARE(h2.closeCodeSeen, 1006);
}

void TestSession::exceptionFromHandlerCloses1011()
{
    Harness h;
    h.throwOnMessage = true;
    h.ex.feedTunnel(clientFrame(Opcode::Text, "boom"));
    QCOMPARE(h.closes, 1);
    QCOMPARE(h.closeCodeSeen, 1011);
    const auto out = h.output();
    QCOMPARE(out.size(), 1);
    QCOMPARE(closeCode(out[0]), 1011);
}

void TestSession::backPressurePausesInputAndCallsWritable()
{
    Settings s;
    s.sendBufferBytes = 10000;
    Harness h(s);
    h.ex.setHighWaterMark(4000);
    int writable = 0;
    h.session->onWritable([&] { ++writable; });
    // Each echo is 3000 bytes: the exchange fills, then our queue, then input pauses.
    for (int i = 0; i < 8; ++i)
        h.ex.feedTunnel(clientFrame(Opcode::Binary, QByteArray(3000, char('a' + i))));
    QVERIFY(h.ex.tunnelPaused());
    QVERIFY(h.session->bufferedBytes() > 10000);
    QVERIFY(h.session->bufferedBytes() <= 10000 + 3010);
    const int delivered = int(h.messages.size());
    QVERIFY(delivered < 8); // the rest waits in the exchange, unread
    QVERIFY(!h.session->sendText("over the mark"));
    // The peer reads: the queue drains, input resumes, the app may write again.
    for (int i = 0; i < 20 && (h.ex.tunnelPaused() || h.ex.tunnelInputHeld() > 0); ++i)
        h.ex.drain();
    QVERIFY(!h.ex.tunnelPaused());
    QCOMPARE(h.messages.size(), 8);
    QVERIFY(writable >= 1);
    for (int i = 0; i < 20; ++i)
        h.ex.drain();
    QCOMPARE(h.session->bufferedBytes(), 0);
    const auto out = h.output();
    QCOMPARE(out.size(), 9);
    // Everything went out in order: the text queued while full sits between the echoes.
    QCOMPARE(out.last().payload, QByteArray(3000, 'h'));
    QCOMPARE(out[delivered].payload, QByteArray("over the mark"));
}

void TestSession::slowPeerIsGivenUp()
{
    Settings s;
    s.sendBufferBytes = 1024;
    Harness h(s);
    h.ex.setHighWaterMark(1);
    // A broadcaster keeps sending while the peer reads nothing: at 4x the buffer, it's over.
    int sent = 0;
    while (h.session && sent < 100) {
        h.session->sendBinary(QByteArray(500, 'z'));
        ++sent;
    }
    QVERIFY(sent < 20);
    QCOMPARE(h.closes, 1);
    QCOMPARE(h.closeCodeSeen, 1008);
    QVERIFY(h.ex.aborted());
}

void TestSession::keepAlivePingAndPongTimeout()
{
    Settings s;
    s.pingIntervalMs = 1000;
    s.pongTimeoutMs = 500;
    Harness h(s);
    QCOMPARE(h.ex.pendingTimers(), 1);
    h.ex.runTimers(); // ping_interval without input: a ping
    auto out = h.output();
    QCOMPARE(out.size(), 1);
    QCOMPARE(out[0].opcode, Opcode::Ping);
    h.ex.feedTunnel(clientFrame(Opcode::Pong, {}));
    h.ex.runTimers(); // the pong came: back to waiting
    QCOMPARE(h.closes, 0);
    h.ex.runTimers(); // idle again: another ping
    out = h.output();
    QCOMPARE(out.size(), 1);
    QCOMPARE(out[0].opcode, Opcode::Ping);
    h.ex.runTimers(); // no pong within pong_timeout
    QCOMPARE(h.closes, 1);
    QCOMPARE(h.closeCodeSeen, 1006);
    QVERIFY(h.ex.aborted());
}

void TestSession::inputKeepsConnectionWithoutPing()
{
    Settings s;
    s.pingIntervalMs = 1000;
    Harness h(s);
    h.echo = false;
    for (int i = 0; i < 5; ++i) {
        h.ex.feedTunnel(clientFrame(Opcode::Text, "tick"));
        h.ex.runTimers();
    }
    QVERIFY(h.output().isEmpty()); // never idle for a whole interval: no ping
    QCOMPARE(h.closes, 0);
}

void TestSession::deflateBothWays()
{
    Harness h(Settings(), {{"Sec-WebSocket-Extensions", "permessage-deflate"}});
    QCOMPARE(h.ex.header("Sec-WebSocket-Extensions"), QByteArray("permessage-deflate"));
    z_stream client{};
    QCOMPARE(deflateInit2(&client, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    const QByteArray text = QByteArray("compress me, ").repeated(500);
    QByteArray compressed(text.size() + 64, Qt::Uninitialized);
    client.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(text.data()));
    client.avail_in = uInt(text.size());
    client.next_out = reinterpret_cast<Bytef *>(compressed.data());
    client.avail_out = uInt(compressed.size());
    deflate(&client, Z_SYNC_FLUSH);
    compressed.resize(compressed.size() - qsizetype(client.avail_out) - 4);
    deflateEnd(&client);
    // Two frames: RSV1 on the first only.
    const qsizetype cut = compressed.size() / 2;
    h.ex.feedTunnel(clientFrame(Opcode::Text, compressed.first(cut), false, true) +
                    clientFrame(Opcode::Continuation, compressed.sliced(cut)));
    QCOMPARE(h.messages.size(), 1);
    QCOMPARE(h.messages[0].second, text);
    const auto out = h.output();
    QCOMPARE(out.size(), 1);
    QVERIFY(out[0].rsv1);
    QVERIFY(out[0].payload.size() < text.size() / 5);
    z_stream in{};
    QCOMPARE(inflateInit2(&in, -15), Z_OK);
    QByteArray payload = out[0].payload + QByteArray("\x00\x00\xff\xff", 4);
    QByteArray inflated(text.size() + 64, Qt::Uninitialized);
    in.next_in = reinterpret_cast<Bytef *>(payload.data());
    in.avail_in = uInt(payload.size());
    in.next_out = reinterpret_cast<Bytef *>(inflated.data());
    in.avail_out = uInt(inflated.size());
    inflate(&in, Z_SYNC_FLUSH);
    inflated.resize(inflated.size() - qsizetype(in.avail_out));
    inflateEnd(&in);
    QCOMPARE(inflated, text);
}

void TestSession::closeFromInsideMessageHandler()
{
    FakeExchange ex("GET", "/ws", upgrade());
    Session *s = Session::accept(ex, Settings());
    QVERIFY(s);
    int closes = 0;
    s->onMessage([s](MessageType, QByteArrayView) { s->close(1000, "done"); });
    s->onClose([&](int code, QByteArrayView) {
        ++closes;
        QCOMPARE(code, 1000);
    });
    ex.feedTunnel(clientFrame(Opcode::Text, "one") + clientFrame(Opcode::Text, "two") +
                  clientFrame(Opcode::Close, closePayload(1000, {})));
    QCOMPARE(closes, 1);
    QVERIFY(ex.finished());
    const auto out = serverFrames(ex.takeTunnelOutput());
    QCOMPARE(out.size(), 1); // one close frame, sent from the handler
}

QTEST_GUILESS_MAIN(TestSession)
#include "tst_session.moc"
