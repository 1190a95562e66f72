// The HTTP/1 connection driven through the fake transport and injected clock of
// http1harness.h: pipelining, timeouts, idle connections and their buffers, back-pressure, and
// the app boundary (abort handler on engine answers, exceptions from async callbacks, tunnels) —
// without sockets or sleeps. How a connection ends: tst_http1closing.
#include "http1harness.h"

#include <utility>

using namespace Berth;
using namespace Berth::Tests;

class TestHttp1Connection : public QObject, public Http1Harness
{
    Q_OBJECT

private Q_SLOTS:
    void init() { setUp(); }
    void cleanup() { tearDown(); }
    void pipelinedRequestsAnswerInOrder();
    void headerTimeoutIs408WithoutSleeping();
    void idleTimeoutClosesKeepAlive();
    void idleConnectionSleepsUntilItsDeadline();
    void idleConnectionLendsItsBuffersToTheThread();
    void idleConnectionHoldsNoExchange();
    void keepAliveDeadlineFollowsTheLastRequest();
    void heldHeadSurvivesLaterInput();
    void txnIdsCountUpWithoutReuse();
    void staleExchangeReferenceTouchesNothing();
    void closedConnectionIsDeletedAfterTheTurn();
    void backPressureWaitsForWritable();
    void engine413MidBodyRunsAbortHandler();
    void exceptionInTimerIs500();
    void exceptionInHandleRunsAbortHandler();
    void handleTurnsNullWhenExchangeEnds();
    void attributesReleasedWhenExchangeEnds();
    void tunnelSwitchesWith101AndCarriesRawBytes();
    void tunnelOutlivesIdleAndBodyTimeouts();
    void tunnelPeerEndReachesOwner();
    void tunnelSendTimeoutStillApplies();
    void tunnelRefusedWithoutUpgrade_data();
    void tunnelRefusedWithoutUpgrade();
};

