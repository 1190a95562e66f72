#include "engine/poller.h"
#include "engine/timerwheel.h"
#include "upstream/connectionpool.h"
#include "upstream/memberaddress.h"
#include "upstream/upstreamconnection.h"

#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <functional>
#include <sys/socket.h>
#include <unistd.h>

using namespace Berth;
using namespace Berth::Upstream;

namespace {

// Runs a function from inside a batch of the thread's poller: one byte on a socket pair makes
// it readable.
class InBatch final : public Engine::Poller::Handler
{
public:
    InBatch()
    {
        ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, m_fds);
        Engine::Poller::forCurrentThread()->add(m_fds[0], this, true, false);
    }
    ~InBatch() override
    {
        Engine::Poller::forCurrentThread()->remove(m_fds[0]);
        ::close(m_fds[0]);
        ::close(m_fds[1]);
    }
    // Runs f in the next batch; returns once it ran.
    bool run(std::function<void()> f)
    {
        m_f = std::move(f);
        const char byte = 'x';
        if (::write(m_fds[1], &byte, 1) != 1)
            return false;
        return QTest::qWaitFor([this] { return !m_f; }, 5000);
    }

private:
    void onPollEvents(bool, bool) override
    {
        char byte;
        while (::read(m_fds[0], &byte, 1) == 1) {
        }
        if (auto f = std::move(m_f)) {
            m_f = nullptr;
            f();
        }
    }

    int m_fds[2] = {-1, -1};
    std::function<void()> m_f;
};

// Completes one request on a connection and records the outcome.
class Request final : public UpstreamConnection::Handler
{
public:
    void upstreamConnected() override { connected = true; }
    void upstreamHead(const ResponseHead &) override {}
    void upstreamData(QByteArrayView data) override { received += data.size(); }
    void upstreamEnd() override { ended = true; }
    void upstreamWritable() override {}
    void upstreamFailed(UpstreamConnection::Failure why, bool) override
    {
        failed = true;
        failure = why;
    }
    bool connected = false;
    qsizetype received = 0;
    bool ended = false;
    bool failed = false;
    UpstreamConnection::Failure failure = UpstreamConnection::Failure::Connect;
};

// The test thread's timer wheel on a clock the test moves: timeouts without sleeping.
struct ManualWheel
{
    ManualWheel()
    {
        wheel.setClock([this] { return now; });
        Engine::TimerWheel::setForCurrentThread(&wheel);
    }
    void advanceTo(qint64 t)
    {
        now = t;
        wheel.advance(t);
    }
    qint64 now = 0;
    Engine::TimerWheel wheel{100, 64, 0};
};

// A member on loopback: answers every request with an empty 200 and keeps the connection, or
// (silent) accepts and never answers.
struct Member
{
    explicit Member(bool silent = false)
    {
        server.listen(QHostAddress::LocalHost);
        QObject::connect(&server, &QTcpServer::newConnection, &server, [this, silent] {
            while (QTcpSocket *s = server.nextPendingConnection()) {
                accepted.append(s);
                if (silent)
                    continue;
                QObject::connect(s, &QTcpSocket::readyRead, s, [s] {
                    if (s->readAll().contains("\r\n\r\n"))
                        s->write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                });
            }
        });
    }
    ResolvedAddress address() const
    {
        MemberAddress spec;
        QString error;
        MemberAddress::parse(QStringLiteral("127.0.0.1:%1").arg(server.serverPort()), &spec,
                             &error);
        ResolvedAddress resolved;
        resolveLiteral(spec, &resolved);
        return resolved;
    }
    int hungUp() const
    {
        return int(std::count_if(accepted.begin(), accepted.end(), [](QTcpSocket *s) {
            return s->state() == QAbstractSocket::UnconnectedState;
        }));
    }
    QTcpServer server;
    QList<QTcpSocket *> accepted;
};

// A connection to member with one GET sent on it (no body): the caller checks
// request.connected.
UpstreamConnection *sendGet(const Member &member, Request &request,
                            const UpstreamConnection::Timeouts &timeouts = {})
{
    auto *connection = new UpstreamConnection(member.address(), nullptr, QByteArray());
    connection->open(&request, timeouts);
    if (!QTest::qWaitFor([&request] { return request.connected; }))
        return connection;
    connection->beginRequest(&request, "GET / HTTP/1.1\r\nHost: m\r\n\r\n", "GET", timeouts);
    connection->endRequest();
    return connection;
}

} // namespace

