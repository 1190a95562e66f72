// [server] listen: the entries, IPv4 beside IPv6 on one port, unix-socket listeners, and
// passed sockets adopted by FileDescriptorName and address.
#include "runtime/listener.h"
#include "runtime/listeners.h"

#include <QTemporaryDir>
#include <QTest>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

using namespace Berth::Core;
using namespace Qt::StringLiterals;

namespace {

quint16 boundPort(int fd)
{
    sockaddr_storage addr{};
    socklen_t length = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &length);
    return ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&addr)->sin6_port
                                            : reinterpret_cast<sockaddr_in *>(&addr)->sin_port);
}

ListenSpec parsed(const QString &entry);
ListenSpec parsed(const char *entry)
{
    return parsed(QString::fromLatin1(entry));
}

ListenSpec parsed(const QString &entry)
{
    ListenSpec spec;
    QString error;
    if (!parseListenEntry(entry, &spec, &error))
        qFatal("%s", qPrintable(error));
    return spec;
}

bool ipv6Available()
{
    const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
}

bool connectsUnix(const QString &path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const QByteArray p = path.toLocal8Bit();
    std::memcpy(addr.sun_path, p.constData(), size_t(p.size()));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
}

} // namespace

class TestListenSpecs : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parsesEntries()
    {
        ListenSpec s = parsed("127.0.0.1:8080");
        QCOMPARE(s.ip, QStringLiteral("127.0.0.1"));
        QCOMPARE(s.port, quint16(8080));
        QVERIFY(!s.tls && !s.http2 && !s.proxyProtocol && !s.isUnix());
        s = parsed("  [::]:8443   tls http2 ");
        QCOMPARE(s.ip, QStringLiteral("::"));
        QCOMPARE(s.port, quint16(8443));
        QVERIFY(s.tls && s.http2);
        QCOMPARE(s.toString(), QStringLiteral("[::]:8443 (tls)"));
        QCOMPARE(parsed("*:80").ip, QStringLiteral("0.0.0.0"));
        QCOMPARE(parsed("8080").ip, QStringLiteral("0.0.0.0"));
        s = parsed("unix:/run/berth/berth.sock proxy_protocol name=web");
        QVERIFY(s.isUnix());
        QCOMPARE(s.path, QStringLiteral("/run/berth/berth.sock"));
        QVERIFY(s.proxyProtocol);
        QCOMPARE(s.name, QStringLiteral("web"));
        QCOMPARE(s.toString(), QStringLiteral("unix:/run/berth/berth.sock"));
    }

    void refusesBadEntries_data()
    {
        QTest::addColumn<QString>("entry");
        QTest::addColumn<QString>("says");
        QTest::newRow("bare ipv6") << "::1:80"
                                   << "brackets";
        QTest::newRow("host name") << "localhost:80"
                                   << "not an IP address";
        QTest::newRow("port range") << "1.2.3.4:70000"
                                    << "not a port";
        QTest::newRow("no port") << "1.2.3.4:"
                                 << "not a port";
        QTest::newRow("relative unix") << "unix:berth.sock"
                                       << "absolute";
        QTest::newRow("unknown flag") << "1.2.3.4:80 gzip"
                                      << "unknown listener option 'gzip'";
        QTest::newRow("empty") << "  "
                               << "empty";
    }
    void refusesBadEntries()
    {
        QFETCH(QString, entry);
        QFETCH(QString, says);
        ListenSpec spec;
        QString error;
        QVERIFY(!parseListenEntry(entry, &spec, &error));
        QVERIFY2(error.contains(says), qPrintable(error));
    }

    void ipv6IsDualStackUnlessIpv4HasThePort()
    {
        QList<ListenSpec> specs{parsed("[::]:8080"), parsed("[::]:9090"), parsed("0.0.0.0:8080")};
        assignV6Only(&specs);
        QVERIFY(specs[0].v6Only);
        QVERIFY(!specs[1].v6Only);
        QList<ListenSpec> alone{parsed("[::]:8080")};
        assignV6Only(&alone);
        QVERIFY(!alone[0].v6Only);
    }

    void bindsIpv4AndIpv6OnOnePort()
    {
        if (!ipv6Available())
            QSKIP("no IPv6 in this environment");
        QString error;
        const int probe = openListeningSocket(QStringLiteral("0.0.0.0"), 0, &error);
        QVERIFY2(probe >= 0, qPrintable(error));
        const quint16 port = boundPort(probe);
        ::close(probe);
        QList<ListenSpec> specs{parsed(QStringLiteral("0.0.0.0:%1").arg(port)),
                                parsed(QStringLiteral("[::]:%1").arg(port))};
        assignV6Only(&specs);
        QList<int> fds;
        QVERIFY2(acquireListeners(specs, &fds, &error), qPrintable(error));
        QCOMPARE(fds.size(), 2);
        QCOMPARE(boundPort(fds[1]), port);
        for (int fd : fds)
            ::close(fd);
    }

    void opensUnixSocketsWithModeAndReplacesStaleOnes()
    {
        QTemporaryDir dir;
        ListenSpec spec = parsed(u"unix:"_s + dir.filePath(u"b.sock"_s));
        spec.unixMode = 0660;
        QString error;
        int fd = openListener(spec, &error);
        QVERIFY2(fd >= 0, qPrintable(error));
        struct stat st
        {};
        QCOMPARE(::stat(spec.path.toLocal8Bit().constData(), &st), 0);
        QVERIFY(S_ISSOCK(st.st_mode));
        QCOMPARE(int(st.st_mode & 0777), 0660);
        QVERIFY(connectsUnix(spec.path));
        // A live socket is not taken over.
        QCOMPARE(openListener(spec, &error), -1);
        QVERIFY2(error.contains(u"another process"_s), qPrintable(error));
        // The file a crashed run left behind is.
        ::close(fd);
        QVERIFY(!connectsUnix(spec.path));
        fd = openListener(spec, &error);
        QVERIFY2(fd >= 0, qPrintable(error));
        QVERIFY(connectsUnix(spec.path));
        ::close(fd);
        ListenSpec group = spec;
        group.path = dir.filePath(u"g.sock"_s);
        group.unixGroup = QStringLiteral("no-such-group-berth");
        QCOMPARE(openListener(group, &error), -1);
        QVERIFY2(error.contains(u"no such group"_s), qPrintable(error));
    }

    void adoptsPassedSocketsByNameThenAddress()
    {
        QTemporaryDir dir;
        QString error;
        const int tcpFd = openListeningSocket(QStringLiteral("127.0.0.1"), 0, &error);
        const int unixFd = openListener(parsed(u"unix:"_s + dir.filePath(u"p.sock"_s)), &error);
        QVERIFY(tcpFd >= 0 && unixFd >= 0);
        const int saved3 = ::dup(3), saved4 = ::dup(4);
        QVERIFY(::dup2(tcpFd, 3) == 3 && ::dup2(unixFd, 4) == 4);
        const quint16 tcpPort = boundPort(3);
        qputenv("LISTEN_PID", QByteArray::number(qint64(::getpid())));
        qputenv("LISTEN_FDS", "2");
        qputenv("LISTEN_FDNAMES", "web:admin");
        // The TCP socket by its name although the address differs; the unix one by its path.
        ListenSpec byName = parsed(QStringLiteral("127.0.0.2:%1 name=web").arg(tcpPort + 1));
        ListenSpec byPath = parsed(u"unix:"_s + dir.filePath(u"p.sock"_s));
        QList<int> fds;
        QVERIFY2(acquireListeners({byPath, byName}, &fds, &error), qPrintable(error));
        QCOMPARE(fds, (QList<int>{4, 3}));
        QVERIFY(!qEnvironmentVariableIsSet("LISTEN_FDNAMES"));
        for (const auto &[saved, target] : {std::pair{saved3, 3}, std::pair{saved4, 4}}) {
            if (saved >= 0) {
                ::dup2(saved, target);
                ::close(saved);
            } else {
                ::close(target);
            }
        }
        ::close(tcpFd);
        ::close(unixFd);
    }
};

QTEST_GUILESS_MAIN(TestListenSpecs)
#include "tst_listenspecs.moc"
