// The accept path on real sockets: a request that came with the connection is answered by the
// accept itself (read before the socket is registered), a client that has not sent yet is
// registered and served later, the local address of a connection is right whether its listener
// is bound to one address (taken from the listener) or to the wildcard (asked of the socket),
// connection objects are reused from the thread's block pool, and a request's transaction id
// is written into the buffer of its previous one.
#include "engine/connectionmanager.h"
#include "engine/http1connection.h"
#include "engine/threadbuffers.h"
#include "engine/transport.h"
#include "http/exchange.h"
#include "loopbacksocket.h"
#include "pipeline/appregistry.h"
#include "pipeline/router.h"

#include <config/config.h>

#include <QtTest>

#include <arpa/inet.h>
#include <cerrno>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace Berth;

namespace {

// Answers with the local address and port the engine gave the request.
class WhereApp final : public Pipeline::App
{
public:
    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        const Http::Request &r = exchange.request();
        exchange.respond(200, "text/plain",
                         r.localAddress.toString().toLatin1() + ':' +
                             QByteArray::number(r.localPort));
        return Pipeline::Outcome::Answered;
    }
};

using Tests::listenOn;

bool sendAll(int fd, const QByteArray &bytes)
{
    return ::send(fd, bytes.constData(), size_t(bytes.size()), MSG_NOSIGNAL) ==
           ssize_t(bytes.size());
}

} // namespace

class TestAcceptPath : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void requestWithTheConnectionIsAnsweredAndClosed_data();
    void requestWithTheConnectionIsAnsweredAndClosed();
    void clientThatSendsLaterIsServed();
    void readOnAcceptFollowsItsOutcomes();
    void connectionMemoryComesFromThePool();
    void blockPoolReusesAndIsBounded();
    void txnIdReusesTheRequestsBuffer();

private:
    void startManager(const char *ip);
    // Runs the event loop until the client sees the server's end of stream (or 5 s passed);
    // returns what it received.
    QByteArray readUntilClosed(int client);
    // Runs the event loop until the response to one request is in (keep-alive).
    QByteArray readResponse(int client);

    std::unique_ptr<Config::Config> m_config;
    std::unique_ptr<Pipeline::Router> m_router;
    std::unique_ptr<Engine::ConnectionManager> m_manager;
    int m_listenFd = -1;
    quint16 m_port = 0;
};

void TestAcceptPath::init()
{
    Pipeline::AppRegistry registry;
    registry.add(QStringLiteral("test.where"), [](const Pipeline::AppSetup &) {
        return std::unique_ptr<Pipeline::App>(std::make_unique<WhereApp>());
    });
    m_config = std::make_unique<Config::Config>(Config::Config::fromText(
        QStringLiteral("[routes:line]\n/where = where\n[app:where]\ncall = test.where\n"),
        QStringLiteral("t.conf")));
    m_router = Pipeline::Router::build(*m_config, registry, nullptr);
}

void TestAcceptPath::cleanup()
{
    m_manager.reset();
    if (m_listenFd >= 0)
        ::close(m_listenFd);
    m_listenFd = -1;
    m_router.reset();
}

void TestAcceptPath::startManager(const char *ip)
{
    m_listenFd = listenOn(ip, &m_port);
    QVERIFY(m_listenFd >= 0);
    Engine::Listener listener;
    listener.fd = m_listenFd;
    m_manager = std::make_unique<Engine::ConnectionManager>(
        Engine::EngineSettings(), m_router.get(), nullptr, QList<Engine::Listener>{listener});
    m_manager->start();
}

QByteArray TestAcceptPath::readUntilClosed(int client)
{
    QByteArray in;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 5000) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
        char buffer[4096];
        const ssize_t n = ::recv(client, buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n == 0)
            return in;
        if (n > 0)
            in.append(buffer, n);
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            return in;
    }
    return in + "<no end of stream>";
}

