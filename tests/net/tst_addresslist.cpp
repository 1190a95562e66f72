// Berth::Net::AddressList: the one matcher behind every address allow-list (berth.debug and
// berth.mail `allow`, the gateway's `ips`/`deny_ips`, [server] trusted_proxies).
#include "config/config.h"
#include "net/addresslist.h"

#include <QTest>

using namespace Berth;
using namespace Berth::Net;
using namespace Qt::StringLiterals;

class tst_AddressList : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void matches_data();
    void matches();
    void badEntries_data();
    void badEntries();
    void hostBitsAreIgnored();
    void parseStopsAtTheFirstBadEntry();
    void emptyListAndNullAddressMatchNothing();
    void badEntriesAreConfigErrorsAtTheirLine();
};

void tst_AddressList::matches_data()
{
    QTest::addColumn<QStringList>("entries");
    QTest::addColumn<QString>("address");
    QTest::addColumn<bool>("expected");
    const QStringList mixed{u"10.0.0.0/8"_s, u"127.0.0.1"_s, u"2001:db8::/32"_s, u"::1"_s};
    QTest::newRow("v4 in a /8") << mixed << u"10.200.3.4"_s << true;
    QTest::newRow("v4 outside") << mixed << u"11.0.0.1"_s << false;
    QTest::newRow("v4 /32 itself") << mixed << u"127.0.0.1"_s << true;
    QTest::newRow("v4 /32 neighbour") << mixed << u"127.0.0.2"_s << false;
    QTest::newRow("explicit /32") << QStringList{u"192.0.2.7/32"_s} << u"192.0.2.7"_s << true;
    QTest::newRow("explicit /32 neighbour")
        << QStringList{u"192.0.2.7/32"_s} << u"192.0.2.6"_s << false;
    QTest::newRow("v6 in a /32") << mixed << u"2001:db8:1::5"_s << true;
    QTest::newRow("v6 outside") << mixed << u"2001:db9::1"_s << false;
    QTest::newRow("v6 /128 itself") << mixed << u"::1"_s << true;
    QTest::newRow("v6 /128 neighbour") << mixed << u"::2"_s << false;
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
    QTest::newRow("v4-mapped client, v4 entry") << mixed << u"::ffff:10.1.2.3"_s << true;
    QTest::newRow("v4-mapped client outside") << mixed << u"::ffff:11.1.2.3"_s << false;
    QTest::newRow("v4-mapped entry, v4 client")
        << QStringList{u"::ffff:10.0.0.0/104"_s} << u"10.9.9.9"_s << true;
    QTest::newRow("v4-mapped entry /128, v4 client")
        << QStringList{u"::ffff:192.0.2.1"_s} << u"192.0.2.1"_s << true;
    QTest::newRow("v4-mapped entry, other v4 client")
        << QStringList{u"::ffff:10.0.0.0/104"_s} << u"11.0.0.1"_s << false;
    QTest::newRow("v4 /0: every v4") << QStringList{u"0.0.0.0/0"_s} << u"203.0.113.9"_s << true;
    QTest::newRow("v4 /0: mapped v4")
        << QStringList{u"0.0.0.0/0"_s} << u"::ffff:203.0.113.9"_s << true;
    QTest::newRow("v4 /0: not v6") << QStringList{u"0.0.0.0/0"_s} << u"2001:db8::1"_s << false;
    QTest::newRow("v6 /0: every v6") << QStringList{u"::/0"_s} << u"2001:db8::1"_s << true;
    // IPv4 is matched as IPv4 whatever socket it came in on.
    QTest::newRow("v6 /0: not v4") << QStringList{u"::/0"_s} << u"192.0.2.1"_s << false;
    QTest::newRow("v6 /0: not mapped v4")
        << QStringList{u"::/0"_s} << u"::ffff:192.0.2.1"_s << false;
    QTest::newRow("blanks around entries")
        << QStringList{u"  10.0.0.0/8 "_s} << u"10.0.0.1"_s << true;
}

void tst_AddressList::matches()
{
    QFETCH(QStringList, entries);
    QFETCH(QString, address);
    QFETCH(bool, expected);
    AddressList list;
    QString error;
    QVERIFY2(list.parse(entries, &error), qPrintable(error));
    QCOMPARE(list.contains(QHostAddress(address)), expected);
}

