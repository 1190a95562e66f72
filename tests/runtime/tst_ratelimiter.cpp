#include "runtime/ratelimiter.h"
#include "runtime/sharedregion.h"

#include <QElapsedTimer>
#include <QTest>

#include <atomic>
#include <cstdint>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

using Berth::Core::RateLimiter;
using Berth::Core::RateSpec;
using Berth::Core::SharedRegion;

namespace {

constexpr std::int64_t Second = 1'000'000'000;

RateSpec spec(const char *text)
{
    RateSpec s;
    QString error;
    if (!RateSpec::parse(QString::fromLatin1(text), &s, &error))
        qFatal("%s", qPrintable(error));
    return s;
}

} // namespace

class TestRateLimiter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { SharedRegion::becomeInstance(); }
    void cleanup() { SharedRegion::removeInstanceRegions(); }

    void parsesRates()
    {
        RateSpec s = spec("100/s burst=200");
        QCOMPARE(s.count, 100);
        QCOMPARE(s.periodNs, Second);
        QCOMPARE(s.burst, 200);
        s = spec("10/m");
        QCOMPARE(s.periodNs, 60 * Second);
        QCOMPARE(s.burst, 10); // default: one period's worth
        s = spec(" 5 / h  burst = 1 ");
        QCOMPARE(s.periodNs, 3600 * Second);
        QCOMPARE(s.burst, 1);
        QCOMPARE(s.toString(), QStringLiteral("5/h burst=1"));

        QString error;
        for (const char *bad : {"", "100", "100/d", "0/s", "10/s burst=0", "x/s", "10/s burst",
                                "10/s burst=2 extra", "-1/s"}) {
            QVERIFY2(!RateSpec::parse(QString::fromLatin1(bad), nullptr, &error), bad);
            QVERIFY(error.contains(QStringLiteral("rate")));
        }
    }

    void burstThenRate()
    {
        std::int64_t now = 1000 * Second;
        RateLimiter limiter(QString(), spec("10/s burst=5"), [&] { return now; });
        for (int i = 0; i < 5; ++i) {
            const auto d = limiter.check("k");
            QVERIFY(d.allowed);
            QCOMPARE(d.limit, 5);
            QCOMPARE(d.remaining, 4 - i);
        }
        auto denied = limiter.check("k");
        QVERIFY(!denied.allowed);
        QCOMPARE(denied.remaining, 0);
        QCOMPARE(denied.retryAfterSeconds, 1); // 100 ms, rounded up to whole seconds
        QVERIFY(denied.logEvent);
        QVERIFY(!limiter.check("k").logEvent); // one event per key and window
        // Another key has its own budget.
        QVERIFY(limiter.check("other").allowed);
        // One interval later, exactly one more request fits.
        now += Second / 10;
        QVERIFY(limiter.check("k").allowed);
        QVERIFY(!limiter.check("k").allowed);
        // After a full second the burst is back.
        now += Second;
        int allowed = 0;
        for (int i = 0; i < 20; ++i)
            allowed += limiter.check("k").allowed ? 1 : 0;
        QCOMPARE(allowed, 5);
    }

    void sustainedRateOverOneSecond()
    {
        // Requests every millisecond for one second: burst + rate at most.
        std::int64_t now = 50 * Second;
        RateLimiter limiter(QString(), spec("100/s burst=20"), [&] { return now; });
        int allowed = 0;
        for (int ms = 0; ms < 1000; ++ms) {
            now += Second / 1000;
            allowed += limiter.check("k").allowed ? 1 : 0;
        }
        QVERIFY2(allowed >= 100 && allowed <= 120, qPrintable(QString::number(allowed)));
    }

    void retryAfterForSlowRates()
    {
        std::int64_t now = 10 * Second;
        RateLimiter limiter(QString(), spec("2/m burst=1"), [&] { return now; });
        QVERIFY(limiter.check("k").allowed);
        const auto d = limiter.check("k");
        QVERIFY(!d.allowed);
        QCOMPARE(d.retryAfterSeconds, 30);
        now += 30 * Second;
        QVERIFY(limiter.check("k").allowed);
    }

    void boundedTableEvictsIdleKeys()
    {
        std::int64_t now = 100 * Second;
        // 8 buckets: every key shares one probe window.
        RateLimiter limiter(
            QString(), spec("1/s burst=1"), [&] { return now; }, 8);
        for (int i = 0; i < 1000; ++i) {
            QVERIFY(limiter.check(QByteArray::number(i)).allowed);
            now += 2 * Second; // every earlier key is idle again
        }
        // A busy key survives newcomers while idle ones are there to evict.
        QVERIFY(limiter.check("busy").allowed);
        QVERIFY(!limiter.check("busy").allowed);
        for (int i = 0; i < 6; ++i)
            QVERIFY(limiter.check(QByteArray("new") + QByteArray::number(i)).allowed);
        QVERIFY(!limiter.check("busy").allowed);
    }

    void sharedAcrossProcesses()
    {
        // Two processes hammer one key on a frozen clock: together they get exactly the burst,
        // never one burst each.
        const QString name = RateLimiter::regionNameFor(QStringLiteral("t.fork"), 1024);
        auto *allowedByChild = static_cast<std::atomic<int> *>(
            ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
        QVERIFY(allowedByChild != MAP_FAILED);
        allowedByChild->store(0);
        const auto frozen = [] { return 500 * Second; };
        const pid_t pid = ::fork();
        if (pid == 0) {
            RateLimiter mine(name, spec("1/s burst=300"), frozen, 1024);
            int allowed = 0;
            for (int i = 0; i < 2000; ++i)
                allowed += mine.check("shared").allowed ? 1 : 0;
            allowedByChild->store(allowed);
            ::_exit(mine.regionError().isEmpty() ? 0 : 2);
        }
        QVERIFY(pid > 0);
        RateLimiter limiter(name, spec("1/s burst=300"), frozen, 1024);
        int allowed = 0;
        for (int i = 0; i < 2000; ++i)
            allowed += limiter.check("shared").allowed ? 1 : 0;
        QVERIFY2(limiter.regionError().isEmpty(), qPrintable(limiter.regionError()));
        int status = 0;
        QCOMPARE(::waitpid(pid, &status, 0), pid);
        QVERIFY(WIFEXITED(status));
        QCOMPARE(WEXITSTATUS(status), 0);
        QCOMPARE(allowed + allowedByChild->load(), 300);
        ::munmap(allowedByChild, 4096);
    }

    void realClockAcrossProcesses()
    {
        // The same on the real clock for about 300 ms: never more than rate x time + burst.
        const QString name = RateLimiter::regionNameFor(QStringLiteral("t.real"), 1024);
        auto *allowedByChild = static_cast<std::atomic<int> *>(
            ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
        QVERIFY(allowedByChild != MAP_FAILED);
        const auto hammer = [&name] {
            RateLimiter limiter(name, spec("100/s burst=50"), {}, 1024);
            QElapsedTimer timer;
            timer.start();
            int allowed = 0;
            while (timer.elapsed() < 300)
                allowed += limiter.check("shared").allowed ? 1 : 0;
            return allowed;
        };
        QElapsedTimer total;
        total.start();
        const pid_t pid = ::fork();
        if (pid == 0) {
            allowedByChild->store(hammer());
            ::_exit(0);
        }
        QVERIFY(pid > 0);
        const int allowed = hammer();
        int status = 0;
        QCOMPARE(::waitpid(pid, &status, 0), pid);
        const qint64 elapsedMs = total.elapsed();
        const int sum = allowed + allowedByChild->load();
        QVERIFY2(sum <= 50 + int(elapsedMs / 10) + 1,
                 qPrintable(QStringLiteral("%1 in %2 ms").arg(sum).arg(elapsedMs)));
        QVERIFY(sum >= 50);
        ::munmap(allowedByChild, 4096);
    }
};

QTEST_GUILESS_MAIN(TestRateLimiter)
#include "tst_ratelimiter.moc"
