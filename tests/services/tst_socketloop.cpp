// One event-loop thread of a TCP app (SocketLoop + StreamConnection) over a real loopback
// socket, with an injected clock for idle_timeout and send_timeout: echo, the limits, and an app
// that throws. No sleeps: the test waits for outcomes while the event loop runs.
#include "apps/builtinapps.h"
#include "engine/transport.h"
#include "loopbacksocket.h"
#include "runtime/listener.h"
#include "services/socketapps/socketloop.h"
#include "socketapps/socketappregistry.h"

#include <config/config.h>

#include <QTest>

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace Berth;

namespace {

quint16 boundPort(int fd)
{
    sockaddr_in addr{};
    socklen_t length = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &length);
    return ntohs(addr.sin_port);
}

// What the peer received so far without blocking; *closed when it saw EOF or a reset.
QByteArray drain(int fd, bool *closed)
{
    QByteArray got;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n > 0) {
            got.append(buffer, n);
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            *closed = true;
        return got;
    }
}

// Like OpenSSL reading ahead: takes all the socket holds into its own buffer and hands it out
// 1,000 bytes a read, so after a read event's rounds the rest waits where no socket event
// announces it.
class ReadAheadTransport final : public Engine::Transport
{
public:
    explicit ReadAheadTransport(int fd)
        : m_fd(fd)
    {}
    qsizetype read(char *buffer, qsizetype size) override
    {
        if (m_ahead.isEmpty()) {
            char chunk[256 * 1024];
            const ssize_t n = ::read(m_fd, chunk, sizeof(chunk));
            if (n <= 0)
                return n == 0 ? 0 : errno == EAGAIN ? WouldBlock : Failed;
            m_ahead.append(chunk, n);
        }
        const qsizetype n = qMin(qMin(size, m_ahead.size()), qsizetype(1000));
        std::memcpy(buffer, m_ahead.constData(), size_t(n));
        m_ahead.remove(0, n);
        return n;
    }
    qsizetype write(const char *data, qsizetype size, bool) override
    {
        const ssize_t n = ::send(m_fd, data, size_t(size), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return n;
        return errno == EAGAIN ? WouldBlock : Failed;
    }
    void shutdownWrite() override { ::shutdown(m_fd, SHUT_WR); }
    bool hasBufferedInput() const override { return !m_ahead.isEmpty(); }
    bool wantsWrite() const override { return false; }

private:
    int m_fd;
    QByteArray m_ahead;
};

class ReadAheadTransports final : public Engine::TransportFactory
{
public:
    std::unique_ptr<Engine::Transport> create(int fd) override
    {
        return std::make_unique<ReadAheadTransport>(fd);
    }
};

} // namespace

class TestSocketLoop : public QObject
{
    Q_OBJECT

private:
    Config::Config m_config =
        Config::Config::fromText(QStringLiteral("[tcp:e]\ncall = berth.tcp_echo\nport = 7000\n"));
    Core::StatsRegistry m_stats;
    std::unique_ptr<Services::SocketAppShared> m_shared;
    std::unique_ptr<Services::SocketLoop> m_loop;
    qint64 m_now = 0;
    quint16 m_port = 0;

    qint64 stat(const QString &name) const
    {
        for (const Core::StatsRegistry::Entry &e : m_stats.snapshot()) {
            if (e.name == QLatin1String("tcp:e.") + name)
                return e.value;
        }
        return -1;
    }
    int declare(const char *name)
    {
        return m_stats.declare(QStringLiteral("tcp:e.") + QLatin1String(name), Core::StatType::Sum);
    }
    // Sends payload and waits for its echo.
    bool echoes(int fd, const QByteArray &payload)
    {
        if (::send(fd, payload.constData(), size_t(payload.size()), MSG_NOSIGNAL) != payload.size())
            return false;
        QByteArray got;
        bool closed = false;
        (void)QTest::qWaitFor([&] {
            got += drain(fd, &closed);
            return got.size() >= payload.size() || closed;
        });
        return got == payload;
    }
    bool waitClosed(int fd)
    {
        bool closed = false;
        return QTest::qWaitFor([&] {
            drain(fd, &closed);
            return closed;
        });
    }

private Q_SLOTS:
    void initTestCase()
    {
        Apps::registerBuiltinSocketApps(SocketApps::SocketAppRegistry::builtin());
    }