void tst_AddressList::badEntries_data()
{
    QTest::addColumn<QString>("entry");
    QTest::newRow("word") << u"not-an-address"_s;
    QTest::newRow("empty") << u""_s;
    QTest::newRow("octet over 255") << u"300.1.2.3"_s;
    QTest::newRow("partial v4") << u"10"_s;
    QTest::newRow("partial v4 with prefix") << u"10/8"_s;
    QTest::newRow("three parts") << u"127.0.1"_s;
    QTest::newRow("hex v4") << u"0x7f.0.0.1"_s;
    QTest::newRow("v4 prefix too long") << u"10.0.0.0/33"_s;
    QTest::newRow("v6 prefix too long") << u"::1/129"_s;
    QTest::newRow("netmask, not a prefix") << u"10.0.0.0/255.0.0.0"_s;
    QTest::newRow("empty prefix") << u"10.0.0.0/"_s;
    QTest::newRow("negative prefix") << u"10.0.0.0/-1"_s;
    QTest::newRow("only a prefix") << u"/8"_s;
    QTest::newRow("v6 garbage") << u"2001:db8:::1"_s;
    QTest::newRow("host name") << u"localhost"_s;
}

void tst_AddressList::badEntries()
{
    QFETCH(QString, entry);
    QVERIFY(!AddressList::parseEntry(entry));
    AddressList list;
    QString error;
    QVERIFY(!list.parse({entry}, &error));
    QCOMPARE(error, u"'%1' is not an IP address or CIDR network"_s.arg(entry));
}

void tst_AddressList::hostBitsAreIgnored()
{
    const auto network = AddressList::parseEntry(u"10.1.2.3/8");
    QVERIFY(network);
    QCOMPARE(network->first, QHostAddress(u"10.0.0.0"_s));
    QCOMPARE(network->second, 8);
    const auto mapped = AddressList::parseEntry(u"::ffff:10.1.2.3/104");
    QVERIFY(mapped);
    QCOMPARE(mapped->first, QHostAddress(u"10.0.0.0"_s));
    QCOMPARE(mapped->second, 8);
}

void tst_AddressList::parseStopsAtTheFirstBadEntry()
{
    AddressList list;
    QString error;
    QVERIFY(!list.parse({u"10.0.0.0/8"_s, u"bad"_s, u"11.0.0.0/8"_s}, &error));
    QCOMPARE(error, u"'bad' is not an IP address or CIDR network"_s);
    QVERIFY(list.contains(QHostAddress(u"10.0.0.1"_s)));
    QVERIFY(!list.contains(QHostAddress(u"11.0.0.1"_s)));
    QVERIFY(list.parse({}, &error));
    QVERIFY(list.isEmpty()); // parse replaces
}

void tst_AddressList::emptyListAndNullAddressMatchNothing()
{
    AddressList list;
    QVERIFY(list.isEmpty());
    QVERIFY(!list.contains(QHostAddress(u"127.0.0.1"_s)));
    QString error;
    QVERIFY(list.parse({u"0.0.0.0/0"_s, u"::/0"_s}, &error));
    QVERIFY(!list.contains(QHostAddress())); // a unix-socket peer
}

void tst_AddressList::badEntriesAreConfigErrorsAtTheirLine()
{
    const Config::Config config = Config::Config::fromText(
        u"[server]\nport = 8080\n\n[app:d]\ncall = berth.debug\nallow = 127.0.0.1, nope, "
        u"10.0.0.0/40, ::1\n"_s,
        u"site.conf"_s);
    const AddressList list = AddressList::fromConfig(config, u"app:d"_s, u"allow"_s);
    QStringList errors;
    for (const Config::Diagnostic &d : config.diagnostics())
        errors.append(d.toString());
    QCOMPARE(errors,
             (QStringList{u"site.conf:6: [app:d] allow: 'nope' is not an IP address or CIDR "
                          u"network"_s,
                          u"site.conf:6: [app:d] allow: '10.0.0.0/40' is not an IP address "
                          u"or CIDR network"_s}));
    // The good entries are kept.
    QVERIFY(list.contains(QHostAddress(u"127.0.0.1"_s)));
    QVERIFY(list.contains(QHostAddress(u"::1"_s)));
    QCOMPARE(list.networks().size(), 2);
}

QTEST_GUILESS_MAIN(tst_AddressList)
#include "tst_addresslist.moc"
