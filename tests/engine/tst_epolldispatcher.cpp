// The epoll event dispatcher, installed on a QThread as the server installs it: Qt's timers,
// socket notifiers, posted events, wake-ups and nested loops, and the Poller sharing its set.
// Timers are real (the dispatcher sleeps on the kernel's clock): checked against a steady clock
// with a tolerance wide enough for a loaded machine.
#include "engine/epolldispatcher.h"
#include "engine/poller.h"

#include <QCoreApplication>
#include <QEventLoop>
#include <QPointer>
#include <QSemaphore>
#include <QSocketNotifier>
#include <QTemporaryFile>
#include <QTest>
#include <QThread>
#include <QTimer>
#include <QTimerEvent>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <sys/socket.h>
#include <unistd.h>

using Berth::Engine::EpollDispatcher;
using Berth::Engine::Poller;

namespace {

using Clock = std::chrono::steady_clock;
// How late a timer may fire on a loaded, shared machine before the test calls it a bug.
constexpr qint64 LateToleranceMs = 250;

qint64 msSince(Clock::time_point start)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Runs body in a thread of its own with an EpollDispatcher; failures are collected there (QTest
// is not thread-safe) and reported by the test function.
class Runner final : public QThread
{
public:
    explicit Runner(std::function<void(Runner &)> body)
        : m_body(std::move(body))
    {}

    void check(bool ok, const char *what, int line)
    {
        if (!ok)
            failures.append(QStringLiteral("line %1: %2").arg(line).arg(QLatin1String(what)));
    }

    int loop() { return exec(); }

    QStringList failures;

protected:
    void run() override
    {
        check(EpollDispatcher::forCurrentThread() != nullptr, "dispatcher installed", __LINE__);
        m_body(*this);
    }

private:
    std::function<void(Runner &)> m_body;
};

#define TCHECK(cond) r.check(bool(cond), #cond, __LINE__)

// Runs the thread's event loop (blocking waits, a 10 ms timer bounds each) until done() or
// timeoutMs.
bool spinUntil(const std::function<bool()> &done, int timeoutMs = 5000)
{
    QTimer guard;
    guard.start(10);
    const auto start = Clock::now();
    while (!done()) {
        if (msSince(start) > timeoutMs)
            return false;
        QThread::currentThread()->eventDispatcher()->processEvents(QEventLoop::WaitForMoreEvents);
    }
    return true;
}

void spinFor(int ms)
{
    const auto start = Clock::now();
    spinUntil([&] { return msSince(start) >= ms; });
}

struct SocketPair
{
    int fd[2] = {-1, -1};
    SocketPair() { ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd); }
    ~SocketPair()
    {
        ::close(fd[0]);
        ::close(fd[1]);
    }
    void send(const char *text) const { (void)::write(fd[1], text, std::strlen(text)); }
    void drain() const
    {
        char buffer[256];
        while (::read(fd[0], buffer, sizeof(buffer)) > 0) {
        }
    }
};

class TimerProbe final : public QObject
{
public:
    std::function<void(int id)> onTimer;

protected:
    void timerEvent(QTimerEvent *event) override { onTimer(event->timerId()); }
};

class PollProbe final : public Poller::Handler
{
public:
    std::function<void(bool, bool)> on;
    void onPollEvents(bool readable, bool writable) override { on(readable, writable); }
};

} // namespace

class TestEpollDispatcher : public QObject
{
    Q_OBJECT
private:
    void runInThread(std::function<void(Runner &)> body, int waitMs = 20000)
    {
        Runner runner(std::move(body));
        QVERIFY(EpollDispatcher::installOn(&runner));
        runner.start();
        QVERIFY(runner.wait(waitMs));
        QVERIFY2(runner.failures.isEmpty(), qPrintable(runner.failures.join(u'\n')));
    }

private Q_SLOTS:
    void timersFireInOrderAndOnTime();
    void repeatingTimerKeepsItsGrid();
    void killTimerInsideTimeout();
    void remainingTimeAndRegisteredTimers();
    void zeroTimersDoNotStarveSockets();
    void socketNotifiersReadWriteEnableDisable();
    void notifierDeletedInsideTheBatchIsNotCalled();
    void regularFileNotifierIsAlwaysReady();
    void postedEventsAndCrossThreadCallsWakeIt();
    void manyPostsCostBoundedEventfdWrites();
    void nestedEventLoopInsideATimer();
    void interruptEndsABlockingWait();
    void excludeSocketNotifiersLeavesSocketsAlone();
    void aboutToBlockAndAwake();
    void quitAndExit();
    void pollerSharesTheDispatcherSet();
    void pollerDefersWorkFromATimer();
    void pollerOnQtsDispatcherStillWorks();
    void escapeHatchKeepsQtsDispatcher();
};

