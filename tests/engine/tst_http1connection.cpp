// The HTTP/1 connection driven through a fake transport and an injected clock: pipelining,
// timeouts, back-pressure, lingering close, clients leaving mid-body, and the app boundary
// (abort handler on engine answers, exceptions from async callbacks) — without sockets or
// sleeps.
#include "engine/connectionmanager.h"
#include "engine/http1connection.h"
#include "engine/threadbuffers.h"
#include "engine/transport.h"
#include "http/exchange.h"
#include "pipeline/appregistry.h"
#include "pipeline/router.h"

#include <config/config.h>

#include <QtTest>

#include <memory>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

using namespace Berth;

namespace {

// Both directions of a pretend socket, shared by the test and the transport.
struct Wire
{
    QByteArray toServer;
    bool clientClosed = false;
    QByteArray fromServer;
    qsizetype writeRoom = 1 << 30; // bytes the "socket" accepts before it would block
    bool serverShutdown = false;
    QList<bool> more; // each accepted write's MSG_MORE, in order
    // Like TLS with read-ahead: the bytes still to read are the transport's, announced by no
    // socket event (the test then calls no onPollEvents for them).
    bool unannounced = false;
};

class FakeTransport final : public Engine::Transport
{
public:
    explicit FakeTransport(std::shared_ptr<Wire> wire)
        : m_wire(std::move(wire))
    {}
    qsizetype read(char *buffer, qsizetype size) override
    {
        if (m_wire->toServer.isEmpty())
            return m_wire->clientClosed ? 0 : WouldBlock;
        const qsizetype n = qMin(size, m_wire->toServer.size());
        std::memcpy(buffer, m_wire->toServer.constData(), size_t(n));
        m_wire->toServer.remove(0, n);
        return n;
    }
    qsizetype write(const char *data, qsizetype size, bool more) override
    {
        if (m_wire->writeRoom == 0) {
            m_wantsWrite = true;
            return WouldBlock;
        }
        m_wire->more.append(more);
        const qsizetype n = qMin(size, m_wire->writeRoom);
        m_wire->fromServer.append(data, n);
        m_wire->writeRoom -= n;
        return n;
    }
    void shutdownWrite() override { m_wire->serverShutdown = true; }
    bool hasBufferedInput() const override
    {
        return m_wire->unannounced && !m_wire->toServer.isEmpty();
    }
    bool wantsWrite() const override { return m_wantsWrite; }

private:
    std::shared_ptr<Wire> m_wire;
    bool m_wantsWrite = false;
};

// What the test apps saw.
struct Observed
{
    int aborts = 0;
    QByteArray body;
    int writableCalls = 0;
    Http::ExchangeHandle handle;
    int liveAttributes = 0; // request attributes the apps set that are not released yet
    int tunnelEnds = 0;     // the peer's end of a tunnel, seen by the tunnel's owner
};
Observed *g_observed = nullptr;

// A request attribute that counts itself, standing for what a feature owns for one exchange
// (berth.session's session): the engine must release it when the exchange ends.
struct CountedAttribute
{
    explicit CountedAttribute(int *counter)
        : live(counter)
    {
        ++*live;
    }
    CountedAttribute(CountedAttribute &&other) noexcept
        : live(std::exchange(other.live, nullptr))
    {}
    ~CountedAttribute()
    {
        if (live)
            --*live;
    }
    int *live;
};

// Apps by mode: answer (200 with the path), read (reads the body, answers at its end),
// stream (writes 1 MiB through back-pressure), throw_later (throws from a timer),
// hold (keeps the exchange: answers only when the test says so).
class TestApp final : public Pipeline::App
{
public:
    explicit TestApp(QString mode)
        : m_mode(std::move(mode))
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        Observed &o = *g_observed;
        exchange.setAbortHandler([&o] { ++o.aborts; });
        o.handle = exchange.handle();
        exchange.request().attributes.set(CountedAttribute(&o.liveAttributes));
        if (m_mode == QLatin1String("answer")) {
            exchange.respond(200, "text/plain", exchange.request().path);
        } else if (m_mode == QLatin1String("read")) {
            Http::ExchangeHandle h = exchange.handle();
            exchange.readBody([&o](QByteArrayView chunk) { o.body.append(chunk); },
                              [h] { h->respond(200, "text/plain", "read"); });
        } else if (m_mode == QLatin1String("stream")) {
            exchange.startResponse(1 << 20);
            auto sent = std::make_shared<qint64>(0);
            Http::ExchangeHandle h = exchange.handle();
            auto pump = [h, sent] {
                const QByteArray piece(64 * 1024, 'x');
                while (*sent < (1 << 20)) {
                    *sent += piece.size();
                    if (!h->write(piece))
                        return;
                }
                h->finish();
            };
            exchange.setWritableHandler([&o, pump] {
                ++o.writableCalls;
                pump();
            });
            pump();
        } else if (m_mode == QLatin1String("tunnel")) {
            // Echoes the tunnel's bytes; "bye" ends our direction, "big" writes 1 MiB.
            if (!exchange.startTunnel()) {
                exchange.respond(400, "text/plain", "no tunnel");
                return Pipeline::Outcome::Answered;
            }
            Http::ExchangeHandle h = exchange.handle();
            exchange.readBody(
                [&o, h](QByteArrayView chunk) {
                    o.body.append(chunk);
                    if (chunk.contains("bye"))
                        h->finish();
                    else if (chunk.contains("big"))
                        h->write(QByteArray(1 << 20, 'x'));
                    else
                        h->write(chunk);
                },
                [&o, h] {
                    ++o.tunnelEnds;
                    if (h)
                        h->finish();
                });
        } else if (m_mode == QLatin1String("throw_now")) {
            throw std::runtime_error("failure in handle()");
        } else if (m_mode == QLatin1String("throw_later")) {
            exchange.runAfter(0, [] { throw std::runtime_error("late failure"); });
        }
        return Pipeline::Outcome::Answered;
    }

private:
    QString m_mode;
};