QByteArray TestAcceptPath::readResponse(int client)
{
    QByteArray in;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 5000) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
        char buffer[4096];
        const ssize_t n = ::recv(client, buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n > 0)
            in.append(buffer, n);
        const qsizetype head = in.indexOf("\r\n\r\n");
        if (head > 0) {
            const qsizetype at = in.indexOf("Content-Length: ");
            const qsizetype length =
                at > 0 ? in.mid(at + 16, in.indexOf('\r', at) - at - 16).toLongLong() : 0;
            if (in.size() >= head + 4 + length)
                return in;
        }
        if (n == 0)
            break;
    }
    return in;
}

void TestAcceptPath::requestWithTheConnectionIsAnsweredAndClosed_data()
{
    QTest::addColumn<QByteArray>("listenIp");
    // Bound to one address: every connection's local address is the listener's (no
    // getsockname); the wildcard: the socket is asked.
    QTest::newRow("one address") << QByteArray("127.0.0.1");
    QTest::newRow("wildcard") << QByteArray("0.0.0.0");
}

void TestAcceptPath::requestWithTheConnectionIsAnsweredAndClosed()
{
    QFETCH(QByteArray, listenIp);
    startManager(listenIp.constData());
    for (int i = 0; i < 3; ++i) { // the second and third reuse what the first left behind
        const int client = Tests::connectToLoopback(m_port);
        QVERIFY(client >= 0);
        // Sent before the server even accepts: start() finds it with its first read.
        QVERIFY(sendAll(client, "GET /where HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        const QByteArray reply = readUntilClosed(client);
        ::close(client);
        QVERIFY2(reply.startsWith("HTTP/1.1 200 OK"), reply.constData());
        QVERIFY(reply.contains("Connection: close"));
        QVERIFY2(reply.endsWith("\r\n\r\n127.0.0.1:" + QByteArray::number(m_port)),
                 reply.constData());
        QCOMPARE(m_manager->connectionCount(), 0);
    }
}

void TestAcceptPath::clientThatSendsLaterIsServed()
{
    startManager("127.0.0.1");
    const int client = Tests::connectToLoopback(m_port);
    QVERIFY(client >= 0);
    // Accepted with nothing to read: the first read says EAGAIN and the socket is registered.
    QTRY_COMPARE_WITH_TIMEOUT(m_manager->connectionCount(), 1, 5000);
    for (int i = 0; i < 2; ++i) { // keep-alive: the registration serves every request
        QVERIFY(sendAll(client, "GET /where HTTP/1.1\r\nHost: a\r\n\r\n"));
        const QByteArray reply = readResponse(client);
        QVERIFY2(reply.startsWith("HTTP/1.1 200 OK"), reply.constData());
        QVERIFY(reply.endsWith("127.0.0.1:" + QByteArray::number(m_port)));
        QCOMPARE(m_manager->connectionCount(), 1);
    }
    QVERIFY(sendAll(client, "GET /where HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    QVERIFY(readUntilClosed(client).startsWith("HTTP/1.1 200 OK"));
    ::close(client);
    QCOMPARE(m_manager->connectionCount(), 0);
}

void TestAcceptPath::readOnAcceptFollowsItsOutcomes()
{
    // Reads at accept that keep finding nothing (a local client that writes after connect()
    // returned) stop, but for a probe one accept in 16; reads that find the request resume it.
    startManager("127.0.0.1");
    QVERIFY(m_manager->readOnAccept());
    for (int i = 0; i < 20; ++i)
        m_manager->noteReadOnAccept(false);
    QVERIFY(!m_manager->readOnAccept()); // the next connection id is 1: not a probe
    for (int i = 0; i < 7; ++i)
        m_manager->noteReadOnAccept(true);
    QVERIFY(!m_manager->readOnAccept()); // bounded: eight hits undo the misses, not more
    m_manager->noteReadOnAccept(true);
    QVERIFY(m_manager->readOnAccept());
    // Off, the client that sent with its connect is served all the same (registered first).
    for (int i = 0; i < 8; ++i)
        m_manager->noteReadOnAccept(false);
    const int client = Tests::connectToLoopback(m_port);
    QVERIFY(sendAll(client, "GET /where HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    QVERIFY(readUntilClosed(client).startsWith("HTTP/1.1 200 OK"));
    ::close(client);
    QCOMPARE(m_manager->connectionCount(), 0);
}

void TestAcceptPath::connectionMemoryComesFromThePool()
{
    startManager("127.0.0.1");
    const std::size_t connectionSize = sizeof(Engine::Http1Connection);
    const std::size_t transportSize = sizeof(Engine::PlainTransport);
    const int client = Tests::connectToLoopback(m_port);
    QVERIFY(sendAll(client, "GET /where HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    QVERIFY(readUntilClosed(client).startsWith("HTTP/1.1 200 OK"));
    ::close(client);
    // Deleted at the end of its loop turn: its memory and its transport's went to the pool.
    QTRY_VERIFY_WITH_TIMEOUT(Engine::ThreadBuffers::pooledBlocks(connectionSize) >= 1, 5000);
    QVERIFY(Engine::ThreadBuffers::pooledBlocks(transportSize) >= 1);
    const int pooled = Engine::ThreadBuffers::pooledBlocks(connectionSize);
    // The next connection takes it back rather than allocating.
    auto *c = new Engine::Http1Connection(*m_manager, -1, 99,
                                          std::make_unique<Engine::PlainTransport>(-1));
    QCOMPARE(Engine::ThreadBuffers::pooledBlocks(connectionSize), pooled - 1);
    delete c;
    QCOMPARE(Engine::ThreadBuffers::pooledBlocks(connectionSize), pooled);
}

void TestAcceptPath::blockPoolReusesAndIsBounded()
{
    constexpr std::size_t Size = 1234; // no engine object has this size
    QCOMPARE(Engine::ThreadBuffers::pooledBlocks(Size), 0);
    void *a = Engine::ThreadBuffers::takeBlock(Size);
    Engine::ThreadBuffers::giveBlock(a, Size);
    QCOMPARE(Engine::ThreadBuffers::pooledBlocks(Size), 1);
    QCOMPARE(Engine::ThreadBuffers::takeBlock(Size), a); // the same memory again
    std::vector<void *> many;
    for (int i = 0; i < 100; ++i)
        many.push_back(Engine::ThreadBuffers::takeBlock(Size));
    for (void *b : many)
        Engine::ThreadBuffers::giveBlock(b, Size);
    Engine::ThreadBuffers::giveBlock(a, Size);
    QCOMPARE(Engine::ThreadBuffers::pooledBlocks(Size), 64); // a burst's peak is not kept
}

void TestAcceptPath::txnIdReusesTheRequestsBuffer()
{
    startManager("127.0.0.1");
    QByteArray txn;
    m_manager->nextTxnId(txn);
    const QByteArray first = txn; // an app keeps the id of its request
    const char *firstBuffer = first.constData();
    m_manager->nextTxnId(txn);
    QVERIFY(txn != first);
    QCOMPARE(first.constData(), firstBuffer); // what was kept is untouched
    QVERIFY(txn.constData() != firstBuffer);
    // Nobody holds the second: the third is written into its buffer, no allocation.
    const QByteArray second = QByteArray(txn.constData(), txn.size());
    const char *buffer = txn.constData();
    m_manager->nextTxnId(txn);
    QCOMPARE(txn.constData(), buffer);
    QVERIFY(txn != second);
    // "<8 hex digits>-<hex counter>", the counter one further.
    const qsizetype dash = txn.indexOf('-');
    QCOMPARE(dash, qsizetype(8));
    QCOMPARE(txn.left(dash), second.left(dash));
    bool ok = false;
    QCOMPARE(txn.mid(dash + 1).toULongLong(&ok, 16),
             second.mid(dash + 1).toULongLong(nullptr, 16) + 1);
    QVERIFY(ok);
}

QTEST_GUILESS_MAIN(TestAcceptPath)
#include "tst_acceptpath.moc"