void TestEpollDispatcher::timersFireInOrderAndOnTime()
{
    runInThread([](Runner &r) {
        QEventLoop loop;
        std::vector<int> order;
        std::vector<qint64> late;
        const auto start = Clock::now();
        for (int ms : {60, 20, 40}) {
            QTimer::singleShot(ms, Qt::PreciseTimer, &loop, [&, ms] {
                order.push_back(ms);
                late.push_back(msSince(start) - ms);
                if (order.size() == 3)
                    loop.quit();
            });
        }
        loop.exec();
        TCHECK((order == std::vector<int>{20, 40, 60}));
        for (qint64 l : late)
            TCHECK(l >= 0 && l < LateToleranceMs);
    });
}

void TestEpollDispatcher::repeatingTimerKeepsItsGrid()
{
    runInThread([](Runner &r) {
        QEventLoop loop;
        QTimer timer;
        timer.setTimerType(Qt::PreciseTimer);
        timer.setInterval(10);
        int fired = 0;
        const auto start = Clock::now();
        QObject::connect(&timer, &QTimer::timeout, &loop, [&] {
            if (++fired == 5)
                loop.quit();
        });
        timer.start();
        loop.exec();
        const qint64 took = msSince(start);
        TCHECK(fired == 5);
        TCHECK(took >= 50 && took < 50 + LateToleranceMs);
        // Coarse and very coarse timers may be rounded, never fire early by more than 5%.
        QTimer coarse;
        coarse.setSingleShot(true);
        coarse.setTimerType(Qt::CoarseTimer);
        const auto coarseStart = Clock::now();
        qint64 coarseAt = -1;
        QObject::connect(&coarse, &QTimer::timeout, &loop, [&] {
            coarseAt = msSince(coarseStart);
            loop.quit();
        });
        coarse.start(100);
        loop.exec();
        TCHECK(coarseAt >= 95 && coarseAt < 105 + LateToleranceMs);
    });
}

void TestEpollDispatcher::killTimerInsideTimeout()
{
    runInThread([](Runner &r) {
        QEventLoop loop;
        TimerProbe probe;
        std::vector<int> fired;
        int a = 0;
        int b = 0;
        int c = 0;
        bool firstDone = false;
        probe.onTimer = [&](int id) {
            fired.push_back(id);
            if (!firstDone) {
                // Both due in this turn: the one killed here must not be delivered.
                firstDone = true;
                probe.killTimer(a);
                probe.killTimer(b);
                c = probe.startTimer(15, Qt::PreciseTimer); // registered from inside
            } else if (id == c) {
                probe.killTimer(c);
                loop.quit();
            }
        };
        a = probe.startTimer(10, Qt::PreciseTimer);
        b = probe.startTimer(10, Qt::PreciseTimer);
        QThread::msleep(30); // both overdue when the loop first looks
        loop.exec();
        TCHECK(fired.size() == 2);
        TCHECK(fired.front() == a);
        TCHECK(fired.back() == c);
        TCHECK(QThread::currentThread()->eventDispatcher()->registeredTimers(&probe).isEmpty());
    });
}