class tst_ConnectionPool : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void deferredRunsAfterTheBatch();
    void deferredOutsideABatchIsQueued();
    void surplusClosedAtTurnEnd();
    void responseTimeoutOnTheThreadsWheel();
    void readTimeoutMovesWithProgress();
    void idleTimeoutTakesAParkedConnectionOut();
    void closingAParkedConnectionLeavesThePool();
    void connectFailureIsReportedLater();
};

void tst_ConnectionPool::deferredRunsAfterTheBatch()
{
    InBatch batch;
    QStringList order;
    QVERIFY(batch.run([&] {
        Engine::Poller::forCurrentThread()->deferToTurnEnd(
            [](void *list) {
                auto *order = static_cast<QStringList *>(list);
                order->append(QStringLiteral("deferred"));
                // Deferred from deferred work: still this turn.
                Engine::Poller::forCurrentThread()->deferToTurnEnd(
                    [](void *list) {
                        static_cast<QStringList *>(list)->append(QStringLiteral("again"));
                    },
                    list);
            },
            &order);
        order.append(QStringLiteral("handler"));
    }));
    // Ran with the batch, not from a later event (qWaitFor returned when the handler ran).
    QCOMPARE(order, (QStringList{QStringLiteral("handler"), QStringLiteral("deferred"),
                                 QStringLiteral("again")}));
}

void tst_ConnectionPool::deferredOutsideABatchIsQueued()
{
    int runs = 0;
    Engine::Poller::forCurrentThread()->deferToTurnEnd([](void *n) { ++*static_cast<int *>(n); },
                                                       &runs);
    QCOMPARE(runs, 0);
    QTRY_COMPARE(runs, 1);
}

void tst_ConnectionPool::surplusClosedAtTurnEnd()
{
    Member member;
    QVERIFY(member.server.isListening());
    const ResolvedAddress address = member.address();
    QVERIFY(address.valid());
    const int live = UpstreamConnection::liveCount();

    // Three connections with a complete response each, ready to be parked.
    QList<UpstreamConnection *> connections;
    Request requests[3];
    for (Request &request : requests) {
        auto *connection = new UpstreamConnection(address, nullptr, QByteArray());
        connections.append(connection);
        connection->open(&request, UpstreamConnection::Timeouts{});
        QTRY_VERIFY(request.connected);
        connection->beginRequest(&request, "GET / HTTP/1.1\r\nHost: m\r\n\r\n", "GET",
                                 UpstreamConnection::Timeouts{});
        connection->endRequest();
        QTRY_VERIFY(request.ended);
        QVERIFY(!request.failed);
        QVERIFY(connection->reusable());
    }
    QCOMPARE(UpstreamConnection::liveCount(), live + 3);

    ConnectionPool &pool = ConnectionPool::forCurrentThread();
    const QString key = QStringLiteral("test-member");
    const auto idle = std::chrono::seconds(30);
    int duringTurn = -1;
    int liveAfterTurn = -1;
    UpstreamConnection *taken = nullptr;
    InBatch batch;
    QVERIFY(batch.run([&] {
        for (UpstreamConnection *connection : connections)
            pool.put(key, connection, 2, idle);
        // Over keepalive = 2 for the rest of the turn: a request of this batch still finds one.
        duringTurn = pool.idleCount(key);
        taken = pool.take(key);
        pool.put(key, taken, 2, idle);
        liveAfterTurn = UpstreamConnection::liveCount();
    }));
    QCOMPARE(duringTurn, 3);
    QCOMPARE(liveAfterTurn, live + 3);
    QCOMPARE(taken, connections[2]); // the most recently parked
    // At the end of the turn the oldest went, deleted in the same turn.
    QCOMPARE(pool.idleCount(key), 2);
    QCOMPARE(UpstreamConnection::liveCount(), live + 2);
    // The member sees the closed one hang up.
    QTRY_COMPARE(member.hungUp(), 1);
    QCOMPARE(pool.take(key), connections[2]);
    QCOMPARE(pool.take(key), connections[1]);
    connections[1]->close();
    connections[2]->close();
    QTRY_COMPARE(UpstreamConnection::liveCount(), live);
}

void tst_ConnectionPool::responseTimeoutOnTheThreadsWheel()
{
    ManualWheel clock;
    Member member(true);
    const int live = UpstreamConnection::liveCount();
    Request request;
    const UpstreamConnection::Timeouts timeouts{std::chrono::milliseconds(5000),
                                                std::chrono::milliseconds(1000),
                                                std::chrono::milliseconds(3000)};
    sendGet(member, request, timeouts);
    QVERIFY(request.connected);
    QTRY_COMPARE(member.accepted.size(), 1);
    clock.advanceTo(999);
    QVERIFY(!request.failed);
    clock.advanceTo(1000);
    QVERIFY(request.failed);
    QCOMPARE(request.failure, UpstreamConnection::Failure::ResponseTimeout);
    QTRY_COMPARE(UpstreamConnection::liveCount(), live);
    QTRY_COMPARE(member.hungUp(), 1);
}

