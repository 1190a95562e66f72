// berth.ws_chat through FakeExchange tunnels: a message reaches every client of every app
// instance (event-loop thread) sharing the bus, the sender included, with its type; messages
// from other workers (the master's end of the bus) reach the clients and the clients' messages
// go out to it; two apps are two rooms; a client that falls behind is closed 1008 while the
// others keep receiving; max_connections answers 503.
#include "apps/websocket/wschatapp.h"
#include "fakeexchange.h"
#include "runtime/broadcastbus.h"
#include "runtime/buswire.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <QtTest>

#include <sys/socket.h>
#include <unistd.h>

using namespace Berth;
using Apps::WsChatApp;
using Tests::FakeExchange;

namespace {

// A masked client frame.
QByteArray clientFrame(int opcode, QByteArrayView payload)
{
    QByteArray f;
    f.append(char(0x80 | opcode));
    if (payload.size() < 126) {
        f.append(char(0x80 | payload.size()));
    } else {
        f.append(char(0x80 | 126));
        f.append(char(payload.size() >> 8));
        f.append(char(payload.size() & 0xff));
    }
    const char mask[4] = {0x11, 0x22, 0x33, 0x44};
    f.append(mask, 4);
    for (qsizetype i = 0; i < payload.size(); ++i)
        f.append(char(payload[i] ^ mask[i % 4]));
    return f;
}

struct ServerFrame
{
    int opcode = 0;
    QByteArray payload;
};

// Splits what the server wrote into frames (unmasked, possibly several).
QList<ServerFrame> serverFrames(QByteArray bytes)
{
    QList<ServerFrame> frames;
    while (bytes.size() >= 2) {
        const int opcode = quint8(bytes[0]) & 0x0f;
        qsizetype length = quint8(bytes[1]) & 0x7f;
        qsizetype header = 2;
        if (length == 126) {
            length = (qsizetype(quint8(bytes[2])) << 8) | quint8(bytes[3]);
            header = 4;
        } else if (length == 127) {
            length = 0;
            for (int i = 0; i < 8; ++i)
                length = (length << 8) | quint8(bytes[2 + i]);
            header = 10;
        }
        if (bytes.size() < header + length)
            break;
        frames.append({opcode, bytes.mid(header, length)});
        bytes.remove(0, header + length);
    }
    return frames;
}

FakeExchange::Headers upgradeHeaders()
{
    return {{"Host", "a"},
            {"Upgrade", "websocket"},
            {"Connection", "Upgrade"},
            {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
            {"Sec-WebSocket-Version", "13"}};
}

Apps::WebSocketAppOptions options()
{
    Apps::WebSocketAppOptions o;
    o.session.deflate = false;
    o.session.pingIntervalMs = 0;
    return o;
}

void settle()
{
    // Bus deliveries are queued to the event loop, never run inside publish().
    for (int i = 0; i < 5; ++i)
        QCoreApplication::processEvents();
}

} // namespace

class tst_WsChatApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void everyClientOfEveryInstanceReceives();
    void twoAppsAreTwoRooms();
    void otherWorkersThroughTheMaster();
    void slowClientIsClosedOthersKeepReceiving();
    void maxConnectionsAnswers503();
};

void tst_WsChatApp::everyClientOfEveryInstanceReceives()
{
    Core::BroadcastBus bus;
    Core::ServerContext context;
    context.bus = &bus;
    // Two instances, as two event-loop threads of one worker have.
    WsChatApp first(options(), &context);
    WsChatApp second(options(), &context);
    first.setName(QStringLiteral("chat"));
    second.setName(QStringLiteral("chat"));
    FakeExchange a("GET", "/chat", upgradeHeaders());
    FakeExchange b("GET", "/chat", upgradeHeaders());
    FakeExchange c("GET", "/chat", upgradeHeaders());
    first.handle(a);
    first.handle(b);
    second.handle(c);
    QCOMPARE(a.status(), 101);
    QCOMPARE(c.status(), 101);
    a.takeTunnelOutput();
    b.takeTunnelOutput();
    c.takeTunnelOutput();

    a.feedTunnel(clientFrame(0x1, "hello"));
    settle();
    for (FakeExchange *ex : {&a, &b, &c}) {
        const QList<ServerFrame> got = serverFrames(ex->takeTunnelOutput());
        QCOMPARE(got.size(), 1);
        QCOMPARE(got[0].opcode, 0x1);
        QCOMPARE(got[0].payload, QByteArray("hello"));
    }
    c.feedTunnel(clientFrame(0x2, QByteArray("\x00\xff", 2)));
    settle();
    for (FakeExchange *ex : {&a, &b, &c}) {
        const QList<ServerFrame> got = serverFrames(ex->takeTunnelOutput());
        QCOMPARE(got.size(), 1);
        QCOMPARE(got[0].opcode, 0x2); // binary stays binary
        QCOMPARE(got[0].payload, QByteArray("\x00\xff", 2));
    }
}