void TestEpollDispatcher::remainingTimeAndRegisteredTimers()
{
    runInThread([](Runner &r) {
        QAbstractEventDispatcher *d = QThread::currentThread()->eventDispatcher();
        TimerProbe probe;
        probe.onTimer = [](int) {};
        // A long precise timer: the remaining time is checked with a margin a loaded machine
        // can't eat (the test runs for microseconds, not seconds).
        const int precise = probe.startTimer(60000, Qt::PreciseTimer);
        const int veryCoarse = probe.startTimer(1600, Qt::VeryCoarseTimer);
        const int longCoarse = probe.startTimer(25000, Qt::CoarseTimer);
        const int shortCoarse = probe.startTimer(15, Qt::CoarseTimer);
        const int left = d->remainingTime(precise);
        TCHECK(left > 50000 && left <= 60000);
        TCHECK(d->remainingTime(12345) == -1);
        const auto timers = d->registeredTimers(&probe);
        TCHECK(timers.size() == 4);
        for (const auto &t : timers) {
            if (t.timerId == precise)
                TCHECK(t.interval == 60000 && t.timerType == Qt::PreciseTimer);
            else if (t.timerId == veryCoarse) // whole seconds
                TCHECK(t.interval == 2000 && t.timerType == Qt::VeryCoarseTimer);
            else if (t.timerId == longCoarse) // long coarse timers are very coarse, as in Qt
                TCHECK(t.interval == 25000 && t.timerType == Qt::VeryCoarseTimer);
            else if (t.timerId == shortCoarse) // and short ones precise
                TCHECK(t.interval == 15 && t.timerType == Qt::PreciseTimer);
            else
                TCHECK(!"unknown timer");
        }
        probe.killTimer(precise);
        TCHECK(d->remainingTime(precise) == -1);
        TCHECK(d->unregisterTimers(&probe));
        TCHECK(d->registeredTimers(&probe).isEmpty());
    });
}

void TestEpollDispatcher::zeroTimersDoNotStarveSockets()
{
    runInThread([](Runner &r) {
        QEventLoop loop;
        SocketPair pair;
        int zeroFired = 0;
        bool socketSeen = false;
        QTimer zero;
        zero.setInterval(0);
        QObject::connect(&zero, &QTimer::timeout, &loop, [&] { ++zeroFired; });
        QSocketNotifier notifier(pair.fd[0], QSocketNotifier::Read);
        QObject::connect(&notifier, &QSocketNotifier::activated, &loop, [&] {
            pair.drain();
            socketSeen = true;
            loop.quit();
        });
        zero.start();
        QTimer::singleShot(30, Qt::PreciseTimer, &loop, [&] { pair.send("x"); });
        QTimer::singleShot(3000, &loop, &QEventLoop::quit); // a starved socket ends here
        loop.exec();
        TCHECK(socketSeen);
        TCHECK(zeroFired > 1);
    });
}

void TestEpollDispatcher::socketNotifiersReadWriteEnableDisable()
{
    runInThread([](Runner &r) {
        SocketPair pair;
        int reads = 0;
        int writes = 0;
        QSocketNotifier reader(pair.fd[0], QSocketNotifier::Read);
        QSocketNotifier writer(pair.fd[0], QSocketNotifier::Write); // same descriptor
        QObject::connect(&reader, &QSocketNotifier::activated, &reader, [&] { ++reads; });
        QObject::connect(&writer, &QSocketNotifier::activated, &writer, [&] {
            ++writes;
            writer.setEnabled(false); // always writable: once is enough
        });
        TCHECK(spinUntil([&] { return writes == 1; }));
        TCHECK(reads == 0);
        pair.send("hello");
        TCHECK(spinUntil([&] { return reads > 0; }));
        // Disabled, the unread data calls nobody.
        reader.setEnabled(false);
        reads = 0;
        spinFor(50);
        TCHECK(reads == 0);
        // Enabled again: level-triggered, so it is called for what is still unread.
        reader.setEnabled(true);
        TCHECK(spinUntil([&] { return reads > 0; }));
        pair.drain();
        TCHECK(writes == 1);
    });
}

void TestEpollDispatcher::notifierDeletedInsideTheBatchIsNotCalled()
{
    runInThread([](Runner &r) {
        SocketPair first;
        SocketPair second;
        first.send("a");
        second.send("b");
        QPointer<QSocketNotifier> one = new QSocketNotifier(first.fd[0], QSocketNotifier::Read);
        QPointer<QSocketNotifier> two = new QSocketNotifier(second.fd[0], QSocketNotifier::Read);
        int calls = 0;
        // Whichever runs first deletes the other, ready in the same batch.
        QObject::connect(one, &QSocketNotifier::activated, one, [&] {
            ++calls;
            delete two;
            one->setEnabled(false);
        });
        QObject::connect(two, &QSocketNotifier::activated, two, [&] {
            ++calls;
            delete one;
            two->setEnabled(false);
        });
        QThread::currentThread()->eventDispatcher()->processEvents(QEventLoop::AllEvents);
        TCHECK(calls == 1);
        TCHECK(one.isNull() != two.isNull());
        delete one;
        delete two;
    });
}

