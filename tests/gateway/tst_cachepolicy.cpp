#include "apps/proxy/cache/cachepolicy.h"

#include <QTest>

using namespace Berth::Gateway::Cache;

namespace {

constexpr qint64 Now = 1'800'000'000; // seconds since the epoch

Fields fields(std::initializer_list<std::pair<const char *, const char *>> list)
{
    Fields out;
    for (const auto &[name, value] : list)
        out.emplace_back(name, value);
    return out;
}

} // namespace

class TestCachePolicy : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parsesDirectives()
    {
        const Directives d = Directives::parse({"max-age=60, s-maxage=\"120\"",
                                                "Must-Revalidate, stale-while-revalidate=5",
                                                "stale-if-error=9, no-cache, bogus, max-stale"});
        QCOMPARE(d.maxAge, 60);
        QCOMPARE(d.sMaxAge, 120);
        QVERIFY(d.mustRevalidate && d.noCache && !d.noStore && !d.isPrivate);
        QCOMPARE(d.staleWhileRevalidate, 5);
        QCOMPARE(d.staleIfError, 9);
        QCOMPARE(Directives::parse({"max-age=abc"}).maxAge, -1);
        QVERIFY(Directives::parse({"only-if-cached"}).onlyIfCached);
    }

    void parsesHttpDates()
    {
        QCOMPARE(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
        QCOMPARE(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
        QCOMPARE(parseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777);
        QCOMPARE(parseHttpDate("0"), -1);
        QCOMPARE(formatHttpDate(784111777), QByteArray("Sun, 06 Nov 1994 08:49:37 GMT"));
    }

    void freshnessSources()
    {
        // s-maxage beats max-age beats Expires beats the group's TTL.
        QCOMPARE(
            planStore(200, fields({{"Cache-Control", "max-age=10, s-maxage=20"}}), false, 60, Now)
                .freshSeconds,
            20);
        QCOMPARE(
            planStore(200, fields({{"Cache-Control", "max-age=10"}}), false, 60, Now).freshSeconds,
            10);
        const QByteArray date = formatHttpDate(Now);
        const QByteArray expires = formatHttpDate(Now + 30);
        QCOMPARE(planStore(200,
                           fields({{"Date", date.constData()}, {"Expires", expires.constData()}}),
                           false, 60, Now)
                     .freshSeconds,
                 30);
        QCOMPARE(planStore(200, fields({{"Expires", "garbage"}}), false, 60, Now).freshSeconds, 0);
        QCOMPARE(planStore(200, {}, false, 60, Now).freshSeconds, 60);
        QVERIFY(!planStore(200, {}, false, 0, Now).store); // no TTL and no freshness
    }

    void ageFromDateAndAgeField()
    {
        const QByteArray date = formatHttpDate(Now - 7);
        QCOMPARE(planStore(200, fields({{"Date", date.constData()}}), false, 60, Now).initialAge,
                 7);
        QCOMPARE(planStore(200, fields({{"Age", "12"}}), false, 60, Now).initialAge, 12);
    }

    void refusals_data()
    {
        QTest::addColumn<int>("status");
        QTest::addColumn<QByteArray>("name");
        QTest::addColumn<QByteArray>("value");
        QTest::addColumn<bool>("authorization");
        QTest::addColumn<bool>("stored");
        QTest::newRow("plain") << 200 << QByteArray("X") << QByteArray("1") << false << true;
        QTest::newRow("no-store") << 200 << QByteArray("Cache-Control") << QByteArray("no-store")
                                  << false << false;
        QTest::newRow("private") << 200 << QByteArray("Cache-Control")
                                 << QByteArray("private, max-age=9") << false << false;
        QTest::newRow("set-cookie")
            << 200 << QByteArray("Set-Cookie") << QByteArray("a=1") << false << false;
        QTest::newRow("vary-star")
            << 200 << QByteArray("Vary") << QByteArray("*") << false << false;
        QTest::newRow("auth") << 200 << QByteArray("X") << QByteArray("1") << true << false;
        QTest::newRow("auth-public")
            << 200 << QByteArray("Cache-Control") << QByteArray("public") << true << true;
        QTest::newRow("auth-s-maxage")
            << 200 << QByteArray("Cache-Control") << QByteArray("s-maxage=5") << true << true;
        QTest::newRow("404") << 404 << QByteArray("X") << QByteArray("1") << false << true;
        QTest::newRow("500") << 500 << QByteArray("X") << QByteArray("1") << false << false;
        QTest::newRow("500-explicit")
            << 500 << QByteArray("Cache-Control") << QByteArray("max-age=5") << false << true;
        QTest::newRow("206") << 206 << QByteArray("Cache-Control") << QByteArray("max-age=5")
                             << false << false;
    }

    void refusals()
    {
        QFETCH(int, status);
        QFETCH(QByteArray, name);
        QFETCH(QByteArray, value);
        QFETCH(bool, authorization);
        QFETCH(bool, stored);
        Fields f;
        f.emplace_back(name, value);
        QCOMPARE(planStore(status, f, authorization, 60, Now).store, stored);
    }

    void noCacheAndMustRevalidate()
    {
        const StorePlan noCache =
            planStore(200, fields({{"Cache-Control", "no-cache, max-age=60"}}), false, 60, Now);
        QVERIFY(noCache.store && noCache.mustRevalidate);
        QCOMPARE(noCache.freshSeconds, 0);
        const StorePlan stale = planStore(
            200,
            fields({{"Cache-Control", "max-age=1, stale-while-revalidate=5, stale-if-error=7"}}),
            false, 60, Now);
        QCOMPARE(stale.staleWhileRevalidate, 5);
        QCOMPARE(stale.staleIfError, 7);
        const StorePlan strict = planStore(
            200, fields({{"Cache-Control", "max-age=1, must-revalidate, stale-if-error=7"}}), false,
            60, Now);
        QCOMPARE(strict.staleIfError, 0);
    }

    void varyNamesAreSortedAndLowerCase()
    {
        QCOMPARE(varyNames(fields({{"Vary", "User-Agent, accept-encoding"}, {"Vary", "Accept"}})),
                 (QList<QByteArray>{"accept", "accept-encoding", "user-agent"}));
        QCOMPARE(varyNames(fields({{"Vary", "a, *"}})), (QList<QByteArray>{"*"}));
    }

    void conditionalEvaluation()
    {
        const Fields stored = {{"ETag", "\"abc\""},
                               {"Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"}};
        QVERIFY(clientHasRepresentation({"\"abc\""}, {}, stored));
        QVERIFY(clientHasRepresentation({"W/\"abc\""}, {}, stored)); // weak comparison
        QVERIFY(clientHasRepresentation({"\"x\", W/\"abc\""}, {}, stored));
        QVERIFY(clientHasRepresentation({"\"x\"", "\"abc\""}, {}, stored)); // two fields
        QVERIFY(clientHasRepresentation({"*"}, {}, stored));
        QVERIFY(!clientHasRepresentation({"\"abcd\""}, {}, stored));
        QVERIFY(!clientHasRepresentation({"abc"}, {}, stored)); // not an entity-tag
        // If-None-Match present: the date is not looked at.
        QVERIFY(!clientHasRepresentation({"\"x\""}, "Sun, 06 Nov 1994 08:49:37 GMT", stored));
        QVERIFY(clientHasRepresentation({}, "Sun, 06 Nov 1994 08:49:37 GMT", stored));
        QVERIFY(!clientHasRepresentation({}, "Sun, 06 Nov 1994 08:49:36 GMT", stored));
        QVERIFY(!clientHasRepresentation({}, "garbage", stored));
        QVERIFY(!clientHasRepresentation({}, {}, stored));
        QVERIFY(!clientHasRepresentation({"\"abc\""}, {}, {})); // nothing stored to match
    }
};

QTEST_GUILESS_MAIN(TestCachePolicy)
#include "tst_cachepolicy.moc"