const char *Routes = "[routes:line]\n/answer = answer\n/read = read\n/stream = stream\n"
                     "/throw = throw_later\n/hold = hold\n/throw-now = throw_now\n"
                     "/tunnel = tunnel\n"
                     "[app:tunnel]\ncall = test.app\nmode = tunnel\n"
                     "[app:answer]\ncall = test.app\nmode = answer\n"
                     "[app:read]\ncall = test.app\nmode = read\n"
                     "[app:stream]\ncall = test.app\nmode = stream\n"
                     "[app:throw_later]\ncall = test.app\nmode = throw_later\n"
                     "[app:hold]\ncall = test.app\nmode = hold\n"
                     "[app:throw_now]\ncall = test.app\nmode = throw_now\n";

} // namespace

class TestHttp1Connection : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
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
    void lingeringCloseSwallowsThenCloses();
    void closeRequestedByClientClosesAtOnce();
    void aClosingConnectionsLastBytesGoOutWithItsFin();
    void aClosingStreamUnderBackPressureStillEndsWithItsFin();
    void inputNoSocketEventAnnouncesIsReadWithoutOne();
    void clientLeavingMidBodyIsNoticedAtOnce();
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

private:
    Engine::Http1Connection *connect();
    void feed(const QByteArray &bytes);
    void clientCloses();
    void advance(qint64 ms);

    std::unique_ptr<Config::Config> m_config;
    std::unique_ptr<Pipeline::Router> m_router;
    std::unique_ptr<Engine::ConnectionManager> m_manager;
    std::shared_ptr<Wire> m_wire;
    Engine::Http1Connection *m_connection = nullptr;
    qint64 m_now = 1'000'000;
    Observed m_observed;
};

void TestHttp1Connection::init()
{
    m_observed = Observed();
    g_observed = &m_observed;
    Pipeline::AppRegistry registry;
    registry.add(QStringLiteral("test.app"), [](const Pipeline::AppSetup &setup) {
        return std::unique_ptr<Pipeline::App>(std::make_unique<TestApp>(
            setup.config.getString(setup.section, QStringLiteral("mode"))));
    });
    m_config = std::make_unique<Config::Config>(
        Config::Config::fromText(QString::fromLatin1(Routes), QStringLiteral("t.conf")));
    m_router = Pipeline::Router::build(*m_config, registry, nullptr);
    Engine::EngineSettings settings;
    settings.headerTimeoutMs = 10'000;
    settings.idleTimeoutMs = 75'000;
    settings.lingerTimeoutMs = 2'000;
    settings.maxBodyBytes = 1024;
    m_manager = std::make_unique<Engine::ConnectionManager>(settings, m_router.get(), nullptr,
                                                            QList<Engine::Listener>());
    m_manager->setClock([this] { return m_now; });
    m_wire = std::make_shared<Wire>();
    m_connection = connect();
}

void TestHttp1Connection::cleanup()
{
    m_manager.reset();
    QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
    m_router.reset();
    g_observed = nullptr;
}

Engine::Http1Connection *TestHttp1Connection::connect()
{
    auto *c =
        new Engine::Http1Connection(*m_manager, -1, 1, std::make_unique<FakeTransport>(m_wire));
    m_manager->adopt(c);
    return c;
}

void TestHttp1Connection::feed(const QByteArray &bytes)
{
    m_wire->toServer.append(bytes);
    m_connection->onPollEvents(true, false);
}

void TestHttp1Connection::clientCloses()
{
    m_wire->clientClosed = true;
    m_connection->onPollEvents(true, false);
}

void TestHttp1Connection::advance(qint64 ms)
{
    // As the manager's tick does: the thread's timer wheel, every 100 ms and at the end, runs
    // the checks that are due (a connection is checked only when its timer says so).
    const qint64 end = m_now + ms;
    for (m_now += m_manager->tickMs(); m_now < end; m_now += m_manager->tickMs())
        m_manager->timers().advance(m_now);
    m_now = end;
    m_manager->timers().advance(m_now);
}

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
    m_connection = connect();
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
    m_connection = connect();
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