void TestEpollDispatcher::regularFileNotifierIsAlwaysReady()
{
    // epoll refuses regular files; poll(), and so Qt's dispatcher, calls them always ready.
    runInThread([](Runner &r) {
        QTemporaryFile file;
        TCHECK(file.open());
        int calls = 0;
        QSocketNotifier notifier(file.handle(), QSocketNotifier::Read);
        QObject::connect(&notifier, &QSocketNotifier::activated, &notifier, [&] {
            if (++calls == 3)
                notifier.setEnabled(false);
        });
        TCHECK(spinUntil([&] { return calls == 3; }, 2000));
        spinFor(20);
        TCHECK(calls == 3);
    });
}

void TestEpollDispatcher::postedEventsAndCrossThreadCallsWakeIt()
{
    QObject *target = nullptr;
    std::atomic<bool> ready{false};
    std::atomic<int> called{0};
    Runner runner([&](Runner &r) {
        QObject inThread;
        target = &inThread;
        // A post from its own thread is delivered by the loop.
        bool local = false;
        QMetaObject::invokeMethod(
            &inThread, [&] { local = true; }, Qt::QueuedConnection);
        ready.store(true);
        r.loop();
        TCHECK(local);
    });
    QVERIFY(EpollDispatcher::installOn(&runner));
    runner.start();
    QTRY_VERIFY(ready.load());
    // From another thread: the blocked epoll_wait wakes for each.
    for (int i = 0; i < 3; ++i) {
        QMetaObject::invokeMethod(
            target, [&] { called.fetch_add(1); }, Qt::QueuedConnection);
        QTRY_COMPARE_WITH_TIMEOUT(called.load(), i + 1, 2000);
    }
    QMetaObject::invokeMethod(
        target, [&] { QThread::currentThread()->quit(); }, Qt::QueuedConnection);
    QVERIFY(runner.wait(5000));
    QVERIFY2(runner.failures.isEmpty(), qPrintable(runner.failures.join(u'\n')));
}

void TestEpollDispatcher::manyPostsCostBoundedEventfdWrites()
{
    QObject *target = nullptr;
    EpollDispatcher *dispatcher = nullptr;
    QSemaphore busy;    // released by the thread when it is inside a handler
    QSemaphore release; // lets it return to its loop
    std::atomic<int> delivered{0};
    Runner runner([&](Runner &r) {
        QObject inThread;
        target = &inThread;
        dispatcher = EpollDispatcher::forCurrentThread();
        QMetaObject::invokeMethod(
            &inThread,
            [&] {
                busy.release();
                release.acquire();
            },
            Qt::QueuedConnection);
        r.loop();
    });
    QVERIFY(EpollDispatcher::installOn(&runner));
    runner.start();
    QVERIFY(busy.tryAcquire(1, 5000));
    const quint64 before = dispatcher->wakeUpWrites();
    constexpr int Posts = 1000;
    for (int i = 0; i < Posts; ++i)
        QMetaObject::invokeMethod(
            target, [&] { delivered.fetch_add(1); }, Qt::QueuedConnection);
    // The thread has not read the eventfd since the first of them: one write at most for all
    // (none when its own post's wake-up is still unread).
    QVERIFY(dispatcher->wakeUpWrites() - before <= 1);
    release.release();
    QTRY_COMPARE_WITH_TIMEOUT(delivered.load(), Posts, 5000);
    QMetaObject::invokeMethod(
        target, [] { QThread::currentThread()->quit(); }, Qt::QueuedConnection);
    QVERIFY(runner.wait(5000));
}

