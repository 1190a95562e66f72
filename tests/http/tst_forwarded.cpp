// [server] trusted_proxies: the CIDR matching and the client and scheme a trusted proxy's
// X-Forwarded-For / Forwarded / X-Forwarded-Proto headers name.
#include "http/forwarded.h"

#include <QTest>

using namespace Berth::Http;
using namespace Qt::StringLiterals;

namespace {

QHostAddress ip(const char *text)
{
    return QHostAddress(QString::fromLatin1(text));
}

// A head with these fields; views point into the caller's literals.
RequestHead headWith(std::initializer_list<std::pair<const char *, const char *>> fields)
{
    RequestHead head;
    for (const auto &[name, value] : fields)
        head.fields.push_back({QByteArrayView(name), QByteArrayView(value)});
    return head;
}

TrustedProxies trusted(std::initializer_list<const char *> list)
{
    QStringList entries;
    for (const char *e : list)
        entries.append(QString::fromLatin1(e));
    TrustedProxies t;
    QString error;
    if (!t.parse(entries, &error))
        qFatal("%s", qPrintable(error));
    return t;
}

} // namespace

class TestForwarded : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void matchesAddressesSubnetsAndMappedAddresses()
    {
        const TrustedProxies t = trusted({"10.0.0.0/8", "127.0.0.1", "fd00::/8", "unix"});
        QVERIFY(t.contains(ip("10.1.2.3")));
        QVERIFY(t.contains(ip("127.0.0.1")));
        QVERIFY(!t.contains(ip("127.0.0.2")));
        QVERIFY(!t.contains(ip("11.0.0.1")));
        QVERIFY(t.contains(ip("fd12::1")));
        QVERIFY(!t.contains(ip("fe80::1")));
        // A dual-stack listener's view of an IPv4 peer.
        QVERIFY(t.contains(ip("::ffff:10.9.9.9")));
        QVERIFY(t.trustsUnixPeers());
        QVERIFY(!trusted({"10.0.0.0/8"}).trustsUnixPeers());
        QVERIFY(TrustedProxies().isEmpty());
        QVERIFY(!TrustedProxies().contains(ip("127.0.0.1")));
    }

    void rejectsWhatIsNoAddress()
    {
        TrustedProxies t;
        QString error;
        QVERIFY(!t.parse({u"10.0.0.0/8"_s, u"proxy.example"_s}, &error));
        QVERIFY2(error.contains(u"proxy.example"_s), qPrintable(error));
        QVERIFY(!t.parse({u"10.0.0.0/33"_s}, &error));
    }

    void takesTheRightmostUntrustedHop()
    {
        const TrustedProxies t = trusted({"10.0.0.0/8"});
        // The client wrote "6.6.6.6" itself; 1.2.3.4 is who reached our first proxy.
        auto c = forwardedClient(headWith({{"X-Forwarded-For", "6.6.6.6, 1.2.3.4, 10.0.0.5"}}), t);
        QVERIFY(c.found);
        QCOMPARE(c.address, ip("1.2.3.4"));
        QCOMPARE(c.port, quint16(0));
        // Several field lines are one list.
        c = forwardedClient(
            headWith({{"X-Forwarded-For", "6.6.6.6"}, {"x-forwarded-for", "10.0.0.7, 10.0.0.5"}}),
            t);
        QCOMPARE(c.address, ip("6.6.6.6"));
        // All trusted: the leftmost is the best there is.
        c = forwardedClient(headWith({{"X-Forwarded-For", "10.0.0.9, 10.0.0.5"}}), t);
        QCOMPARE(c.address, ip("10.0.0.9"));
        // Ports and IPv6 forms some proxies send.
        c = forwardedClient(headWith({{"X-Forwarded-For", "[2001:db8::1]:4711"}}), t);
        QCOMPARE(c.address, ip("2001:db8::1"));
        QCOMPARE(c.port, quint16(4711));
        c = forwardedClient(headWith({{"X-Forwarded-For", "192.0.2.7:80"}}), t);
        QCOMPARE(c.address, ip("192.0.2.7"));
        QCOMPARE(c.port, quint16(80));
        c = forwardedClient(headWith({{"X-Forwarded-For", "2001:db8::2"}}), t);
        QCOMPARE(c.address, ip("2001:db8::2"));
    }

    void believesNothingOfAMalformedList()
    {
        const TrustedProxies t = trusted({"10.0.0.0/8"});
        for (const char *value : {"1.2.3.4, garbage", "1.2.3.4,", "unknown", "1.2.3.4:99999",
                                  "fe80::1%eth0", "[1.2.3.4]:80", ""}) {
            const auto c = forwardedClient(headWith({{"X-Forwarded-For", value}}), t);
            QVERIFY2(!c.found, value);
        }
    }

    void readsForwardedWhenThereIsNoXForwardedFor()
    {
        const TrustedProxies t = trusted({"10.0.0.0/8"});
        auto c = forwardedClient(
            headWith({{"Forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43, for=10.0.0.2"}}),
            t);
        QVERIFY(c.found);
        QCOMPARE(c.address, ip("192.0.2.60"));
        QCOMPARE(c.secure, std::optional<bool>(true));
        c = forwardedClient(headWith({{"Forwarded", "For=\"[2001:db8:cafe::17]:4711\""}}), t);
        QCOMPARE(c.address, ip("2001:db8:cafe::17"));
        QCOMPARE(c.port, quint16(4711));
        QVERIFY(!c.secure.has_value());
        QVERIFY(!forwardedClient(headWith({{"Forwarded", "for=unknown"}}), t).found);
        QVERIFY(!forwardedClient(headWith({{"Forwarded", "for=_hidden"}}), t).found);
        QVERIFY(!forwardedClient(headWith({{"Forwarded", "garbage"}}), t).found);
        // X-Forwarded-For wins over Forwarded.
        c = forwardedClient(
            headWith({{"Forwarded", "for=192.0.2.60"}, {"X-Forwarded-For", "198.51.100.1"}}), t);
        QCOMPARE(c.address, ip("198.51.100.1"));
    }

    void readsTheScheme()
    {
        const TrustedProxies t = trusted({"10.0.0.0/8"});
        auto c = forwardedClient(
            headWith({{"X-Forwarded-For", "1.2.3.4"}, {"X-Forwarded-Proto", "https"}}), t);
        QCOMPARE(c.secure, std::optional<bool>(true));
        c = forwardedClient(headWith({{"X-Forwarded-Proto", "HTTP"}}), t);
        QVERIFY(!c.found);
        QCOMPARE(c.secure, std::optional<bool>(false));
        // The proxy nearest us appends last.
        c = forwardedClient(headWith({{"X-Forwarded-Proto", "http, https"}}), t);
        QCOMPARE(c.secure, std::optional<bool>(true));
        c = forwardedClient(headWith({{"X-Forwarded-Proto", "gopher"}}), t);
        QVERIFY(!c.secure.has_value());
    }
};

QTEST_GUILESS_MAIN(TestForwarded)
#include "tst_forwarded.moc"