void TestHttp1Connection::pipelinedRequestsAnswerInOrder()
{
    feed("GET /answer/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /answer/2 HTTP/1.1\r\nHost: a\r\n\r\n"
         "GET /answer/3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    const QByteArray out = m_wire->fromServer;
    QCOMPARE(out.count("HTTP/1.1 200 OK"), 3);
    const qsizetype a = out.indexOf("/answer/1"), b = out.indexOf("/answer/2"),
                    c = out.indexOf("/answer/3");
    QVERIFY(a > 0 && a < b && b < c);
    QVERIFY(out.contains("Connection: close"));
    QVERIFY(m_wire->serverShutdown); // the last one closes: half-close, then linger
}

void TestHttp1Connection::headerTimeoutIs408WithoutSleeping()
{
    feed("GET /answer HTTP/1.1\r\nHost: a\r\n");
    advance(9'999);
    QVERIFY(m_wire->fromServer.isEmpty());
    advance(1);
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 408 "));
    QVERIFY(m_wire->fromServer.contains("Connection: close"));
}

void TestHttp1Connection::idleTimeoutClosesKeepAlive()
{
    feed("GET /answer HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 200 "));
    QCOMPARE(m_manager->connectionCount(), 1);
    advance(74'999);
    QCOMPARE(m_manager->connectionCount(), 1);
    advance(1);
    QCOMPARE(m_manager->connectionCount(), 0);
}

void TestHttp1Connection::idleConnectionSleepsUntilItsDeadline()
{
    // Between requests the connection is armed for its exact deadline (idle_timeout: it gave
    // every buffer back when the exchange ended, so there is no idle release to wake up for),
    // and the ticks in between check nothing at all.
    feed("GET /answer HTTP/1.1\r\nHost: a\r\n\r\n");
    const qint64 answered = m_now;
    Engine::TimerWheel &wheel = m_manager->timers();
    QCOMPARE(wheel.count(), 1);
    int fired = 0;
    for (m_now += 100; m_now < answered + 75'000; m_now += 100)
        fired += wheel.advance(m_now);
    QCOMPARE(fired, 0);
    QCOMPARE(m_manager->connectionCount(), 1);
    QCOMPARE(wheel.advance(answered + 75'000), 1);
    QCOMPARE(m_manager->connectionCount(), 0);
    QCOMPARE(wheel.count(), 0);

    // A connection that sends part of a head gets its 408 at header_timeout, through the wheel.
    m_wire = std::make_shared<Wire>();
    m_connection = openConnection();
    feed("GET /answer HTTP/1.1\r\nHost: a\r\n");
    QCOMPARE(wheel.count(), 1);
    advance(10'000);
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 408 "));
}

void TestHttp1Connection::idleConnectionLendsItsBuffersToTheThread()
{
    using namespace Engine;
    // Drain whatever earlier tests left in this thread's pools.
    while (ThreadBuffers::takeBytes().capacity() > 0) {
    }
    while (ThreadBuffers::takeFields().capacity() > 0) {
    }
    feed("GET /answer HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 200 "));
    QCOMPARE(m_manager->connectionCount(), 1);
    // Answered and idle: its input buffer, head storage, header fields and output buffer are
    // the thread's.
    QByteArray a = ThreadBuffers::takeBytes();
    QByteArray b = ThreadBuffers::takeBytes();
    QByteArray c = ThreadBuffers::takeBytes();
    std::vector<Http::HeaderField> fields = ThreadBuffers::takeFields();
    QVERIFY(a.capacity() > 0);
    QVERIFY(b.capacity() > 0);
    QVERIFY(c.capacity() > 0);
    QVERIFY(fields.capacity() > 0);
    QCOMPARE(ThreadBuffers::takeBytes().capacity(), 0);
    ThreadBuffers::giveBytes(a);
    ThreadBuffers::giveBytes(b);
    ThreadBuffers::giveBytes(c);
    ThreadBuffers::giveFields(fields);
    QVERIFY(a.isNull());
    QCOMPARE(fields.capacity(), size_t(0));

    // The next request borrows them back (and answers as before); pipelined input keeps them.
    m_wire->fromServer.clear();
    feed("GET /answer/2 HTTP/1.1\r\nHost: a\r\n\r\nGET /answer/3 HTTP/1.1\r\nHost: a\r\n\r\n");
    QCOMPARE(m_wire->fromServer.count("HTTP/1.1 200 OK"), 2);
    QVERIFY(m_wire->fromServer.indexOf("/answer/2") < m_wire->fromServer.indexOf("/answer/3"));
    QVERIFY(ThreadBuffers::takeBytes().capacity() > 0);
}

void TestHttp1Connection::idleConnectionHoldsNoExchange()
{
    // Before the first byte and between requests the connection borrows no exchange.
    QVERIFY(!m_connection->exchange());
    const int pooled = m_manager->pooledHttp1Exchanges();
    feed("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    Http::Exchange *inFlight = m_connection->exchange();
    QVERIFY(inFlight);
    QCOMPARE(m_manager->pooledHttp1Exchanges(), qMax(pooled - 1, 0));
    m_observed.handle->respond(204, {}, {});
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 204 "));
    // Answered with nothing pending: the exchange went back to the thread's pool...
    QVERIFY(!m_connection->exchange());
    QCOMPARE(m_manager->pooledHttp1Exchanges(), qMax(pooled - 1, 0) + 1);
    // ...and the next request borrows it back, on this connection or another one.
    feed("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    QCOMPARE(m_connection->exchange(), inFlight);
    QCOMPARE(m_observed.handle->request().head.target, QByteArrayView("/hold"));
    // A partial head keeps it: the bytes already parsed belong to it.
    m_observed.handle->respond(204, {}, {});
    feed("GET /ho");
    QVERIFY(m_connection->exchange());
    feed("ld HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(m_observed.handle);
    QCOMPARE(m_wire->fromServer.count("HTTP/1.1 204 "), 2);
}

void TestHttp1Connection::keepAliveDeadlineFollowsTheLastRequest()
{
    // A keep-alive connection keeps the idle deadline of its previous request when the new one
    // is only a little later (no move in the timer wheel per request): that arm fires early,
    // finds the connection idle for less than idle_timeout and re-arms, so the connection
    // still closes exactly idle_timeout after its last request, not before.
    feed("GET /answer/1 HTTP/1.1\r\nHost: a\r\n\r\n");
    advance(5'000);
    feed("GET /answer/2 HTTP/1.1\r\nHost: a\r\n\r\n");
    QCOMPARE(m_wire->fromServer.count("HTTP/1.1 200 OK"), 2);
    const qint64 last = m_now;
    advance(75'000 - 1);
    QCOMPARE(m_manager->connectionCount(), 1);
    advance(1);
    QCOMPARE(m_now, last + 75'000);
    QCOMPARE(m_manager->connectionCount(), 0);

    // Far earlier (the header_timeout of a fresh connection): re-armed at once, so nothing
    // fires before the idle deadline.
    m_wire = std::make_shared<Wire>();
    m_connection = openConnection();
    feed("GET /answer HTTP/1.1\r\nHost: a\r\n\r\n");
    const qint64 answered = m_now;
    int fired = 0;
    for (m_now += 100; m_now < answered + 75'000; m_now += 100)
        fired += m_manager->timers().advance(m_now);
    QCOMPARE(fired, 0);
}

void TestHttp1Connection::heldHeadSurvivesLaterInput()
{
    // A head that was the whole input moved with its buffer (no copy); the next bytes read go
    // to another buffer and leave the held request's views intact. The same when the head was
    // copied out from behind pipelined bytes.
    feed("GET /hold?q=1 HTTP/1.1\r\nHost: first.example\r\nX-Mark: one\r\n\r\n");
    QVERIFY(m_observed.handle);
    feed("GET /answer/late HTTP/1.1\r\nHost: second.example\r\nX-Mark: two\r\n\r\n");
    const Http::Request &held = m_observed.handle->request();
    QCOMPARE(held.head.target, QByteArrayView("/hold?q=1"));
    QCOMPARE(held.head.host, QByteArrayView("first.example"));
    QCOMPARE(held.header("X-Mark"), QByteArrayView("one"));
    m_observed.handle->respond(204, {}, {});
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 204 "));
    QVERIFY(m_wire->fromServer.contains("/answer/late")); // then the pipelined one
}

void TestHttp1Connection::txnIdsCountUpWithoutReuse()
{
    // "<8 hex digits>-<hex counter>": consecutive within a thread's block of numbers (counted up
    // in place, across every digit carry), never repeated, and never written into an id an app
    // still holds.
    QByteArray id = m_manager->nextTxnId();
    const qsizetype dash = id.indexOf('-');
    QCOMPARE(dash, 8);
    const QByteArray prefix = id.left(dash + 1);
    bool ok = false;
    quint64 previous = id.mid(dash + 1).toULongLong(&ok, 16);
    QVERIFY(ok);
    int consecutive = 0;
    for (int i = 0; i < 5000; ++i) {
        const QByteArray kept = id; // an app holding the previous id
        m_manager->nextTxnId(id);
        QVERIFY(id.startsWith(prefix));
        const QByteArray digits = id.mid(dash + 1);
        QCOMPARE(digits, digits.toLower());
        const quint64 n = digits.toULongLong(&ok, 16);
        QVERIFY(ok);
        QCOMPARE(QByteArray::number(n, 16), digits); // no leading zeros, no stale digits
        QVERIFY(n > previous);
        consecutive += n == previous + 1;
        QCOMPARE(kept.mid(dash + 1).toULongLong(nullptr, 16), previous);
        previous = n;
    }
    QVERIFY(consecutive >= 5000 - 5); // a new block only every 1024 ids
}

void TestHttp1Connection::staleExchangeReferenceTouchesNothing()
{
    // An app that kept a plain reference past the end of its exchange (a bug, but one that
    // must not write into whatever request the pooled exchange serves next).
    feed("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    Http::Exchange *stale = m_observed.handle.get();
    QVERIFY(stale);
    stale->respond(204, {}, {});
    const QByteArray answered = m_wire->fromServer;
    stale->respond(500, "text/plain", "late");
    stale->startResponse(10);
    QVERIFY(!stale->write("late"));
    stale->finish();
    stale->abort();
    QVERIFY(!stale->startTunnel());
    QVERIFY(!stale->isTunnel());
    QCOMPARE(m_wire->fromServer, answered);
    QCOMPARE(m_manager->connectionCount(), 1); // the abort did not close the connection
    feed("GET /answer/next HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(m_wire->fromServer.mid(answered.size()).startsWith("HTTP/1.1 200 OK"));
}

void TestHttp1Connection::closedConnectionIsDeletedAfterTheTurn()
{
    // Connections are plain objects (no QObject, no deleteLater): a closed one waits for the
    // end of the loop turn, here the manager's own destruction, and its exchange goes back.
    feed("GET /answer HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 200 OK"));
    clientCloses();
    QCOMPARE(m_manager->connectionCount(), 0);
    // Still allocated: a caller of this turn may hold it.
    QVERIFY(!m_connection->isIdle());
    QCOMPARE(m_manager->pooledHttp1Exchanges(), 0);
    m_manager.reset(); // deletes the released connection; ASan checks nothing leaks or dangles
    m_connection = nullptr;
}

void TestHttp1Connection::backPressureWaitsForWritable()
{
    m_wire->writeRoom = 100 * 1024;
    feed("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(m_wire->fromServer.size() <= 100 * 1024);
    QCOMPARE(m_observed.writableCalls, 0);
    // The client reads: room again, and the app is told it may write on.
    for (int i = 0; i < 100 && m_wire->fromServer.size() < (1 << 20); ++i) {
        m_wire->writeRoom = 128 * 1024;
        m_connection->onPollEvents(false, true);
    }
    QVERIFY(m_observed.writableCalls > 0);
    const qsizetype headEnd = m_wire->fromServer.indexOf("\r\n\r\n") + 4;
    QCOMPARE(m_wire->fromServer.size() - headEnd, qsizetype(1 << 20));
    QCOMPARE(m_observed.aborts, 0);
}

void TestHttp1Connection::engine413MidBodyRunsAbortHandler()
{
    feed("POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "200\r\n" +
         QByteArray(512, 'c') + "\r\n");
    QCOMPARE(m_observed.aborts, 0);
    feed("300\r\n" + QByteArray(768, 'c') + "\r\n"); // past max_body_bytes = 1024
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 413 "));
    QCOMPARE(m_observed.aborts, 1);
    QVERIFY(!m_observed.handle);
}

void TestHttp1Connection::exceptionInTimerIs500()
{
    feed("GET /throw HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(m_wire->fromServer.isEmpty());
    QTRY_VERIFY(!m_wire->fromServer.isEmpty()); // the timer fires from the event loop
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 500 "));
    QVERIFY(m_wire->fromServer.contains("txn: "));
    QCOMPARE(m_observed.aborts, 1); // the app's exchange died before it finished it
    // The connection goes on serving.
    m_wire->fromServer.clear();
    feed("GET /answer HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 200 "));
}

void TestHttp1Connection::exceptionInHandleRunsAbortHandler()
{
    feed("GET /throw-now HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 500 "));
    QCOMPARE(m_observed.aborts, 1);
    QVERIFY(!m_observed.handle);
}

void TestHttp1Connection::handleTurnsNullWhenExchangeEnds()
{
    feed("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(m_observed.handle);
    Http::ExchangeHandle held = m_observed.handle;
    held->respond(204, {}, {});
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 204 "));
    QVERIFY(!held); // the connection moved on: a late callback can't touch the next request
    feed("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(m_observed.handle);
    QVERIFY(!held);
}

void TestHttp1Connection::attributesReleasedWhenExchangeEnds()
{
    // What apps attached (the session among them) goes when the exchange ends, not when the
    // next request on the connection starts.
    feed("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    QCOMPARE(m_observed.liveAttributes, 1);
    Http::ExchangeHandle held = m_observed.handle;
    QVERIFY(held);
    QVERIFY(held->request().attributes.get<CountedAttribute>());
    held->respond(204, {}, {});
    QCOMPARE(m_observed.liveAttributes, 0);
    QCOMPARE(m_manager->connectionCount(), 1); // kept alive, no next request yet

    // Aborted by the engine (413 mid-body): released too.
    feed("POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "200\r\n" +
         QByteArray(512, 'c') + "\r\n");
    QCOMPARE(m_observed.liveAttributes, 1);
    feed("300\r\n" + QByteArray(768, 'c') + "\r\n"); // past max_body_bytes = 1024
    QVERIFY(m_wire->fromServer.contains("HTTP/1.1 413 "));
    QCOMPARE(m_observed.liveAttributes, 0);
}

namespace {
const QByteArray UpgradeHead = "GET /tunnel HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                               "Upgrade: echo-proto\r\n\r\n";
}

void TestHttp1Connection::tunnelSwitchesWith101AndCarriesRawBytes()
{
    // Bytes right behind the head belong to the tunnel already.
    feed(UpgradeHead + "hello");
    const QByteArray out = m_wire->fromServer;
    QVERIFY(out.startsWith("HTTP/1.1 101 Switching Protocols\r\n"));
    const qsizetype headEnd = out.indexOf("\r\n\r\n") + 4;
    const QByteArray head = out.first(headEnd);
    QVERIFY(head.contains("\r\nUpgrade: echo-proto\r\n"));
    QVERIFY(head.contains("\r\nConnection: upgrade\r\n"));
    QVERIFY(!head.contains("Content-Length"));
    QVERIFY(!head.contains("Transfer-Encoding"));
    QCOMPARE(out.sliced(headEnd), QByteArray("hello"));
    // Raw bytes, not a request: "GET" here is not parsed as HTTP.
    m_wire->fromServer.clear();
    feed("GET / HTTP/1.1\r\n\r\n");
    QCOMPARE(m_wire->fromServer, QByteArray("GET / HTTP/1.1\r\n\r\n"));
    QVERIFY(m_observed.handle && m_observed.handle->isTunnel());
    // finish(): our direction ends, the connection half-closes and lingers.
    feed("bye");
    QVERIFY(m_wire->serverShutdown);
    QVERIFY(!m_observed.handle);
    QCOMPARE(m_observed.aborts, 0);
}

void TestHttp1Connection::tunnelOutlivesIdleAndBodyTimeouts()
{
    feed(UpgradeHead);
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 101 "));
    advance(10 * 60'000); // far past idle_timeout and body_timeout
    QCOMPARE(m_manager->connectionCount(), 1);
    m_wire->fromServer.clear();
    feed("still there");
    QCOMPARE(m_wire->fromServer, QByteArray("still there"));
    QCOMPARE(m_observed.aborts, 0);
}

void TestHttp1Connection::tunnelPeerEndReachesOwner()
{
    feed(UpgradeHead + "x");
    clientCloses();
    QCOMPARE(m_observed.tunnelEnds, 1);
    QCOMPARE(m_observed.aborts, 0); // the owner finished it itself
    QCOMPARE(m_manager->connectionCount(), 0);
}

void TestHttp1Connection::tunnelSendTimeoutStillApplies()
{
    feed(UpgradeHead);
    m_wire->writeRoom = 0; // the peer stops reading
    feed("big");
    advance(59'999);
    QCOMPARE(m_manager->connectionCount(), 1);
    advance(1);
    QCOMPARE(m_manager->connectionCount(), 0);
    QCOMPARE(m_observed.aborts, 1); // the owner learns the tunnel died
}

void TestHttp1Connection::tunnelRefusedWithoutUpgrade_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::newRow("no upgrade") << QByteArray("GET /tunnel HTTP/1.1\r\nHost: a\r\n\r\n");
    QTest::newRow("no connection upgrade")
        << QByteArray("GET /tunnel HTTP/1.1\r\nHost: a\r\nUpgrade: echo-proto\r\n\r\n");
    QTest::newRow("HTTP/1.0") << QByteArray("GET /tunnel HTTP/1.0\r\nHost: a\r\nConnection: "
                                            "Upgrade\r\nUpgrade: echo-proto\r\n\r\n");
    QTest::newRow("POST") << QByteArray("POST /tunnel HTTP/1.1\r\nHost: a\r\nConnection: "
                                        "Upgrade\r\nUpgrade: echo-proto\r\n"
                                        "Content-Length: 0\r\n\r\n");
}

void TestHttp1Connection::tunnelRefusedWithoutUpgrade()
{
    QFETCH(QByteArray, request);
    feed(request);
    QVERIFY2(m_wire->fromServer.startsWith("HTTP/1.1 400 "), m_wire->fromServer.constData());
    QVERIFY(!m_wire->fromServer.contains("Upgrade:"));
}

QTEST_GUILESS_MAIN(TestHttp1Connection)
#include "tst_http1connection.moc"