void TestEpollDispatcher::nestedEventLoopInsideATimer()
{
    runInThread([](Runner &r) {
        QEventLoop outer;
        SocketPair pair;
        bool nestedRan = false;
        bool socketInNested = false;
        int outerFires = 0;
        QSocketNotifier notifier(pair.fd[0], QSocketNotifier::Read);
        QObject::connect(&notifier, &QSocketNotifier::activated, &notifier, [&] {
            pair.drain();
            socketInNested = nestedRan;
        });
        QTimer repeating;
        repeating.setInterval(5);
        QObject::connect(&repeating, &QTimer::timeout, &outer, [&] {
            if (++outerFires > 1) {
                // Not re-entered while its own nested loop runs; fires again after.
                outer.quit();
                return;
            }
            QEventLoop nested;
            QTimer::singleShot(10, Qt::PreciseTimer, &nested, [&] { pair.send("n"); });
            QTimer::singleShot(60, Qt::PreciseTimer, &nested, &QEventLoop::quit);
            nestedRan = true;
            nested.exec();
            TCHECK(outerFires == 1);
        });
        repeating.start();
        outer.exec();
        TCHECK(socketInNested);
        TCHECK(outerFires == 2);
    });
}

void TestEpollDispatcher::interruptEndsABlockingWait()
{
    EpollDispatcher *dispatcher = nullptr;
    std::atomic<bool> blocking{false};
    std::atomic<bool> interrupted{false};
    std::atomic<bool> returned{false};
    Runner runner([&](Runner &) {
        dispatcher = EpollDispatcher::forCurrentThread();
        QObject::connect(
            dispatcher, &QAbstractEventDispatcher::aboutToBlock, dispatcher,
            [&] { blocking.store(true); }, Qt::DirectConnection);
        // No timer, no socket: only interrupt() ends the wait (a stray wake-up loops again).
        while (!interrupted.load())
            dispatcher->processEvents(QEventLoop::WaitForMoreEvents);
        returned.store(true);
    });
    QVERIFY(EpollDispatcher::installOn(&runner));
    runner.start();
    QTRY_VERIFY(blocking.load());
    interrupted.store(true);
    dispatcher->interrupt();
    QVERIFY(runner.wait(5000));
    QVERIFY(returned.load());
    QVERIFY2(runner.failures.isEmpty(), qPrintable(runner.failures.join(u'\n')));
}

void TestEpollDispatcher::excludeSocketNotifiersLeavesSocketsAlone()
{
    runInThread([](Runner &r) {
        QAbstractEventDispatcher *d = QThread::currentThread()->eventDispatcher();
        SocketPair pair;
        pair.send("x");
        int calls = 0;
        QSocketNotifier notifier(pair.fd[0], QSocketNotifier::Read);
        QObject::connect(&notifier, &QSocketNotifier::activated, &notifier, [&] { ++calls; });
        // Blocks only until the timer: the ready socket neither wakes it nor is called.
        bool timerFired = false;
        QTimer::singleShot(20, Qt::PreciseTimer, &notifier, [&] { timerFired = true; });
        const auto start = Clock::now();
        while (!timerFired && msSince(start) < 2000)
            d->processEvents(QEventLoop::WaitForMoreEvents | QEventLoop::ExcludeSocketNotifiers);
        TCHECK(timerFired);
        TCHECK(calls == 0);
        d->processEvents(QEventLoop::AllEvents);
        TCHECK(calls == 1);
        pair.drain();
    });
}

void TestEpollDispatcher::aboutToBlockAndAwake()
{
    runInThread([](Runner &r) {
        QAbstractEventDispatcher *d = QThread::currentThread()->eventDispatcher();
        int blocks = 0;
        int awakes = 0;
        QObject::connect(d, &QAbstractEventDispatcher::aboutToBlock, d, [&] { ++blocks; });
        QObject::connect(d, &QAbstractEventDispatcher::awake, d, [&] { ++awakes; });
        d->processEvents(QEventLoop::AllEvents); // does not wait: no aboutToBlock
        TCHECK(awakes == 1 && blocks == 0);
        QTimer::singleShot(1, Qt::PreciseTimer, d, [] {});
        d->processEvents(QEventLoop::WaitForMoreEvents);
        TCHECK(awakes == 2 && blocks == 1);
    });
}

