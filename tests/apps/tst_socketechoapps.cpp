// berth.tcp_echo and berth.udp_echo through fake streams and sockets (no I/O), and the checks
// `berthd check` runs on [tcp:*] / [udp:*] sections.
#include "apps/builtinapps.h"
#include "apps/tcpecho/tcpechoapp.h"
#include "apps/udpecho/udpechoapp.h"
#include "service/serviceregistry.h"
#include "services/builtinservices.h"
#include "socketapps/socketappregistry.h"
#include "supervisor/configcheck.h"

#include <config/config.h>

#include <QTest>

using namespace Berth;

namespace {

// A Stream over two buffers, with an output cap for back-pressure.
class FakeStream final : public SocketApps::Stream
{
public:
    QByteArray in;
    QByteArray out;
    bool eof = false;
    bool shutDown = false;
    bool closed = false;
    qsizetype cap = 1 << 20;
    qint64 idleTimeout = -1;

    QByteArray read(qsizetype max) override
    {
        const QByteArray chunk = in.left(max);
        in.remove(0, chunk.size());
        return chunk;
    }
    qsizetype bytesAvailable() const override { return in.size(); }
    bool atEnd() const override { return eof && in.isEmpty(); }
    bool write(QByteArrayView data) override
    {
        out.append(data.data(), data.size());
        return canWrite();
    }
    bool canWrite() const override { return out.size() < cap; }
    qsizetype bytesToWrite() const override { return out.size(); }
    void shutdownWrite() override { shutDown = true; }
    void close() override { closed = true; }
    QString peerAddress() const override { return QStringLiteral("127.0.0.1"); }
    quint16 peerPort() const override { return 4242; }
    bool isSecure() const override { return false; }
    void setIdleTimeout(qint64 ms) override { idleTimeout = ms; }
};

class FakeDatagramSocket final : public SocketApps::DatagramSocket
{
public:
    QList<QPair<QByteArray, quint16>> sent;
    bool sendTo(QByteArrayView data, const SocketApps::DatagramPeer &peer) override
    {
        sent.append({data.toByteArray(), peer.port});
        return true;
    }
};

QStringList checkText(const QString &text)
{
    const Config::Config config = Config::Config::fromText(text, QStringLiteral("t.conf"));
    QStringList lines;
    for (const Config::Diagnostic &d : Supervisor::checkLoaded(config))
        lines.append(d.toString());
    return lines;
}

} // namespace