void tst_WsChatApp::twoAppsAreTwoRooms()
{
    Core::BroadcastBus bus;
    Core::ServerContext context;
    context.bus = &bus;
    WsChatApp lobby(options(), &context);
    WsChatApp support(options(), &context);
    lobby.setName(QStringLiteral("lobby"));
    support.setName(QStringLiteral("support"));
    FakeExchange a("GET", "/lobby", upgradeHeaders());
    FakeExchange b("GET", "/support", upgradeHeaders());
    lobby.handle(a);
    support.handle(b);
    a.takeTunnelOutput();
    b.takeTunnelOutput();
    a.feedTunnel(clientFrame(0x1, "lobby only"));
    settle();
    QCOMPARE(serverFrames(a.takeTunnelOutput()).size(), 1);
    QVERIFY(b.takeTunnelOutput().isEmpty());
}

void tst_WsChatApp::otherWorkersThroughTheMaster()
{
    int pair[2];
    QCOMPARE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    Core::BroadcastBus bus(pair[0]);
    Core::ServerContext context;
    context.serverName = QStringLiteral("demo");
    context.bus = &bus;
    WsChatApp app(options(), &context);
    app.setName(QStringLiteral("chat"));
    FakeExchange a("GET", "/chat", upgradeHeaders());
    app.handle(a);
    a.takeTunnelOutput();

    // What another worker published arrives from the master.
    const QByteArray fromElsewhere = Core::BusWire::encode(
        "demo/chat", WsChatApp::encodeMessage(WebSocket::MessageType::Text, "from B"));
    QCOMPARE(::write(pair[1], fromElsewhere.constData(), size_t(fromElsewhere.size())),
             ssize_t(fromElsewhere.size()));
    QByteArray output;
    // Not inside QTRY_*: it evaluates its expression again after it turned true.
    for (int i = 0; i < 500 && output.isEmpty(); ++i) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
        output += a.takeTunnelOutput();
    }
    const QList<ServerFrame> got = serverFrames(output);
    QCOMPARE(got.size(), 1);
    QCOMPARE(got[0].payload, QByteArray("from B"));
    QCOMPARE(bus.received(), 1u);

    // What this client says goes to the master, under the room's topic.
    a.feedTunnel(clientFrame(0x1, "from A"));
    const QByteArray expected = Core::BusWire::encode(
        "demo/chat", WsChatApp::encodeMessage(WebSocket::MessageType::Text, "from A"));
    QByteArray sent(expected.size(), '\0');
    QCOMPARE(::read(pair[1], sent.data(), size_t(sent.size())), ssize_t(expected.size()));
    QCOMPARE(sent, expected);
    ::close(pair[1]);
}

void tst_WsChatApp::slowClientIsClosedOthersKeepReceiving()
{
    Core::BroadcastBus bus;
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.bus = &bus;
    context.stats = &stats;
    Apps::WebSocketAppOptions o = options();
    o.session.sendBufferBytes = 4096;
    WsChatApp app(o, &context);
    app.setName(QStringLiteral("chat"));
    app.declareStats();
    const int slowStat = stats.declare(QStringLiteral("chat.slow_closed"), Core::StatType::Sum);
    QVERIFY(slowStat >= 0);
    FakeExchange talker("GET", "/chat", upgradeHeaders());
    FakeExchange slow("GET", "/chat", upgradeHeaders());
    app.handle(talker);
    app.handle(slow);
    talker.takeTunnelOutput();
    slow.takeTunnelOutput();
    slow.setHighWaterMark(0); // its socket never drains: the session queues

    const QByteArray message(1000, 'm');
    for (int i = 0; i < 20; ++i) {
        talker.feedTunnel(clientFrame(0x1, message));
        settle();
    }
    const QList<ServerFrame> talkerGot = serverFrames(talker.takeTunnelOutput());
    QCOMPARE(talkerGot.size(), 20); // never held up by the slow one
    // The slow one was closed 1008 once its queue passed send_buffer_bytes.
    QCOMPARE(stats.value(slowStat), 1);
    // Once its socket drains, what it gets is what was queued up to the cap, then the close.
    QByteArray slowOutput;
    for (int i = 0; i < 50; ++i) {
        slow.drain();
        slowOutput += slow.takeTunnelOutput();
    }
    const QList<ServerFrame> slowGot = serverFrames(slowOutput);
    QVERIFY(!slowGot.isEmpty());
    QVERIFY(slowGot.size() < 20);
    QCOMPARE(slowGot.back().opcode, 0x8);
    QCOMPARE(slowGot.back().payload.left(2), QByteArray("\x03\xf0", 2)); // 1008
}

void tst_WsChatApp::maxConnectionsAnswers503()
{
    Core::BroadcastBus bus;
    Core::ServerContext context;
    context.bus = &bus;
    Apps::WebSocketAppOptions o = options();
    o.maxConnections = 1;
    // The cap is per worker: two event-loop threads' instances share the count.
    auto count = std::make_shared<std::atomic<qint64>>(0);
    WsChatApp app(o, &context, count);
    WsChatApp otherThread(o, &context, count);
    app.setName(QStringLiteral("chat"));
    otherThread.setName(QStringLiteral("chat"));
    FakeExchange first("GET", "/chat", upgradeHeaders());
    FakeExchange second("GET", "/chat", upgradeHeaders());
    app.handle(first);
    otherThread.handle(second);
    QCOMPARE(first.status(), 101);
    QCOMPARE(second.status(), 503);
    QCOMPARE(count->load(), 1);
}

QTEST_GUILESS_MAIN(tst_WsChatApp)
#include "tst_wschatapp.moc"
