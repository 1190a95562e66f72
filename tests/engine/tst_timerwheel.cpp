// The engine's hashed timer wheel, on a clock the test moves (no sleeping).
#include "engine/timerwheel.h"

#include <QTest>

#include <functional>
#include <memory>
#include <vector>

using Berth::Engine::TimerWheel;

namespace {

class Probe final : public TimerWheel::Timer
{
public:
    std::vector<qint64> firedAt;
    std::function<void(qint64)> then;

protected:
    void onTimer(qint64 now) override
    {
        firedAt.push_back(now);
        if (then)
            then(now);
    }
};

} // namespace

class TestTimerWheel : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void firesAtTheFirstAdvancePastItsDeadline();
    void disarmAndRearmAreImmediate();
    void deadlinesBeyondTheSpanWaitTheirRounds();
    void aLongGapFiresEverythingDueOnce();
    void pastDeadlinesFireOnTheNextAdvance();
    void armNoLaterOnlyMovesForward();
    void aTimerMayRearmOrDestroyAnotherWhileFiring();
    void advanceWalksOnlyTheDueBucket();
    void destroyingTheWheelDisarmsItsTimers();
    void theClockIsTheOwnersOrMonotonic();
    void aRegisteredWheelIsTheThreadsUntilDestroyed();
    void aThreadWithoutOneGetsAWheelThatAdvancesItself();
    void nextDeadlineIsTheEarliestWithinTheLimit();
    void armingBeforeTheSleepWakesTheOwnerOnce();
};

void TestTimerWheel::firesAtTheFirstAdvancePastItsDeadline()
{
    TimerWheel wheel(100, 64, 1000);
    Probe p;
    wheel.arm(p, 1250);
    QVERIFY(p.isArmed());
    QCOMPARE(wheel.advance(1100), 0);
    QCOMPARE(wheel.advance(1249), 0);
    QVERIFY(p.firedAt.empty());
    QCOMPARE(wheel.advance(1300), 1);
    QCOMPARE(p.firedAt, std::vector<qint64>{1300});
    QVERIFY(!p.isArmed());
    QCOMPARE(wheel.advance(2000), 0); // once only
}

void TestTimerWheel::disarmAndRearmAreImmediate()
{
    TimerWheel wheel(10, 16, 0);
    Probe a, b;
    wheel.arm(a, 50);
    wheel.arm(b, 50);
    TimerWheel::disarm(a);
    QVERIFY(!a.isArmed());
    wheel.arm(b, 120); // moved later: not at 50
    QCOMPARE(wheel.advance(60), 0);
    QCOMPARE(wheel.count(), 1);
    QCOMPARE(wheel.advance(120), 1);
    QCOMPARE(b.firedAt, std::vector<qint64>{120});
    QVERIFY(a.firedAt.empty());
}

