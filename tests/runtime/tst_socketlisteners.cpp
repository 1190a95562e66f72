// Core::acquireListeners with UDP sockets beside TCP listeners: opened by type, adopted from
// LISTEN_FDS by type and address.
#include "runtime/listener.h"
#include "runtime/listeners.h"

#include <QTest>

#include <utility>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace Berth::Core;

namespace {

int socketType(int fd)
{
    int type = 0;
    socklen_t length = sizeof(type);
    ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length);
    return type;
}

quint16 boundPort(int fd)
{
    sockaddr_in addr{};
    socklen_t length = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &length);
    return ntohs(addr.sin_port);
}

} // namespace

class TestSocketListeners : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void opensADatagramSocketForADatagramSpec()
    {
        QString error;
        QList<int> fds;
        quint16 port = 0;
        // A port free for UDP may be taken for TCP by another test running beside this one (an
        // ephemeral port of some connection): try a few.
        for (int attempt = 0; attempt < 20 && fds.isEmpty(); ++attempt) {
            const int probe = openDatagramSocket(QStringLiteral("127.0.0.1"), 0, &error);
            QVERIFY2(probe >= 0, qPrintable(error));
            port = boundPort(probe);
            ::close(probe);
            const ListenSpec udp{QStringLiteral("127.0.0.1"), port, false,
                                 ListenSpec::Socket::Datagram};
            const ListenSpec tcp{QStringLiteral("127.0.0.1"), port, false,
                                 ListenSpec::Socket::Stream};
            // The same port number for TCP and UDP: two different sockets.
            if (!acquireListeners({tcp, udp}, &fds, &error)) {
                QVERIFY2(error.contains(QLatin1String("in use")), qPrintable(error));
                for (int fd : std::as_const(fds))
                    ::close(fd);
                fds.clear();
            }
        }
        QVERIFY2(!fds.isEmpty(), qPrintable(error));
        const ListenSpec udp{QStringLiteral("127.0.0.1"), port, false,
                             ListenSpec::Socket::Datagram};
        const ListenSpec tcp{QStringLiteral("127.0.0.1"), port, false, ListenSpec::Socket::Stream};
        QCOMPARE(fds.size(), 2);
        QCOMPARE(socketType(fds[0]), int(SOCK_STREAM));
        QCOMPARE(socketType(fds[1]), int(SOCK_DGRAM));
        QCOMPARE(udp.toString(), QStringLiteral("127.0.0.1:%1 (udp)").arg(port));
        QVERIFY(!udp.sameSocket(tcp));
        for (int fd : fds)
            ::close(fd);
    }

    void adoptsPassedSocketsByTypeAndAddress()
    {
        QString error;
        const int udpFd = openDatagramSocket(QStringLiteral("127.0.0.1"), 0, &error);
        const int tcpFd = openListeningSocket(QStringLiteral("127.0.0.1"), 0, &error);
        QVERIFY(udpFd >= 0 && tcpFd >= 0);
        // Put them where LISTEN_FDS says they are: 3 and 4 (moving what is there away).
        const int saved3 = ::dup(3), saved4 = ::dup(4);
        QVERIFY(::dup2(tcpFd, 3) == 3 && ::dup2(udpFd, 4) == 4);
        const quint16 tcpPort = boundPort(3), udpPort = boundPort(4);
        qputenv("LISTEN_PID", QByteArray::number(qint64(::getpid())));
        qputenv("LISTEN_FDS", "2");
        QList<int> fds;
        const QList<ListenSpec> specs{
            {QStringLiteral("127.0.0.1"), udpPort, false, ListenSpec::Socket::Datagram},
            {QStringLiteral("127.0.0.1"), tcpPort, false, ListenSpec::Socket::Stream}};
        QVERIFY2(acquireListeners(specs, &fds, &error), qPrintable(error));
        QCOMPARE(fds, (QList<int>{4, 3}));
        QVERIFY(!qEnvironmentVariableIsSet("LISTEN_FDS"));
        // Put back what was at 3 and 4 (or nothing).
        for (const auto &[saved, target] : {std::pair{saved3, 3}, std::pair{saved4, 4}}) {
            if (saved >= 0) {
                ::dup2(saved, target);
                ::close(saved);
            } else {
                ::close(target);
            }
        }
        ::close(udpFd);
        ::close(tcpFd);
    }
};

QTEST_GUILESS_MAIN(TestSocketListeners)
#include "tst_socketlisteners.moc"