void tst_ConnectionPool::readTimeoutMovesWithProgress()
{
    // A member that sends the head and half the body, then more later, then stalls.
    ManualWheel clock;
    Member member(true);
    Request request;
    const UpstreamConnection::Timeouts timeouts{std::chrono::milliseconds(5000),
                                                std::chrono::milliseconds(1000),
                                                std::chrono::milliseconds(2000)};
    sendGet(member, request, timeouts);
    QVERIFY(request.connected);
    QTRY_COMPARE(member.accepted.size(), 1);
    QTcpSocket *s = member.accepted.first();
    s->write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
    s->flush();
    QTRY_COMPARE(request.received, 2);
    clock.advanceTo(1500); // past response_timeout: the head came, so only read_timeout counts
    QVERIFY(!request.failed);
    s->write("c");
    s->flush();
    QTRY_COMPARE(request.received, 3);
    clock.advanceTo(3000); // 2 s after the head, 1.5 s after the last byte
    QVERIFY(!request.failed);
    clock.advanceTo(3500); // 2 s after the last byte
    QVERIFY(request.failed);
    QCOMPARE(request.failure, UpstreamConnection::Failure::ReadTimeout);
}

void tst_ConnectionPool::idleTimeoutTakesAParkedConnectionOut()
{
    ManualWheel clock;
    Member member;
    const int live = UpstreamConnection::liveCount();
    Request request;
    UpstreamConnection *connection = sendGet(member, request);
    QVERIFY(request.connected);
    QTRY_VERIFY(request.ended);
    ConnectionPool &pool = ConnectionPool::forCurrentThread();
    const QString key = QStringLiteral("idle-member");
    pool.put(key, connection, 4, std::chrono::seconds(2));
    QCOMPARE(pool.idleCount(key), 1);
    clock.advanceTo(1999);
    QCOMPARE(pool.idleCount(key), 1);
    clock.advanceTo(2000);
    QCOMPARE(pool.idleCount(key), 0);
    QVERIFY(!pool.take(key));
    QTRY_COMPARE(UpstreamConnection::liveCount(), live);
    QTRY_COMPARE(member.hungUp(), 1);
}

void tst_ConnectionPool::closingAParkedConnectionLeavesThePool()
{
    Member member;
    const int live = UpstreamConnection::liveCount();
    Request request;
    UpstreamConnection *connection = sendGet(member, request);
    QVERIFY(request.connected);
    QTRY_VERIFY(request.ended);
    ConnectionPool &pool = ConnectionPool::forCurrentThread();
    const QString key = QStringLiteral("hangup-member");
    pool.put(key, connection, 4, std::chrono::seconds(30));
    QCOMPARE(pool.idleCount(key), 1);
    // The member hangs up: the pool must not hand out (or keep a pointer to) the dead one.
    member.accepted.first()->close();
    QTRY_COMPARE(UpstreamConnection::liveCount(), live);
    QCOMPARE(pool.idleCount(key), 0);
    QVERIFY(!pool.take(key));
}

void tst_ConnectionPool::connectFailureIsReportedLater()
{
    quint16 port = 0;
    {
        QTcpServer probe; // a port nothing listens on once it is closed
        QVERIFY(probe.listen(QHostAddress::LocalHost));
        port = probe.serverPort();
    }
    MemberAddress spec;
    QString error;
    QVERIFY(MemberAddress::parse(QStringLiteral("127.0.0.1:%1").arg(port), &spec, &error));
    ResolvedAddress address;
    QVERIFY(resolveLiteral(spec, &address));
    const int live = UpstreamConnection::liveCount();
    Request request;
    auto *connection = new UpstreamConnection(address, nullptr, QByteArray());
    connection->open(&request, UpstreamConnection::Timeouts{});
    QVERIFY(!request.failed); // never inline: the caller is still setting up
    QTRY_VERIFY(request.failed);
    QCOMPARE(request.failure, UpstreamConnection::Failure::Connect);
    QTRY_COMPARE(UpstreamConnection::liveCount(), live);

    // Closed before its failure is reported: no call, no use after the deletion.
    Request closed;
    connection = new UpstreamConnection(address, nullptr, QByteArray());
    connection->open(&closed, UpstreamConnection::Timeouts{});
    connection->close();
    QTRY_COMPARE(UpstreamConnection::liveCount(), live);
    QVERIFY(!closed.failed);
}

QTEST_GUILESS_MAIN(tst_ConnectionPool)
#include "tst_connectionpool.moc"
