// The compact address a connection keeps of its ends: the text request.log shows must be what
// QHostAddress spelled before, and filling a request's QHostAddress must not allocate when it
// holds the address already.
#include "engine/socketaddress.h"

#include <QTest>

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using Berth::Engine::SocketAddress;

namespace {

SocketAddress v4(const char *ip, quint16 port)
{
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &in.sin_addr);
    return SocketAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in));
}

SocketAddress v6(const char *ip, quint16 port)
{
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    ::inet_pton(AF_INET6, ip, &in6.sin6_addr);
    return SocketAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in6));
}

QByteArray text(const SocketAddress &a)
{
    char out[SocketAddress::MaxTextLength];
    return QByteArray(out, a.format(out));
}

} // namespace

class TestSocketAddress : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void formatsAsQHostAddressDid_data()
    {
        QTest::addColumn<QByteArray>("ip");
        QTest::addColumn<bool>("ipv6");
        QTest::newRow("v4") << QByteArray("192.0.2.7") << false;
        QTest::newRow("loopback v6") << QByteArray("::1") << true;
        QTest::newRow("v6") << QByteArray("2001:db8::42:1") << true;
        QTest::newRow("v6 full") << QByteArray("2001:db8:1:2:3:4:5:6") << true;
        QTest::newRow("v6 one zero group") << QByteArray("2001:db8:0:1:1:1:1:1") << true;
    }
    void formatsAsQHostAddressDid()
    {
        QFETCH(QByteArray, ip);
        QFETCH(bool, ipv6);
        const SocketAddress a = ipv6 ? v6(ip.constData(), 8080) : v4(ip.constData(), 8080);
        const QByteArray expected =
            QHostAddress(QString::fromLatin1(ip)).toString().toLatin1() + ":8080";
        QCOMPARE(text(a), expected);
        QHostAddress filled;
        a.assignTo(filled);
        QCOMPARE(filled, QHostAddress(QString::fromLatin1(ip)));
        QCOMPARE(a.port(), quint16(8080));
    }

    void mappedIpv4IsIpv4()
    {
        // A dual-stack listener's IPv4 client: logs and access rules want a.b.c.d.
        const SocketAddress a = v6("::ffff:198.51.100.9", 443);
        QCOMPARE(text(a), QByteArray("198.51.100.9:443"));
        QHostAddress filled;
        a.assignTo(filled);
        QCOMPARE(filled.protocol(), QAbstractSocket::IPv4Protocol);
        QCOMPARE(filled, QHostAddress(QStringLiteral("198.51.100.9")));
        const SocketAddress b =
            SocketAddress::fromHost(QHostAddress(QStringLiteral("::ffff:198.51.100.9")), 443);
        QCOMPARE(text(b), QByteArray("198.51.100.9:443"));
    }

    void assignKeepsAnEqualAddress()
    {
        // The request object's address is left alone (no detach, no allocation) when equal.
        QHostAddress filled(QStringLiteral("192.0.2.7"));
        const QHostAddress shared = filled; // shares the private
        v4("192.0.2.7", 1).assignTo(filled);
        QVERIFY(filled.isEqual(shared));
        v4("192.0.2.8", 1).assignTo(filled);
        QCOMPARE(filled, QHostAddress(QStringLiteral("192.0.2.8")));
        QCOMPARE(shared, QHostAddress(QStringLiteral("192.0.2.7"))); // the copy is untouched
        v6("2001:db8::1", 1).assignTo(filled);
        QCOMPARE(filled, QHostAddress(QStringLiteral("2001:db8::1")));
        SocketAddress().assignTo(filled);
        QVERIFY(filled.isNull());
    }

    void nullAndUnix()
    {
        QVERIFY(SocketAddress().isNull());
        QCOMPARE(text(SocketAddress()), QByteArray());
        sockaddr un{};
        un.sa_family = AF_UNIX;
        QVERIFY(SocketAddress::fromSockaddr(&un).isNull());
        QVERIFY(SocketAddress::fromHost(QHostAddress(), 1).isNull());
    }

    void fromHostMatchesFromSockaddr()
    {
        // A PROXY header's addresses (QHostAddress) and an accept's (sockaddr) agree.
        QCOMPARE(text(SocketAddress::fromHost(QHostAddress(QStringLiteral("2001:db8::9")), 80)),
                 text(v6("2001:db8::9", 80)));
        QCOMPARE(text(SocketAddress::fromHost(QHostAddress(QStringLiteral("10.1.2.3")), 80)),
                 text(v4("10.1.2.3", 80)));
    }

    void listenerBoundToOneAddressFixesTheLocalAddress_data()
    {
        QTest::addColumn<int>("family");
        QTest::addColumn<QByteArray>("ip");
        QTest::addColumn<bool>("fixed");
        QTest::newRow("v4 loopback") << AF_INET << QByteArray("127.0.0.1") << true;
        QTest::newRow("v4 wildcard") << AF_INET << QByteArray("0.0.0.0") << false;
        QTest::newRow("v6 loopback") << AF_INET6 << QByteArray("::1") << true;
        QTest::newRow("v6 wildcard") << AF_INET6 << QByteArray("::") << false;
    }
    void listenerBoundToOneAddressFixesTheLocalAddress()
    {
        QFETCH(int, family);
        QFETCH(QByteArray, ip);
        QFETCH(bool, fixed);
        const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        QVERIFY(fd >= 0);
        sockaddr_storage addr{};
        socklen_t len = 0;
        if (family == AF_INET) {
            auto *in = reinterpret_cast<sockaddr_in *>(&addr);
            in->sin_family = AF_INET;
            ::inet_pton(AF_INET, ip.constData(), &in->sin_addr);
            len = sizeof(sockaddr_in);
        } else {
            auto *in6 = reinterpret_cast<sockaddr_in6 *>(&addr);
            in6->sin6_family = AF_INET6;
            ::inet_pton(AF_INET6, ip.constData(), &in6->sin6_addr);
            len = sizeof(sockaddr_in6);
        }
        if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), len) != 0) {
            ::close(fd);
            QSKIP("this machine has no such address family");
        }
        QCOMPARE(::listen(fd, 4), 0);
        len = sizeof(addr);
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
        SocketAddress local;
        QCOMPARE(SocketAddress::fixedForListener(fd, &local), fixed);
        if (fixed) {
            // What getsockname on an accepted connection says: the address and the port.
            const SocketAddress expected =
                SocketAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&addr));
            QCOMPARE(text(local), text(expected));
            QVERIFY(text(local).startsWith(family == AF_INET ? "127.0.0.1:" : "::1:"));
        } else {
            QVERIFY(local.isNull());
        }
        ::close(fd);
    }

    void unixListenerIsFixedWithoutAddress()
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        // Abstract namespace: nothing to clean up.
        const QByteArray name = "berth-tst-socketaddress-" + QByteArray::number(::getpid());
        std::memcpy(addr.sun_path + 1, name.constData(), size_t(name.size()));
        QCOMPARE(::bind(fd, reinterpret_cast<sockaddr *>(&addr),
                        socklen_t(sizeof(sa_family_t) + 1 + name.size())),
                 0);
        SocketAddress local = v4("192.0.2.1", 1);
        QVERIFY(SocketAddress::fixedForListener(fd, &local));
        QVERIFY(local.isNull());
        ::close(fd);
    }
};

QTEST_APPLESS_MAIN(TestSocketAddress)
#include "tst_socketaddress.moc"