    void init()
    {
        QString error;
        m_shared = std::make_unique<Services::SocketAppShared>();
        m_shared->settings =
            Services::SocketAppSettings::fromConfig(m_config, QStringLiteral("tcp:e"));
        m_shared->settings.idleTimeoutMs = 1000;
        m_shared->settings.sendTimeoutMs = 1000;
        m_shared->settings.maxConnections = 2;
        m_shared->settings.outputBuffer = 4096;
        m_shared->config = &m_config;
        m_shared->stats = &m_stats;
        m_shared->streamFactory =
            SocketApps::SocketAppRegistry::builtin().stream(QStringLiteral("berth.tcp_echo"));
        m_shared->socketFd = Core::openListeningSocket(QStringLiteral("127.0.0.1"), 0, &error);
        QVERIFY2(m_shared->socketFd >= 0, qPrintable(error));
        m_port = boundPort(m_shared->socketFd);
        m_shared->refusedStat = declare("refused_count");
        m_shared->idleClosedStat = declare("idle_closed_count");
        m_shared->sendTimeoutStat = declare("send_timeout_count");
        m_shared->appErrorsStat = declare("app_errors");
        m_shared->activeStat = declare("active_connections");
        m_now = 0;
        m_loop = std::make_unique<Services::SocketLoop>(*m_shared, 0);
        m_loop->setClock([this] { return m_now; });
        QVERIFY2(m_loop->buildApp(&error), qPrintable(error));
        m_loop->start();
    }

    void cleanup()
    {
        m_loop->shutdown();
        m_loop.reset();
        ::close(m_shared->socketFd);
        m_shared.reset();
    }

    void echoesAndClosesIdleConnectionsOnTheClock()
    {
        const int fd = Tests::connectToLoopback(m_port);
        QVERIFY(fd >= 0);
        QVERIFY(echoes(fd, "hello"));
        QCOMPARE(stat(QStringLiteral("active_connections")), 1);
        m_now = 999; // 999 ms after the last traffic: still open
        m_loop->checkTimeouts();
        QVERIFY(echoes(fd, "again"));
        m_now = 999 + 1000;
        m_loop->checkTimeouts();
        QVERIFY(waitClosed(fd));
        QCOMPARE(stat(QStringLiteral("idle_closed_count")), 1);
        QVERIFY(QTest::qWaitFor([&] { return stat(QStringLiteral("active_connections")) == 0; }));
        ::close(fd);
    }

    void inputTheTransportReadAheadIsReadWithoutASocketEvent()
    {
        // 60 KB arrive at once; a read event's four rounds take 4,000 bytes of them and the
        // socket is empty after the first: the connection posts itself the reads epoll would
        // have announced (SocketLoop::postRead()), with the echo's output back-pressure between.
        m_shared->tls = std::make_shared<ReadAheadTransports>();
        const int fd = Tests::connectToLoopback(m_port);
        QVERIFY(fd >= 0);
        QByteArray payload(60 * 1024, 'r');
        for (qsizetype i = 0; i < payload.size(); i += 7)
            payload[i] = char('a' + i % 26);
        QVERIFY(echoes(fd, payload));
        ::close(fd);
    }

    void refusesConnectionsOverMaxConnections()
    {
        const int a = Tests::connectToLoopback(m_port), b = Tests::connectToLoopback(m_port);
        QVERIFY(echoes(a, "a") && echoes(b, "b"));
        const int c = Tests::connectToLoopback(m_port);
        QVERIFY(waitClosed(c));
        QCOMPARE(stat(QStringLiteral("refused_count")), 1);
        ::close(a);
        QVERIFY(QTest::qWaitFor([&] { return stat(QStringLiteral("active_connections")) == 1; }));
        const int d = Tests::connectToLoopback(m_port); // a's unit came back
        QVERIFY(echoes(d, "d"));
        for (int fd : {b, c, d})
            ::close(fd);
    }

