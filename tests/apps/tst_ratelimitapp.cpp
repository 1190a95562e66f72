#include "apps/ratelimit/ratelimitapp.h"
#include "fakeexchange.h"
#include "http/identity.h"
#include "runtime/sharedregion.h"

#include <QTest>

#include <cstdint>

using Berth::Apps::RateKey;
using Berth::Apps::RateLimitApp;
using Berth::Apps::RateLimitPolicy;
using Berth::Core::RateSpec;
using Berth::Pipeline::Outcome;
using Berth::Tests::FakeExchange;

namespace {

constexpr std::int64_t Second = 1'000'000'000;

std::shared_ptr<RateLimitPolicy> policy(const char *rate, const char *key, std::int64_t *now)
{
    RateSpec spec;
    RateKey rateKey;
    QString error;
    if (!RateSpec::parse(QString::fromLatin1(rate), &spec, &error) ||
        !RateKey::parse(QString::fromLatin1(key), &rateKey, &error))
        qFatal("%s", qPrintable(error));
    // Each test its own table (the name picks the shared region).
    static int serial = 0;
    return std::make_shared<RateLimitPolicy>(QStringLiteral("t%1").arg(++serial), spec, rateKey,
                                             nullptr, [now] { return *now; });
}

} // namespace

class TestRateLimitApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { Berth::Core::SharedRegion::becomeInstance(); }
    void cleanupTestCase() { Berth::Core::SharedRegion::removeInstanceRegions(); }

    void passesWithHeadersThenAnswers429()
    {
        std::int64_t now = 100 * Second;
        RateLimitApp app(policy("1/s burst=2", "ip", &now));
        for (int i = 0; i < 2; ++i) {
            FakeExchange ex;
            QCOMPARE(app.handle(ex), Outcome::Pass);
            QVERIFY(!ex.started());
            QCOMPARE(ex.response().header("RateLimit-Limit").toByteArray(), "2");
            QCOMPARE(ex.response().header("RateLimit-Remaining").toByteArray(),
                     QByteArray::number(1 - i));
        }
        FakeExchange over;
        QCOMPARE(app.handle(over), Outcome::Answered);
        QCOMPARE(over.status(), 429);
        QVERIFY(over.finished());
        QCOMPARE(over.header("Retry-After"), "1");
        QCOMPARE(over.header("RateLimit-Remaining"), "0");
        now += Second;
        FakeExchange later;
        QCOMPARE(app.handle(later), Outcome::Pass);
    }

    void keysByHeaderUserAndToken()
    {
        std::int64_t now = 100 * Second;
        RateLimitApp byHeader(policy("1/h burst=1", "header:X-Api-Key", &now));
        FakeExchange a1("GET", "/", {{"X-Api-Key", "a"}});
        FakeExchange a2("GET", "/", {{"X-Api-Key", "a"}});
        FakeExchange b1("GET", "/", {{"X-Api-Key", "b"}});
        QCOMPARE(byHeader.handle(a1), Outcome::Pass);
        QCOMPARE(byHeader.handle(a2), Outcome::Answered);
        QCOMPARE(byHeader.handle(b1), Outcome::Pass);

        RateLimitApp byUser(policy("1/h burst=1", "user", &now));
        FakeExchange alice1, alice2, bob;
        alice1.request().attributes.getOrSet<Berth::Http::Identity>().user = QStringLiteral("al");
        alice2.request().attributes.getOrSet<Berth::Http::Identity>().user = QStringLiteral("al");
        bob.request().attributes.getOrSet<Berth::Http::Identity>().user = QStringLiteral("bob");
        QCOMPARE(byUser.handle(alice1), Outcome::Pass);
        QCOMPARE(byUser.handle(alice2), Outcome::Answered);
        QCOMPARE(byUser.handle(bob), Outcome::Pass);

        RateLimitApp byToken(policy("1/h burst=1", "token", &now));
        FakeExchange t1("GET", "/", {{"Authorization", "Bearer abc"}});
        FakeExchange t2("GET", "/", {{"Authorization", "bearer abc"}});
        FakeExchange t3("GET", "/", {{"Authorization", "Bearer xyz"}});
        QCOMPARE(byToken.handle(t1), Outcome::Pass);
        QCOMPARE(byToken.handle(t2), Outcome::Answered);
        QCOMPARE(byToken.handle(t3), Outcome::Pass);
    }

    void missingKeyFallsBackToTheAddress()
    {
        RateKey key;
        QVERIFY(RateKey::parse(QStringLiteral("header:X-Api-Key"), &key, nullptr));
        FakeExchange ex;
        ex.request().peerAddress = QHostAddress(QStringLiteral("10.1.2.3"));
        QCOMPARE(key.of(ex.request()), "ip:10.1.2.3");
        QVERIFY(!RateKey::parse(QStringLiteral("cookie"), nullptr, nullptr));
        QVERIFY(!RateKey::parse(QStringLiteral("header:"), nullptr, nullptr));
    }
};

QTEST_GUILESS_MAIN(TestRateLimitApp)
#include "tst_ratelimitapp.moc"