void TestEpollDispatcher::quitAndExit()
{
    std::atomic<bool> running{false};
    int code = -1;
    Runner runner([&](Runner &r) {
        running.store(true);
        code = r.loop();
    });
    QVERIFY(EpollDispatcher::installOn(&runner));
    runner.start();
    QTRY_VERIFY(running.load());
    QTest::qWait(10);
    runner.exit(3);
    QVERIFY(runner.wait(5000));
    QCOMPARE(code, 3);

    Runner second([](Runner &r) { r.loop(); });
    QVERIFY(EpollDispatcher::installOn(&second));
    second.start();
    QTest::qWait(10);
    second.quit();
    QVERIFY(second.wait(5000));
}

void TestEpollDispatcher::pollerSharesTheDispatcherSet()
{
    runInThread([](Runner &r) {
        Poller poller;
        TCHECK(poller.isValid());
        TCHECK(poller.inDispatcherSet());
        TCHECK(Poller::forCurrentThread() == &poller);
        std::vector<QByteArray> trace;
        poller.setTurnHooks([&] { trace.push_back("begin"); }, [&] { trace.push_back("end"); });
        SocketPair pair;
        PollProbe probe;
        bool writableSeen = false;
        probe.on = [&](bool readable, bool writable) {
            if (readable) {
                pair.drain();
                trace.push_back("read");
                poller.deferToTurnEnd(
                    [](void *t) {
                        static_cast<std::vector<QByteArray> *>(t)->push_back("deferred");
                    },
                    &trace);
            }
            if (writable) {
                writableSeen = true;
                poller.update(pair.fd[0], &probe, true, false);
            }
        };
        TCHECK(poller.add(pair.fd[0], &probe, true, true));
        TCHECK(spinUntil([&] { return writableSeen; }));
        trace.clear();
        pair.send("ping");
        TCHECK(spinUntil([&] { return trace.size() >= 4; }));
        TCHECK((trace == std::vector<QByteArray>{"begin", "read", "end", "deferred"}));
        poller.remove(pair.fd[0]);
        // A second Poller in the thread keeps a set of its own, behind a notifier.
        Poller other;
        TCHECK(other.isValid() && !other.inDispatcherSet());
        SocketPair pair2;
        PollProbe probe2;
        bool seen = false;
        probe2.on = [&](bool readable, bool) {
            pair2.drain();
            seen = readable;
        };
        TCHECK(other.add(pair2.fd[0], &probe2, true, false));
        pair2.send("x");
        TCHECK(spinUntil([&] { return seen; }));
        other.remove(pair2.fd[0]);
    });
}

void TestEpollDispatcher::pollerDefersWorkFromATimer()
{
    runInThread([](Runner &r) {
        Poller poller;
        TCHECK(poller.inDispatcherSet());
        QEventLoop loop;
        bool ran = false;
        bool timerReturned = false;
        QTimer::singleShot(5, Qt::PreciseTimer, &loop, [&] {
            poller.deferToTurnEnd([](void *p) { *static_cast<bool *>(p) = true; }, &ran);
            TCHECK(!ran); // later, not inside the timer
            timerReturned = true;
        });
        // No socket event in that turn: the deferred work still runs at its end.
        TCHECK(spinUntil([&] { return ran; }, 2000));
        TCHECK(timerReturned);
    });
}

void TestEpollDispatcher::pollerOnQtsDispatcherStillWorks()
{
    // The test's main thread runs Qt's own dispatcher.
    QVERIFY(!EpollDispatcher::forCurrentThread());
    Poller poller;
    QVERIFY(poller.isValid());
    QVERIFY(!poller.inDispatcherSet());
    SocketPair pair;
    PollProbe probe;
    bool seen = false;
    probe.on = [&](bool readable, bool) {
        pair.drain();
        seen = readable;
    };
    QVERIFY(poller.add(pair.fd[0], &probe, true, false));
    pair.send("x");
    QTRY_VERIFY(seen);
    poller.remove(pair.fd[0]);
}

void TestEpollDispatcher::escapeHatchKeepsQtsDispatcher()
{
    qputenv("BERTH_EVENT_DISPATCHER", "qt");
    QThread thread;
    const bool installed = EpollDispatcher::installOn(&thread);
    qunsetenv("BERTH_EVENT_DISPATCHER");
    QVERIFY(!installed);
    QVERIFY(!thread.eventDispatcher());
}

QTEST_GUILESS_MAIN(TestEpollDispatcher)
#include "tst_epolldispatcher.moc"