    void closesAClientThatDoesNotReadAtSendTimeout()
    {
        const int fd = Tests::connectToLoopback(m_port);
        const int small = 4096;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        QVERIFY(echoes(fd, "x"));
        // Fill every buffer on the way: our output buffer stays above its cap.
        const QByteArray block(65536, 'z');
        QVERIFY(QTest::qWaitFor(
            [&] { return ::send(fd, block.constData(), size_t(block.size()), MSG_DONTWAIT) < 0; }));
        QTest::qWait(0);
        m_now = 500;
        m_loop->checkTimeouts();
        QCOMPARE(stat(QStringLiteral("send_timeout_count")), 0);
        m_now = 5000;
        m_loop->checkTimeouts();
        QCOMPARE(stat(QStringLiteral("send_timeout_count")), 1);
        ::close(fd);
    }

    void anAppThatThrowsIsReplacedAndTheLoopKeepsServing()
    {
        qputenv("BERTH_TEST_APPS", "1");
        // The app reads the switch when it is built: rebuild it with the switch on.
        QString error;
        QVERIFY(m_loop->buildApp(&error));
        const int fd = Tests::connectToLoopback(m_port);
        const QByteArray marker = "BERTH-TEST-THROW";
        QCOMPARE(::send(fd, marker.constData(), size_t(marker.size()), 0), marker.size());
        QVERIFY(waitClosed(fd));
        QCOMPARE(stat(QStringLiteral("app_errors")), 1);
        const int next = Tests::connectToLoopback(m_port);
        QVERIFY(echoes(next, "still serving"));
        ::close(fd);
        ::close(next);
        qunsetenv("BERTH_TEST_APPS");
    }

    void udpEchoRepliesAndDropsOversizeDatagrams()
    {
        const Config::Config config = Config::Config::fromText(
            QStringLiteral("[udp:u]\ncall = berth.udp_echo\nport = 7001\n"));
        Services::SocketAppShared shared;
        shared.settings = Services::SocketAppSettings::fromConfig(config, QStringLiteral("udp:u"));
        shared.settings.maxDatagramBytes = 100;
        shared.config = &config;
        shared.stats = &m_stats;
        shared.datagramFactory =
            SocketApps::SocketAppRegistry::builtin().datagram(QStringLiteral("berth.udp_echo"));
        QString error;
        shared.socketFd = Core::openDatagramSocket(QStringLiteral("127.0.0.1"), 0, &error);
        QVERIFY2(shared.socketFd >= 0, qPrintable(error));
        shared.droppedStat =
            m_stats.declare(QStringLiteral("udp:u.dropped_count"), Core::StatType::Sum);
        Services::SocketLoop loop(shared, 0);
        QVERIFY2(loop.buildApp(&error), qPrintable(error));
        loop.start();

        const int client = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(boundPort(shared.socketFd));
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const auto sendTo = [&](const QByteArray &d) {
            return ::sendto(client, d.constData(), size_t(d.size()), 0,
                            reinterpret_cast<const sockaddr *>(&to), sizeof(to));
        };
        QCOMPARE(sendTo(QByteArray(101, 'x')), 101);
        QCOMPARE(sendTo("fits"), 4);
        char buffer[512];
        ssize_t n = -1;
        QVERIFY(QTest::qWaitFor([&] {
            n = ::recv(client, buffer, sizeof(buffer), MSG_DONTWAIT);
            return n >= 0;
        }));
        // The oversize one never came back; the next one did.
        QCOMPARE(QByteArray(buffer, int(n)), QByteArray("fits"));
        qint64 dropped = -1;
        for (const Core::StatsRegistry::Entry &e : m_stats.snapshot()) {
            if (e.name == QLatin1String("udp:u.dropped_count"))
                dropped = e.value;
        }
        QCOMPARE(dropped, 1);
        loop.shutdown();
        ::close(client);
        ::close(shared.socketFd);
    }
};

QTEST_GUILESS_MAIN(TestSocketLoop)
#include "tst_socketloop.moc"