void TestTimerWheel::deadlinesBeyondTheSpanWaitTheirRounds()
{
    // Span 8 x 100 ms = 800 ms; 75 s is many rounds away and shares buckets with near timers.
    TimerWheel wheel(100, 8, 0);
    Probe far, near;
    wheel.arm(far, 75'000);
    wheel.arm(near, 200);
    for (qint64 t = 100; t < 75'000; t += 100) {
        wheel.advance(t);
        if (t >= 200)
            QCOMPARE(near.firedAt.size(), size_t(1));
        QVERIFY2(far.firedAt.empty(), qPrintable(QString::number(t)));
    }
    QCOMPARE(wheel.advance(75'000), 1);
    QCOMPARE(far.firedAt, std::vector<qint64>{75'000});
}

void TestTimerWheel::aLongGapFiresEverythingDueOnce()
{
    TimerWheel wheel(100, 8, 0);
    std::vector<std::unique_ptr<Probe>> probes;
    for (int i = 0; i < 50; ++i) {
        probes.push_back(std::make_unique<Probe>());
        wheel.arm(*probes.back(), 100 + i * 37);
    }
    Probe later;
    wheel.arm(later, 10'000);
    // The thread was stuck for 5 s: one advance fires all that are due, in one walk.
    QCOMPARE(wheel.advance(5'000), 50);
    for (const auto &p : probes)
        QCOMPARE(p->firedAt, std::vector<qint64>{5'000});
    QVERIFY(later.isArmed());
    QCOMPARE(wheel.advance(10'050), 1);
}

void TestTimerWheel::pastDeadlinesFireOnTheNextAdvance()
{
    TimerWheel wheel(100, 16, 0);
    wheel.advance(1000);
    Probe p;
    wheel.arm(p, 10); // long past
    QCOMPARE(wheel.advance(1000), 1);
    QCOMPARE(p.firedAt, std::vector<qint64>{1000});
}

void TestTimerWheel::armNoLaterOnlyMovesForward()
{
    TimerWheel wheel(100, 16, 0);
    Probe p;
    wheel.armNoLater(p, 5000);
    QCOMPARE(p.deadline(), 5000);
    wheel.armNoLater(p, 8000); // later: stays at 5000
    QCOMPARE(p.deadline(), 5000);
    wheel.armNoLater(p, 300); // earlier: moves
    QCOMPARE(p.deadline(), 300);
    QCOMPARE(wheel.advance(300), 1);
}

void TestTimerWheel::aTimerMayRearmOrDestroyAnotherWhileFiring()
{
    TimerWheel wheel(100, 16, 0);
    Probe self;
    auto victim = std::make_unique<Probe>();
    wheel.arm(self, 100);
    wheel.arm(*victim, 100);
    self.then = [&](qint64 now) {
        victim.reset();       // due in the same walk: must not fire, nor crash
        wheel.arm(self, now); // re-armed for "now": fires on the next advance, not this one
    };
    // Both are due in one walk; self fires first (armed first) and destroys the victim.
    QCOMPARE(wheel.advance(100), 1);
    QVERIFY(!victim);
    QCOMPARE(self.firedAt.size(), size_t(1));
    self.then = nullptr;
    QCOMPARE(wheel.advance(100), 1);
    QCOMPARE(self.firedAt.size(), size_t(2));
}

void TestTimerWheel::advanceWalksOnlyTheDueBucket()
{
    // 10,000 idle connections armed 75 s out: advancing 100 ms at a time fires nothing and
    // (the point of the wheel) leaves every one of them armed where it was.
    TimerWheel wheel(100, 1024, 0);
    std::vector<std::unique_ptr<Probe>> idle(10'000);
    for (size_t i = 0; i < idle.size(); ++i) {
        idle[i] = std::make_unique<Probe>();
        wheel.arm(*idle[i], 75'000 + qint64(i % 1000) * 10);
    }
    int fired = 0;
    for (qint64 t = 100; t <= 74'900; t += 100)
        fired += wheel.advance(t);
    QCOMPARE(fired, 0);
    QCOMPARE(wheel.count(), 10'000);
    for (qint64 t = 75'000; t <= 85'000; t += 100)
        fired += wheel.advance(t);
    QCOMPARE(fired, 10'000);
    for (const auto &p : idle) {
        QCOMPARE(p->firedAt.size(), size_t(1));
        QVERIFY(p->firedAt.front() >= p->deadline());
        QVERIFY(p->firedAt.front() < p->deadline() + 100); // at most one resolution late
    }
}

void TestTimerWheel::destroyingTheWheelDisarmsItsTimers()
{
    Probe p;
    {
        TimerWheel wheel(100, 4, 0);
        wheel.arm(p, 500);
    }
    QVERIFY(!p.isArmed());
}

void TestTimerWheel::theClockIsTheOwnersOrMonotonic()
{
    TimerWheel wheel(100, 64, 0);
    const qint64 before = Berth::Core::monotonicMs();
    QVERIFY(wheel.now() >= before);
    qint64 now = 12345;
    wheel.setClock([&now] { return now; });
    QCOMPARE(wheel.now(), 12345);
    now = 12445;
    QCOMPARE(wheel.now(), 12445);
}

void TestTimerWheel::aRegisteredWheelIsTheThreadsUntilDestroyed()
{
    TimerWheel *registered = nullptr;
    {
        TimerWheel wheel(100, 64, 0);
        TimerWheel::setForCurrentThread(&wheel);
        registered = &TimerWheel::forCurrentThread();
        QCOMPARE(registered, &wheel);
    }
    // Destroyed: the thread falls back to a wheel of its own, not a dangling one.
    QVERIFY(&TimerWheel::forCurrentThread() != registered);
    QCOMPARE(&TimerWheel::forCurrentThread(), &TimerWheel::forCurrentThread());
}

void TestTimerWheel::aThreadWithoutOneGetsAWheelThatAdvancesItself()
{
    // The fallback runs on the thread's Qt timer (real time: one resolution or two).
    TimerWheel &wheel = TimerWheel::forCurrentThread();
    QCOMPARE(wheel.resolution(), TimerWheel::FallbackResolutionMs);
    Probe p;
    wheel.arm(p, wheel.now() + 10);
    TimerWheel::forCurrentThread(); // what an arming caller does: (re)starts the Qt timer
    QTRY_COMPARE_WITH_TIMEOUT(p.firedAt.size(), size_t(1), 2000);
    // Armed again after the wheel went idle (its Qt timer stopped with the advance that found
    // nothing left armed): it runs again.
    QCOMPARE(wheel.count(), 0);
    TimerWheel::forCurrentThread().arm(p, wheel.now() + 10);
    TimerWheel::forCurrentThread();
    QTRY_COMPARE_WITH_TIMEOUT(p.firedAt.size(), size_t(2), 2000);
}

void TestTimerWheel::nextDeadlineIsTheEarliestWithinTheLimit()
{
    // Span 8 x 100 ms: the far timer shares a bucket with near deadlines and must not count.
    TimerWheel wheel(100, 8, 1000);
    QCOMPARE(wheel.nextDeadline(2000), 2000); // nothing armed: the limit
    Probe far, later, sooner;
    wheel.arm(far, 1000 + 8 * 100 * 5 + 30); // five rounds on, in the bucket of 1030
    QCOMPARE(wheel.nextDeadline(1900), 1900);
    wheel.arm(later, 1730);
    wheel.arm(sooner, 1450);
    QCOMPARE(wheel.nextDeadline(1900), 1450);
    QCOMPARE(wheel.nextDeadline(1400), 1400); // beyond the limit: the limit
    TimerWheel::disarm(sooner);
    QCOMPARE(wheel.nextDeadline(1900), 1730);
    // A deadline already past is the earliest: it fires on the next advance.
    Probe past;
    wheel.advance(1200);
    wheel.arm(past, 900);
    QCOMPARE(wheel.nextDeadline(1900), 900);
    QCOMPARE(wheel.advance(1210), 1);
    QCOMPARE(wheel.nextDeadline(1900), 1730);
    // A limit beyond the span walks every bucket once, rounds included.
    QCOMPARE(wheel.nextDeadline(100'000), 1730);
    TimerWheel::disarm(later);
    QCOMPARE(wheel.nextDeadline(100'000), 1000 + 8 * 100 * 5 + 30);
}

void TestTimerWheel::armingBeforeTheSleepWakesTheOwnerOnce()
{
    TimerWheel wheel(100, 64, 0);
    int woken = 0;
    wheel.setWakeHook([&woken] { ++woken; });
    Probe a, b, c;
    wheel.arm(a, 50); // awake: no hook
    QCOMPARE(woken, 0);
    QVERIFY(!wheel.isAsleep());
    wheel.sleepUntil(1000);
    QVERIFY(wheel.isAsleep());
    wheel.arm(b, 1000); // at the wake-up itself: nothing to say
    wheel.arm(b, 5000);
    QCOMPARE(woken, 0);
    wheel.arm(c, 400);
    QCOMPARE(woken, 1);
    QVERIFY(!wheel.isAsleep());
    wheel.arm(c, 300); // awake again: told once
    QCOMPARE(woken, 1);
    wheel.sleepUntil(1000);
    wheel.stayAwake();
    wheel.arm(c, 200);
    QCOMPARE(woken, 1);
}

QTEST_GUILESS_MAIN(TestTimerWheel)
#include "tst_timerwheel.moc"