void TestHttp1Connection::lingeringCloseSwallowsThenCloses()
{
    feed("GET /answer HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    QVERIFY(m_wire->serverShutdown);
    QCOMPARE(m_manager->connectionCount(), 1);
    feed("more bytes the client still sends");
    QVERIFY(m_wire->toServer.isEmpty()); // swallowed, not left to cause a reset
    QCOMPARE(m_manager->connectionCount(), 1);
    advance(2'000);
    QCOMPARE(m_manager->connectionCount(), 0);
}

void TestHttp1Connection::closeRequestedByClientClosesAtOnce()
{
    // A real socket (plain TCP's stand-in): the client asked for the close and sent nothing
    // else, so there is nothing to linger for; with bytes after its request, it lingers.
    for (const bool more : {false, true}) {
        int fds[2];
        QCOMPARE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
        auto *c = new Engine::Http1Connection(*m_manager, fds[0], 7);
        m_manager->adopt(c);
        const int before = m_manager->connectionCount();
        QByteArray request = "GET /answer HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        if (more)
            request += "GET /answer HTTP/1.1\r\n"; // a pipelining client: it may send more
        QCOMPARE(::write(fds[1], request.constData(), size_t(request.size())),
                 ssize_t(request.size()));
        c->onPollEvents(true, false);
        QCOMPARE(m_manager->connectionCount(), more ? before : before - 1);
        char reply[4096];
        const ssize_t n = ::read(fds[1], reply, sizeof(reply));
        QVERIFY(n > 0);
        QVERIFY(QByteArrayView(reply, n).startsWith("HTTP/1.1 200 OK"));
        QVERIFY(QByteArrayView(reply, n).contains("Connection: close"));
        QCOMPARE(::read(fds[1], reply, sizeof(reply)), ssize_t(0)); // then the FIN
        if (more) {
            advance(2'000); // the lingering close ends
            QCOMPARE(m_manager->connectionCount(), before - 1);
        }
        ::close(fds[1]);
    }
}

void TestHttp1Connection::aClosingConnectionsLastBytesGoOutWithItsFin()
{
    // Keep-alive: a response goes out at once, nothing held back for more.
    feed("GET /answer/1 HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(!m_wire->more.isEmpty());
    QVERIFY(!m_wire->more.contains(true));
    // The connection's last response is written with MSG_MORE: the FIN that follows at once
    // then leaves in its last segment (one packet and one ACK less per connection).
    m_wire->more.clear();
    feed("GET /answer/2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    QVERIFY(!m_wire->more.isEmpty());
    QVERIFY(!m_wire->more.contains(false));
    QVERIFY(m_wire->serverShutdown); // the FIN, right after
}

void TestHttp1Connection::aClosingStreamUnderBackPressureStillEndsWithItsFin()
{
    // A response that ends the connection and meets a full socket: every piece but none held
    // past the end, the FIN as soon as the last byte is out.
    m_wire->writeRoom = 100 * 1024;
    feed("GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    QVERIFY(!m_wire->serverShutdown);
    for (int i = 0; i < 100 && !m_wire->serverShutdown; ++i) {
        m_wire->writeRoom = 128 * 1024;
        m_connection->onPollEvents(false, true);
    }
    QVERIFY(m_wire->serverShutdown);
    const qsizetype headEnd = m_wire->fromServer.indexOf("\r\n\r\n") + 4;
    QCOMPARE(m_wire->fromServer.size() - headEnd, qsizetype(1 << 20));
    QVERIFY(m_wire->more.last()); // the last piece went out with the FIN
}

void TestHttp1Connection::inputNoSocketEventAnnouncesIsReadWithoutOne()
{
    // 200 KB of pipelined requests in one event: a read event takes at most four rounds (64 KB)
    // and stops at the input cap. Over a socket, epoll announces the rest; what TLS read ahead
    // is announced by nothing, so the connection posts itself the reads that epoll would have
    // (Connection::postRead()).
    m_wire->unannounced = true;
    const QByteArray request = "GET /answer HTTP/1.1\r\nHost: a\r\n\r\n";
    const int count = 200'000 / int(request.size());
    feed(request.repeated(count));
    QVERIFY(m_wire->fromServer.count("HTTP/1.1 200 OK") < count); // not all in its own reads
    QTRY_COMPARE_WITH_TIMEOUT(m_wire->fromServer.count("HTTP/1.1 200 OK"), count, 5000);
    QVERIFY(m_wire->toServer.isEmpty());
}

void TestHttp1Connection::clientLeavingMidBodyIsNoticedAtOnce()
{
    feed("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + QByteArray(40, 'b'));
    QCOMPARE(m_observed.body.size(), 40);
    clientCloses();
    // No body_timeout needed: the connection is gone and the app was told.
    QCOMPARE(m_manager->connectionCount(), 0);
    QCOMPARE(m_observed.aborts, 1);
    QVERIFY(!m_observed.handle);
    QCOMPARE(m_observed.liveAttributes, 0);
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
