// OffloadPool and ThreadMailbox: work runs in a pool thread, the result comes back to the
// submitting thread's event loop (never inline), the queue is bounded and counted, results for a
// thread that has finished are dropped, and a stopping pool drops what is still queued.
#include "runtime/offloadpool.h"
#include "runtime/statsregistry.h"

#include <QSemaphore>
#include <QThread>
#include <QtTest>

#include <atomic>
#include <memory>

using namespace Berth;
using Core::OffloadPool;
using Core::StatsRegistry;

class tst_OffloadPool : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void resultComesBackToTheSubmittingThread();
    void voidWorkRunsItsContinuation();
    void fullQueueRefusesAndCounts();
    void backgroundJobsKeepRoomForRequests();
    void resultsFollowEachSubmittingEventLoopThread();
    void mailboxOfAFinishedThreadRefuses();
    void stoppingDropsQueuedJobs();
};

void tst_OffloadPool::resultComesBackToTheSubmittingThread()
{
    StatsRegistry stats;
    OffloadPool pool({2, 8}, &stats);
    QThread *workThread = nullptr;
    QThread *doneThread = nullptr;
    int index = -2;
    int result = 0;
    QVERIFY(pool.submit(
        [&] {
            workThread = QThread::currentThread();
            index = OffloadPool::currentThreadIndex();
            return 42;
        },
        [&](int value) {
            doneThread = QThread::currentThread();
            result = value;
        }));
    QCOMPARE(result, 0); // never inline, even if the work was quick
    QTRY_COMPARE(result, 42);
    QVERIFY(workThread != QThread::currentThread());
    QCOMPARE(doneThread, QThread::currentThread());
    QVERIFY(index == 0 || index == 1);
    QCOMPARE(OffloadPool::currentThreadIndex(), -1);
    QCOMPARE(stats.value(StatsRegistry::OffloadJobs), 1);
    QCOMPARE(stats.value(StatsRegistry::OffloadQueued), 0);
}

void tst_OffloadPool::voidWorkRunsItsContinuation()
{
    OffloadPool pool({1, 1});
    std::atomic<bool> ran{false};
    bool done = false;
    QVERIFY(pool.submit([&] { ran = true; }, [&] { done = ran.load(); }));
    QTRY_VERIFY(done);
}

void tst_OffloadPool::fullQueueRefusesAndCounts()
{
    StatsRegistry stats;
    OffloadPool pool({1, 2}, &stats);
    QSemaphore gate;
    int finished = 0;
    auto blocker = [&gate] { gate.acquire(); };
    auto count = [&finished] { ++finished; };
    QVERIFY(pool.submit(blocker, count));
    QTRY_COMPARE(pool.running(), 1);
    QVERIFY(pool.submit(blocker, count));
    QVERIFY(pool.submit(blocker, count));
    QCOMPARE(pool.queued(), 2);
    QCOMPARE(stats.value(StatsRegistry::OffloadQueued), 2);
    QVERIFY(!pool.submit(blocker, count)); // the queue holds 2
    QVERIFY(!pool.submit(blocker, count));
    QCOMPARE(stats.value(StatsRegistry::OffloadRejected), 2);
    gate.release(3);
    QTRY_COMPARE(finished, 3);
    QCOMPARE(stats.value(StatsRegistry::OffloadQueued), 0);
    QCOMPARE(stats.value(StatsRegistry::OffloadJobs), 3);
}

void tst_OffloadPool::backgroundJobsKeepRoomForRequests()
{
    StatsRegistry stats;
    OffloadPool pool({1, 4}, &stats);
    QSemaphore gate;
    int finished = 0;
    auto blocker = [&gate] { gate.acquire(); };
    auto count = [&finished] { ++finished; };
    const auto background = OffloadPool::Admission::Background;
    QVERIFY(pool.submit(blocker, count));
    QTRY_COMPARE(pool.running(), 1);
    // Housekeeping takes at most half the queue, and a refusal of it is no rejected request.
    QVERIFY(pool.submit(blocker, count, background));
    QVERIFY(pool.submit(blocker, count, background));
    QVERIFY(!pool.submit(blocker, count, background));
    QCOMPARE(stats.value(StatsRegistry::OffloadRejected), 0);
    // Requests still find the other half.
    QVERIFY(pool.submit(blocker, count));
    QVERIFY(pool.submit(blocker, count));
    QVERIFY(!pool.submit(blocker, count));
    QCOMPARE(stats.value(StatsRegistry::OffloadRejected), 1);
    gate.release(5);
    QTRY_COMPARE(finished, 5);
}

