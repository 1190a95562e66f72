#include "engine/poller.h"
#include "upstream/connectionpool.h"
#include "upstream/memberaddress.h"
#include "upstream/upstreamconnection.h"

#include <QPointer>
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
    void upstreamData(QByteArrayView) override {}
    void upstreamEnd() override { ended = true; }
    void upstreamWritable() override {}
    void upstreamFailed(UpstreamConnection::Failure, bool) override { failed = true; }
    bool connected = false;
    bool ended = false;
    bool failed = false;
};

} // namespace

class tst_ConnectionPool : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void deferredRunsAfterTheBatch();
    void deferredOutsideABatchIsQueued();
    void surplusClosedAtTurnEnd();
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
    // A member that answers every request with an empty 200 and keeps the connection.
    QTcpServer member;
    QVERIFY(member.listen(QHostAddress::LocalHost));
    QList<QTcpSocket *> accepted;
    connect(&member, &QTcpServer::newConnection, this, [&] {
        while (QTcpSocket *s = member.nextPendingConnection()) {
            accepted.append(s);
            connect(s, &QTcpSocket::readyRead, s, [s] {
                if (s->readAll().contains("\r\n\r\n"))
                    s->write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            });
        }
    });
    MemberAddress spec;
    QString error;
    QVERIFY(MemberAddress::parse(QStringLiteral("127.0.0.1:%1").arg(member.serverPort()), &spec,
                                 &error));
    ResolvedAddress address;
    QVERIFY(resolveLiteral(spec, &address));

    // Three connections with a complete response each, ready to be parked.
    QList<QPointer<UpstreamConnection>> connections;
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

    ConnectionPool &pool = ConnectionPool::forCurrentThread();
    const QString key = QStringLiteral("test-member");
    const auto idle = std::chrono::seconds(30);
    int duringTurn = -1;
    UpstreamConnection *taken = nullptr;
    InBatch batch;
    QVERIFY(batch.run([&] {
        for (const auto &connection : connections)
            pool.put(key, connection.data(), 2, idle);
        // Over keepalive = 2 for the rest of the turn: a request of this batch still finds one.
        duringTurn = pool.idleCount(key);
        taken = pool.take(key);
        pool.put(key, taken, 2, idle);
    }));
    QCOMPARE(duringTurn, 3);
    QCOMPARE(taken, connections[2].data()); // the most recently parked
    // At the end of the turn the oldest went; its deletion follows in the same turn.
    QCOMPARE(pool.idleCount(key), 2);
    QTRY_VERIFY(connections[0].isNull());
    QVERIFY(!connections[1].isNull());
    QVERIFY(!connections[2].isNull());
    // The member sees the closed one hang up.
    QTRY_COMPARE(std::count_if(
                     accepted.begin(), accepted.end(),
                     [](QTcpSocket *s) { return s->state() == QAbstractSocket::UnconnectedState; }),
                 1);
    QCOMPARE(pool.take(key), connections[2].data());
    QCOMPARE(pool.take(key), connections[1].data());
    connections[1]->close();
    connections[2]->close();
    QTRY_VERIFY(connections[1].isNull() && connections[2].isNull());
}

QTEST_GUILESS_MAIN(tst_ConnectionPool)
#include "tst_connectionpool.moc"