class TestSocketEchoApps : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        Services::registerBuiltinServices(Supervisor::ServiceRegistry::builtin());
    }

    void tcpEchoReadsAtMostChunkReadAndEchoesAll()
    {
        const Config::Config config = Config::Config::fromText(
            QStringLiteral("[tcp:e]\ncall = berth.tcp_echo\nport = 7000\nchunk_read = 3\n"));
        Core::StatsRegistry stats;
        SocketApps::SocketAppSetup setup{config, QStringLiteral("tcp:e"), QStringLiteral("e"),
                                         SocketApps::AppStats(&stats, QStringLiteral("tcp:e"))};
        Apps::TcpEchoApp app(setup);
        FakeStream stream;
        auto session = app.accept(stream);
        QVERIFY(session);
        stream.in = "abcdefgh";
        session->onReadable(stream);
        QCOMPARE(stream.out, QByteArray("abcdefgh"));
        QVERIFY(!stream.shutDown);
        int bytes = -1, connections = -1;
        for (int i = 0; i < stats.count(); ++i) {
            const auto entry = stats.snapshot().at(i);
            if (entry.name == QLatin1String("tcp:e.byte_count"))
                bytes = int(entry.value);
            if (entry.name == QLatin1String("tcp:e.connection_count"))
                connections = int(entry.value);
        }
        QCOMPARE(bytes, 8);
        QCOMPARE(connections, 1);
    }

    void tcpEchoStopsReadingWhenTheOutputIsFull()
    {
        const Config::Config config = Config::Config::fromText(
            QStringLiteral("[tcp:e]\ncall = berth.tcp_echo\nport = 7000\nchunk_read = 4\n"));
        SocketApps::SocketAppSetup setup{config, QStringLiteral("tcp:e"), QStringLiteral("e"),
                                         SocketApps::AppStats()};
        Apps::TcpEchoApp app(setup);
        FakeStream stream;
        stream.cap = 6;
        auto session = app.accept(stream);
        stream.in = "0123456789abcdef";
        session->onReadable(stream);
        // Two chunks of 4 fill the 6-byte cap; the rest waits in the input.
        QCOMPARE(stream.out, QByteArray("01234567"));
        QCOMPARE(stream.in, QByteArray("89abcdef"));
        stream.out.clear(); // the peer read it
        session->onWritable(stream);
        QCOMPARE(stream.out, QByteArray("89abcdef"));
        QVERIFY(stream.in.isEmpty());
    }

    void tcpEchoAnswersAHalfCloseWithItsOwn()
    {
        const Config::Config config = Config::Config::fromText(
            QStringLiteral("[tcp:e]\ncall = berth.tcp_echo\nport = 7000\n"));
        SocketApps::SocketAppSetup setup{config, QStringLiteral("tcp:e"), QStringLiteral("e"),
                                         SocketApps::AppStats()};
        Apps::TcpEchoApp app(setup);
        FakeStream stream;
        auto session = app.accept(stream);
        stream.in = "last words";
        stream.eof = true;
        session->onReadable(stream);
        QCOMPARE(stream.out, QByteArray("last words"));
        QVERIFY(stream.shutDown);
    }

    void theTestMarkerThrowsOnlyInTestMode()
    {
        const Config::Config config = Config::Config::fromText(
            QStringLiteral("[tcp:e]\ncall = berth.tcp_echo\nport = 7000\n"));
        SocketApps::SocketAppSetup setup{config, QStringLiteral("tcp:e"), QStringLiteral("e"),
                                         SocketApps::AppStats()};
        qunsetenv("BERTH_TEST_APPS");
        {
            Apps::TcpEchoApp app(setup);
            FakeStream stream;
            auto session = app.accept(stream);
            stream.in = "x BERTH-TEST-THROW";
            session->onReadable(stream);
            QCOMPARE(stream.out, QByteArray("x BERTH-TEST-THROW"));
        }
        qputenv("BERTH_TEST_APPS", "1");
        Apps::TcpEchoApp app(setup);
        FakeStream stream;
        auto session = app.accept(stream);
        stream.in = "x BERTH-TEST-THROW";
        bool threw = false;
        try {
            session->onReadable(stream);
        } catch (const std::exception &) {
            threw = true;
        }
        QVERIFY(threw);
        qunsetenv("BERTH_TEST_APPS");
    }

    void udpEchoRepliesToTheSender()
    {
        const Config::Config config = Config::Config::fromText(
            QStringLiteral("[udp:u]\ncall = berth.udp_echo\nport = 7001\n"));
        Core::StatsRegistry stats;
        SocketApps::SocketAppSetup setup{config, QStringLiteral("udp:u"), QStringLiteral("u"),
                                         SocketApps::AppStats(&stats, QStringLiteral("udp:u"))};
        Apps::UdpEchoApp app(setup);
        FakeDatagramSocket socket;
        SocketApps::DatagramPeer peer{QStringLiteral("127.0.0.1"), 5555, QByteArray()};
        app.onDatagram("ping", peer, socket);
        app.onDatagram("pong!", peer, socket);
        QCOMPARE(socket.sent.size(), 2);
        QCOMPARE(socket.sent[1].first, QByteArray("pong!"));
        QCOMPARE(socket.sent[1].second, quint16(5555));
        QCOMPARE(stats.snapshot().last().name, QStringLiteral("udp:u.datagram_count"));
        QCOMPARE(stats.snapshot().last().value, 2);
    }

    void builtinsAreRegistered()
    {
        const auto &registry = SocketApps::SocketAppRegistry::builtin();
        QCOMPARE(registry.streamCalls(), QStringList{QStringLiteral("berth.tcp_echo")});
        QCOMPARE(registry.datagramCalls(), QStringList{QStringLiteral("berth.udp_echo")});
    }

    void checkReportsSocketAppProblemsAtFileLine()
    {
        const QStringList problems = checkText(QStringLiteral("[server]\nport = 8080\n\n"
                                                              "[tcp:e]\n"
                                                              "call = berth.tcp_echo\n"
                                                              "port = 8080\n"
                                                              "chunk_read = 0\n"
                                                              "chunk_reed = 5\n"
                                                              "\n[udp:u]\n"
                                                              "call = berth.udp_ech\n"
                                                              "port = 9000\n"));
        const QString all = problems.join(QLatin1Char('\n'));
        QVERIFY2(all.contains(QStringLiteral("t.conf:6:")) &&
                     all.contains(QStringLiteral("already served")),
                 qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("t.conf:7:")) &&
                     all.contains(QStringLiteral("chunk_read")),
                 qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("t.conf:8:")) &&
                     all.contains(QStringLiteral("unknown key 'chunk_reed'")) &&
                     all.contains(QStringLiteral("did you mean 'chunk_read'")),
                 qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("t.conf:11:")) &&
                     all.contains(QStringLiteral("did you mean 'berth.udp_echo'")),
                 qPrintable(all));
    }

    void aValidConfigurationHasNoFindings()
    {
        const QStringList problems =
            checkText(QStringLiteral("[tcp:e]\ncall = berth.tcp_echo\nport = 7000\n"
                                     "max_connections = 10\nidle_timeout = 5s\n"
                                     "\n[udp:u]\ncall = berth.udp_echo\nport = 7000\n"
                                     "max_datagram_bytes = 512\n"));
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QLatin1Char('\n'))));
    }

    void eachAppGetsItsSocketFromTheMaster()
    {
        const Config::Config config = Config::Config::fromText(QStringLiteral(
            "[server]\nport = 8080\n\n[tcp:a]\ncall = berth.tcp_echo\nport = 7000\nworkers = 3\n"
            "\n[udp:b]\ncall = berth.udp_echo\nport = 7000\n"));
        const auto &registry = Supervisor::ServiceRegistry::builtin();
        const QList<Core::ListenSpec> sockets = registry.listenSpecs(config);
        QCOMPARE(sockets.size(), 3); // HTTP first, then tcp, then udp
        QCOMPARE(sockets[0].port, quint16(8080));
        QCOMPARE(sockets[1].toString(), QStringLiteral("127.0.0.1:7000"));
        QCOMPARE(sockets[2].toString(), QStringLiteral("127.0.0.1:7000 (udp)"));
        int found = 0;
        for (const Supervisor::ChildSpec &spec : registry.childSpecs(config)) {
            if (spec.kind == QLatin1String("tcp")) {
                QCOMPARE(spec.count, 3);
                QCOMPARE(spec.listenSpecs.size(), 1);
                QVERIFY(spec.listenSpecs[0].sameSocket(sockets[1]));
                ++found;
            } else if (spec.kind == QLatin1String("udp")) {
                QCOMPARE(spec.listenSpecs.size(), 1);
                QVERIFY(spec.listenSpecs[0].sameSocket(sockets[2]));
                ++found;
            }
        }
        QCOMPARE(found, 2);
    }
};

QTEST_GUILESS_MAIN(TestSocketEchoApps)
#include "tst_socketechoapps.moc"