void tst_OffloadPool::resultsFollowEachSubmittingEventLoopThread()
{
    // Two event-loop threads submit to one pool: each gets its own results, in its own thread.
    OffloadPool pool({2, 16});
    struct Loop
    {
        QThread thread;
        QObject context;
        std::atomic<int> delivered{0};
        std::atomic<bool> wrongThread{false};
    };
    Loop loops[2];
    for (Loop &loop : loops) {
        loop.context.moveToThread(&loop.thread);
        loop.thread.start();
    }
    for (Loop &loop : loops) {
        QMetaObject::invokeMethod(&loop.context, [&pool, &loop] {
            for (int i = 0; i < 5; ++i) {
                pool.submit([] { return QThread::currentThread(); },
                            [&loop](QThread *worker) {
                                if (QThread::currentThread() != &loop.thread ||
                                    worker == &loop.thread)
                                    loop.wrongThread = true;
                                ++loop.delivered;
                            });
            }
        });
    }
    QTRY_COMPARE(loops[0].delivered.load(), 5);
    QTRY_COMPARE(loops[1].delivered.load(), 5);
    for (Loop &loop : loops) {
        QVERIFY(!loop.wrongThread);
        loop.thread.quit();
        loop.thread.wait();
    }
}

void tst_OffloadPool::mailboxOfAFinishedThreadRefuses()
{
    std::shared_ptr<Core::ThreadMailbox> mailbox;
    QThread thread;
    QObject context;
    context.moveToThread(&thread);
    thread.start();
    QMetaObject::invokeMethod(
        &context, [&] { mailbox = Core::ThreadMailbox::current(); }, Qt::BlockingQueuedConnection);
    QVERIFY(mailbox);
    bool ran = false;
    QVERIFY(mailbox->post([&ran] { ran = true; }));
    QTRY_VERIFY(ran);
    thread.quit();
    QVERIFY(thread.wait());
    // The thread is gone: a result for it is refused, and destroyed by the poster.
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> watch = token;
    QVERIFY(!mailbox->post([token = std::move(token)] {}));
    QVERIFY(watch.expired());
}

void tst_OffloadPool::stoppingDropsQueuedJobs()
{
    QSemaphore gate;
    std::atomic<int> ran{0};
    int delivered = 0;
    auto pool = std::make_unique<OffloadPool>(Core::OffloadSettings{1, 4});
    QVERIFY(pool->submit(
        [&] {
            gate.acquire();
            ++ran;
        },
        [&] { ++delivered; }));
    QTRY_COMPARE(pool->running(), 1);
    // The destructor drops the two queued jobs and waits for the running one. Dropping the
    // first lets the running one go (its capture releases the gate as it is destroyed), so
    // that job ends only once the pool is stopping, whatever the scheduling.
    struct ReleaseWhenDropped
    {
        QSemaphore *gate;
        ~ReleaseWhenDropped() { gate->release(); }
    };
    auto release = std::shared_ptr<ReleaseWhenDropped>(new ReleaseWhenDropped{&gate});
    QVERIFY(pool->submit([&ran, release = std::move(release)] { ++ran; }, [&] { ++delivered; }));
    QVERIFY(pool->submit([&] { ++ran; }, [&] { ++delivered; }));
    pool.reset();
    QCoreApplication::processEvents();
    QCOMPARE(ran.load(), 1);
    QCOMPARE(delivered, 0); // a stopping pool delivers nothing
}

QTEST_GUILESS_MAIN(tst_OffloadPool)
#include "tst_offloadpool.moc"
