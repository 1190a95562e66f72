// SharedState, StatsRegistry in shared memory, aggregation and worker health: across a real
// fork(), under a concurrent seqlock writer, and a real SIGUSR2 stack dump.
#include "runtime/crashreport.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"
#include "runtime/workerhealth.h"
#include "sharedstatefixture.h"

#include <QRegularExpression>
#include <QScopeGuard>
#include <QtTest>

#include <atomic>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace Berth;
using Core::SharedState;
using Core::StatsRegistry;
using Core::StatType;
using Core::WorkerState;

namespace {

void setState(Core::WorkerSlot *slot, WorkerState state)
{
    slot->state.store(int(state));
}

// The function the stack-dump child spins in; its name or address must show in the dump.
// noinline and an opaque counter keep it a real frame.
__attribute__((noinline)) void berthTestSpinForever(volatile std::uint64_t *counter)
{
    for (;;)
        *counter = *counter + 1;
}

bool waitReadable(int fd, int timeoutMs)
{
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeoutMs) > 0;
}

} // namespace

class TestSharedState : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void createRejectsBadSizes();
    void createAndAttachViaFd();
    void attachRejectsForeignMemory();
    void registryAttachKeepsApi();
    void attachRejectsMismatchedNames();
    void declareAfterAttachPublishes();
    void concurrentAttachesAgreeOnNames();
    void prepareAndExitSlot();
    void threadCountersAreSummed();
    void connectionLimitIsServerWide();
    void forkedChildWritesStats();
    void aggregate_data();
    void aggregate();
    void reportWithoutSharedMemory();
    void seqlockNeverTorn();
    void requestTextIsTruncatedOnUtf8Boundary();
    void findStuck();
    void describeThread();
    void stackDump();
};

void TestSharedState::createRejectsBadSizes()
{
    QString error;
    QVERIFY(!SharedState::create(0, 1, &error));
    QVERIFY(error.contains(QStringLiteral("out of range")));
    QVERIFY(!SharedState::create(1, 0, &error));
    QVERIFY(!SharedState::create(SharedState::MaxSlots + 1, 1, &error));
}

void TestSharedState::createAndAttachViaFd()
{
    auto master = makeShared(3, 2);
    QVERIFY(master);
    QCOMPARE(master->slotCount(), 3);
    QCOMPARE(master->threadsPerWorker(), 2);
    // Inheritable across exec.
    QCOMPARE(::fcntl(master->fd(), F_GETFD) & FD_CLOEXEC, 0);

    StatsRegistry names;
    names.declare(QStringLiteral("echo.requests"), StatType::Sum);
    QString error;
    QVERIFY2(names.exportNames(*master, &error), qPrintable(error));

    auto worker = SharedState::attach(::dup(master->fd()), &error);
    QVERIFY2(worker, qPrintable(error));
    QCOMPARE(worker->slotCount(), 3);
    QCOMPARE(worker->threadsPerWorker(), 2);
    QCOMPARE(worker->statCount(), StatsRegistry::BuiltinCount + 1);
    QCOMPARE(worker->statName(StatsRegistry::Requests), QStringLiteral("requests"));
    QCOMPARE(worker->statName(StatsRegistry::BuiltinCount), QStringLiteral("echo.requests"));
    QCOMPARE(worker->statType(StatsRegistry::StartTime), StatType::Min);
    QCOMPARE(worker->findStat(QStringLiteral("echo.requests")), int(StatsRegistry::BuiltinCount));
    QCOMPARE(worker->findStat(QStringLiteral("nope")), -1);

    // Two mappings of one memory.
    worker->slot(2)->values[5].store(42);
    QCOMPARE(master->slot(2)->values[5].load(), 42);
    QVERIFY(master->slot(2) != master->slot(1));
    QVERIFY(master->slot(3) == nullptr);
    QVERIFY(master->slot(-1) == nullptr);
    QCOMPARE(master->slot(1)->threadCount.load(), 2);
    QVERIFY(master->slot(1)->thread(1) != nullptr);
    QVERIFY(master->slot(1)->thread(2) == nullptr);
    // Thread slots of one worker stay inside it.
    QVERIFY(reinterpret_cast<char *>(master->slot(0)->thread(1) + 1) <=
            reinterpret_cast<char *>(master->slot(1)));
}

void TestSharedState::attachRejectsForeignMemory()
{
    QString error;
    QVERIFY(!SharedState::attach(-1, &error));
    QVERIFY(!error.isEmpty());

    const int fd = ::memfd_create("junk", MFD_CLOEXEC);
    QVERIFY(fd >= 0);
    QCOMPARE(::ftruncate(fd, 1 << 20), 0);
    QVERIFY(!SharedState::attach(fd, &error));
    QVERIFY2(error.contains(QStringLiteral("not a berth")), qPrintable(error));
    // attach() did not take the fd on failure.
    QVERIFY(::fcntl(fd, F_GETFD) >= 0);

    // Right magic, wrong version.
    auto shared = makeShared(1, 1);
    QVERIFY(shared);
    const int copy = ::dup(shared->fd());
    auto *version = reinterpret_cast<std::uint32_t *>(
        static_cast<char *>(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, copy, 0)) +
        8);
    *version = 99;
    QVERIFY(!SharedState::attach(copy, &error));
    QVERIFY2(error.contains(QStringLiteral("version 99")), qPrintable(error));
    ::munmap(reinterpret_cast<char *>(version) - 8, 4096);
    ::close(copy);
    ::close(fd);
}

void TestSharedState::registryAttachKeepsApi()
{
    auto shared = makeShared(2, 1);
    QVERIFY(shared);
    StatsRegistry stats;
    const int echo = stats.declare(QStringLiteral("echo.requests"), StatType::Sum);
    stats.add(StatsRegistry::TotalConnections, 2); // counted before attaching: carried over
    shared->slot(1)->values[StatsRegistry::Requests].store(10); // the slot's earlier worker
    QString error;
    QVERIFY2(stats.attach(*shared, 1, &error), qPrintable(error));
    QCOMPARE(stats.shared(), shared.get());
    QCOMPARE(stats.slotIndex(), 1);
    Core::WorkerSlot *slot = shared->slot(1);
    QCOMPARE(stats.workerSlot(), slot);
    QCOMPARE(slot->workerState(), WorkerState::Running);
    QCOMPARE(slot->pid.load(), qint32(::getpid()));
    QCOMPARE(slot->generation.load(), 1u);
    QCOMPARE(slot->values[StatsRegistry::TotalConnections].load(), 2);
    QVERIFY(slot->values[StatsRegistry::StartTime].load() > 1'600'000'000);

    stats.add(echo, 3);
    stats.recordRequest(204, 1500, 100, 200);
    QCOMPARE(slot->values[echo].load(), 3);
    QCOMPARE(stats.value(echo), 3);
    QCOMPARE(stats.value(StatsRegistry::Requests), 11);
    QCOMPARE(slot->requestsServed.load(), 1);
    QCOMPARE(stats.value(StatsRegistry::Status2xx), 1);
    QCOMPARE(stats.value(StatsRegistry::LatencyUnder10ms), 1);
    QCOMPARE(stats.value(StatsRegistry::LatencySumMicros), 1500);
    stats.set(StatsRegistry::ActiveConnections, 4);
    QCOMPARE(slot->values[StatsRegistry::ActiveConnections].load(), 4);
    // Out-of-range and undeclared slots are ignored, as before.
    stats.add(-1);
    stats.add(StatsRegistry::Capacity);
    QCOMPARE(stats.value(-1), 0);
    const QList<StatsRegistry::Entry> entries = stats.snapshot();
    QCOMPARE(entries.size(), StatsRegistry::BuiltinCount + 1);
    QCOMPARE(entries.last().name, QStringLiteral("echo.requests"));
    QCOMPARE(entries.last().value, 3);
    QVERIFY(!stats.attach(*shared, 0, &error)); // once only
    StatsRegistry other;
    QVERIFY(!other.attach(*shared, 7, &error));
}

void TestSharedState::attachRejectsMismatchedNames()
{
    auto shared = makeShared(1, 1);
    QVERIFY(shared);
    StatsRegistry master;
    master.declare(QStringLiteral("a.first"), StatType::Sum);
    QString error;
    QVERIFY(master.exportNames(*shared, &error));

    StatsRegistry worker;
    worker.declare(QStringLiteral("b.other"), StatType::Sum);
    QVERIFY(!worker.attach(*shared, 0, &error));
    QVERIFY2(error.contains(QStringLiteral("b.other")), qPrintable(error));
    QCOMPARE(shared->slot(0)->workerState(), WorkerState::Empty);
    QCOMPARE(shared->statCount(), StatsRegistry::BuiltinCount + 1); // nothing stray published

    // The same names in the same order attach; names the master knew come along.
    StatsRegistry same;
    QVERIFY2(same.attach(*shared, 0, &error), qPrintable(error));
    QCOMPARE(same.declare(QStringLiteral("a.first"), StatType::Sum),
             int(StatsRegistry::BuiltinCount));
    QCOMPARE(same.count(), StatsRegistry::BuiltinCount + 1);
}

void TestSharedState::declareAfterAttachPublishes()
{
    auto shared = makeShared(2, 1);
    QVERIFY(shared);
    QString error;
    StatsRegistry one;
    StatsRegistry two;
    QVERIFY(one.attach(*shared, 0, &error));
    QVERIFY(two.attach(*shared, 1, &error));
    const int a = one.declare(QStringLiteral("late.a"), StatType::Max);
    const int b = two.declare(QStringLiteral("late.b"), StatType::Sum);
    const int a2 = two.declare(QStringLiteral("late.a"), StatType::Max);
    QCOMPARE(a, int(StatsRegistry::BuiltinCount));
    QCOMPARE(b, a + 1);
    QCOMPARE(a2, a); // one name, one entry, whichever worker declares it first
    QCOMPARE(shared->statCount(), StatsRegistry::BuiltinCount + 2);
    QCOMPARE(one.declare(QStringLiteral("late.b"), StatType::Sum), b);
    QCOMPARE(shared->statType(a), StatType::Max);
    // Too long for the shared table: refused everywhere, so it behaves the same with workers = 0.
    const QRegularExpression tooLong(QStringLiteral("stat name too long"));
    QTest::ignoreMessage(QtWarningMsg, tooLong);
    QTest::ignoreMessage(QtWarningMsg, tooLong);
    QCOMPARE(one.declare(QString(SharedState::NameBytes, QLatin1Char('x')), StatType::Sum), -1);
    StatsRegistry local;
    QCOMPARE(local.declare(QString(SharedState::NameBytes, QLatin1Char('x')), StatType::Sum), -1);
    QCOMPARE(local.declare(QString(SharedState::NameBytes - 1, QLatin1Char('x')), StatType::Sum),
             int(StatsRegistry::BuiltinCount));
}

void TestSharedState::concurrentAttachesAgreeOnNames()
{
    // The supervisor publishes no names: the first children publish the built-in ones together.
    // One that finds its name published by the other exactly where it wanted it must attach
    // (it once failed with "is entry 0 in the shared table but 0 here" and exited at start).
    for (int round = 0; round < 300; ++round) {
        auto shared = makeShared(2, 1);
        QVERIFY(shared);
        std::atomic<int> waiting{2};
        QString errors[2];
        bool attached[2] = {false, false};
        auto attach = [&](int slot) {
            StatsRegistry registry;
            waiting.fetch_sub(1);
            while (waiting.load() > 0) {
            }
            attached[slot] = registry.attach(*shared, slot, &errors[slot]);
        };
        std::thread first(attach, 0);
        std::thread second(attach, 1);
        first.join();
        second.join();
        QVERIFY2(
            attached[0] && attached[1],
            qPrintable(QStringLiteral("round %1: %2 %3").arg(round).arg(errors[0], errors[1])));
        QCOMPARE(shared->statCount(), StatsRegistry::BuiltinCount);
    }
}

void TestSharedState::prepareAndExitSlot()
{
    auto shared = makeShared(1, 2);
    QVERIFY(shared);
    Core::WorkerSlot *slot = shared->slot(0);
    QCOMPARE(shared->prepareSlot(0), 1u);
    QCOMPARE(slot->workerState(), WorkerState::Starting);
    QVERIFY(slot->isLive());
    slot->values[StatsRegistry::Requests].store(9);
    slot->values[StatsRegistry::ActiveConnections].store(3);
    slot->requestsServed.store(9);
    slot->thread(1)->requestSeq.store(7); // a worker killed mid-publish
    slot->thread(1)->heartbeatMs.store(5);

    shared->markExited(0);
    QCOMPARE(slot->workerState(), WorkerState::Exited);
    QVERIFY(!slot->isLive());
    QCOMPARE(slot->values[StatsRegistry::ActiveConnections].load(), 0);
    QCOMPARE(slot->values[StatsRegistry::Requests].load(), 9); // keeps counting in sums
    QCOMPARE(slot->thread(1)->heartbeatMs.load(), 0);

    QCOMPARE(shared->prepareSlot(0), 2u);
    QCOMPARE(slot->requestsServed.load(), 0);
    QCOMPARE(slot->thread(1)->requestSeq.load() % 2, 0u);
    QCOMPARE(slot->values[StatsRegistry::Requests].load(), 9);
    QCOMPARE(shared->prepareSlot(5), 0u);
}

void TestSharedState::threadCountersAreSummed()
{
    // Event-loop threads count the built-in stats into their own ThreadSlot (no shared
    // read-modify-write on the request path); every reader sees the sum.
    auto shared = makeShared(1, 2);
    QVERIFY(shared);
    StatsRegistry stats;
    QString error;
    QVERIFY2(stats.attach(*shared, 0, &error), qPrintable(error));
    const int echo = stats.declare(QStringLiteral("echo.requests"), StatType::Sum);
    const int counted = stats.declare(QStringLiteral("app.requests"), StatType::Sum);
    QVERIFY(counted < Core::ThreadSlot::CounterCount);
    Core::WorkerSlot *slot = shared->slot(0);
    constexpr int PerThread = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&stats, slot, t, echo, counted] {
            QVERIFY(Core::ThreadHealth::attach(slot, t));
            for (int i = 0; i < PerThread; ++i) {
                stats.recordRequest(200, 50, 10, 20);
                stats.add(echo);         // a declared stat: the slot's shared value
                stats.addCount(counted); // a declared counter: this thread's own share
            }
            stats.add(StatsRegistry::ActiveConnections, 3);
            Core::ThreadHealth::detach();
        });
    }
    for (std::thread &thread : threads)
        thread.join();
    // This thread is bound to nothing: its counts go to the slot's shared values.
    stats.recordRequest(500, 50, 1, 2);

    QCOMPARE(slot->values[StatsRegistry::Requests].load(), 1);
    QCOMPARE(slot->thread(0)->counters[StatsRegistry::Requests].load(), PerThread);
    QCOMPARE(slot->thread(1)->counters[StatsRegistry::Requests].load(), PerThread);
    QCOMPARE(slot->values[echo].load(), 2 * PerThread);
    stats.addCount(counted); // unbound: the shared value
    QCOMPARE(slot->values[counted].load(), 1);
    QCOMPARE(slot->thread(0)->counters[counted].load(), PerThread);
    QCOMPARE(slot->thread(1)->counters[counted].load(), PerThread);
    QCOMPARE(stats.value(counted), 2 * PerThread + 1);
    QCOMPARE(stats.report().total(counted), 2 * PerThread + 1);
    QCOMPARE(stats.value(StatsRegistry::Requests), 2 * PerThread + 1);
    QCOMPARE(stats.value(StatsRegistry::Status2xx), 2 * PerThread);
    QCOMPARE(stats.value(StatsRegistry::Status5xx), 1);
    QCOMPARE(stats.value(StatsRegistry::BytesOut), 2 * PerThread * 20 + 2);
    QCOMPARE(stats.value(StatsRegistry::ActiveConnections), 6);
    QCOMPARE(slot->served(), 2 * PerThread + 1);
    const Core::StatsReport report = stats.report();
    QCOMPARE(report.total(StatsRegistry::Requests), 2 * PerThread + 1);
    QCOMPARE(report.workers.size(), 1);
    QCOMPARE(report.workers[0].requestsServed, 2 * PerThread + 1);
    QCOMPARE(report.workers[0].threads.size(), 2);
    QCOMPARE(report.workers[0].threads[0].requests, PerThread);
    QCOMPARE(report.workers[0].threads[1].requests, PerThread);

    // A thread bound to another server's slot does not write into this one's counters.
    auto other = makeShared(1, 1);
    QVERIFY(other);
    std::thread([&stats, &other] {
        Core::ThreadHealth::attach(other->slot(0), 0);
        stats.add(StatsRegistry::Requests, 7);
        Core::ThreadHealth::detach();
    }).join();
    QCOMPARE(slot->values[StatsRegistry::Requests].load(), 8);
    QCOMPARE(other->slot(0)->value(StatsRegistry::Requests), 0);

    // The dead worker's connections are gone; its counts keep counting in sums; the next
    // worker process starts its own request count.
    shared->markExited(0);
    QCOMPARE(slot->value(StatsRegistry::ActiveConnections), 0);
    QCOMPARE(slot->value(StatsRegistry::Requests), 2 * PerThread + 8);
    shared->prepareSlot(0);
    QCOMPARE(slot->served(), 0);
    QCOMPARE(slot->value(StatsRegistry::Requests), 2 * PerThread + 8);
}

void TestSharedState::forkedChildWritesStats()
{
    auto shared = makeShared(2, 1);
    QVERIFY(shared);
    StatsRegistry master;
    const int custom = master.declare(QStringLiteral("child.items"), StatType::Sum);
    QString error;
    QVERIFY(master.exportNames(*shared, &error));
    shared->prepareSlot(1);
    constexpr int Requests = 200;

    const pid_t child = ::fork();
    QVERIFY(child >= 0);
    if (child == 0) {
        // As a worker after exec would: a fresh mapping from the inherited fd, then attach.
        QString childError;
        auto mine = SharedState::attach(::dup(shared->fd()), &childError);
        StatsRegistry stats;
        const int items = stats.declare(QStringLiteral("child.items"), StatType::Sum);
        if (!mine || !stats.attach(*mine, 1, &childError) || items != custom)
            ::_exit(2);
        for (int i = 0; i < Requests; ++i) {
            stats.recordRequest(i % 2 ? 200 : 500, 50, 10, 20);
            stats.add(items, 2);
            if (i % 20 == 0)
                ::usleep(1000);
        }
        ::_exit(0);
    }

    // Read while the child writes: values only grow, and land where the names say.
    Core::WorkerSlot *slot = shared->slot(1);
    qint64 last = 0;
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 10'000) {
        const qint64 now = slot->values[StatsRegistry::Requests].load();
        QVERIFY(now >= last);
        last = now;
        if (now == Requests)
            break;
        QThread::usleep(200);
    }
    int status = 0;
    QCOMPARE(::waitpid(child, &status, 0), child);
    QVERIFY(WIFEXITED(status));
    QCOMPARE(WEXITSTATUS(status), 0);
    QCOMPARE(slot->values[StatsRegistry::Requests].load(), Requests);
    QCOMPARE(slot->requestsServed.load(), Requests);
    QCOMPARE(slot->pid.load(), qint32(child));
    QCOMPARE(slot->workerState(), WorkerState::Running);

    const Core::StatsReport report = StatsRegistry::report(*shared);
    QCOMPARE(report.workers.size(), 1);
    QCOMPARE(report.workers[0].pid, qint64(child));
    QCOMPARE(report.total(StatsRegistry::Status2xx), Requests / 2);
    QCOMPARE(report.total(StatsRegistry::Status5xx), Requests / 2);
    QCOMPARE(report.total(StatsRegistry::BytesOut), Requests * 20);
    QCOMPARE(report.total(custom), Requests * 2);
    shared->markExited(1);
    // Exited: its counters still count, its start time no longer does.
    const Core::StatsReport after = StatsRegistry::report(*shared);
    QCOMPARE(after.total(StatsRegistry::Requests), Requests);
    QCOMPARE(after.total(StatsRegistry::StartTime), 0);
}

void TestSharedState::aggregate_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("present");
    QTest::addColumn<qint64>("expected");
    // Values per slot: running 0, running 1, exited 2, draining 3 (see aggregate()).
    QTest::newRow("sum-includes-exited")
        << QStringLiteral("t.sum") << true << qint64(1 + 2 + 100 + 4);
    QTest::newRow("min-over-live") << QStringLiteral("t.min") << true << qint64(3);
    QTest::newRow("max-over-live") << QStringLiteral("t.max") << true << qint64(40);
    QTest::newRow("worker-has-no-aggregate") << QStringLiteral("t.worker") << false << qint64(0);
    QTest::newRow("requests-builtin-sum") << QStringLiteral("requests") << true << qint64(0);
}

void TestSharedState::aggregate()
{
    QFETCH(QString, name);
    QFETCH(bool, present);
    QFETCH(qint64, expected);
    auto shared = makeShared(5, 1);
    QVERIFY(shared);
    StatsRegistry master;
    const int sum = master.declare(QStringLiteral("t.sum"), StatType::Sum);
    const int min = master.declare(QStringLiteral("t.min"), StatType::Min);
    const int max = master.declare(QStringLiteral("t.max"), StatType::Max);
    const int worker = master.declare(QStringLiteral("t.worker"), StatType::Worker);
    QString error;
    QVERIFY(master.exportNames(*shared, &error));
    const struct
    {
        WorkerState state;
        qint64 sum, min, max, worker;
    } slots[] = {
        {WorkerState::Running, 1, 5, 10, 7},
        {WorkerState::Running, 2, 3, 20, 8},
        {WorkerState::Exited, 100, 1, 1000, 9},
        {WorkerState::Draining, 4, 6, 40, 10},
    };
    for (int i = 0; i < 4; ++i) {
        Core::WorkerSlot *s = shared->slot(i);
        s->values[sum].store(slots[i].sum);
        s->values[min].store(slots[i].min);
        s->values[max].store(slots[i].max);
        s->values[worker].store(slots[i].worker);
        setState(s, slots[i].state);
    }
    // Slot 4 stays Empty: never counted, never listed, even with values in it.
    shared->slot(4)->values[sum].store(1000000);

    const QList<Core::AggregateEntry> entries = StatsRegistry::aggregate(*shared);
    const auto it = std::find_if(entries.begin(), entries.end(),
                                 [&](const Core::AggregateEntry &e) { return e.name == name; });
    QCOMPARE(it != entries.end(), present);
    if (present)
        QCOMPARE(it->value, expected);

    const Core::StatsReport report = StatsRegistry::report(*shared);
    QCOMPARE(report.workers.size(), 4);
    QCOMPARE(report.workers[3].slot, 3);
    QCOMPARE(report.workers[1].values[worker], 8); // worker-only stats stay per worker
    QCOMPARE(report.total(worker), 0);
}

void TestSharedState::reportWithoutSharedMemory()
{
    StatsRegistry stats;
    const int mx = stats.declare(QStringLiteral("x.max"), StatType::Max);
    const int wk = stats.declare(QStringLiteral("x.worker"), StatType::Worker);
    stats.set(mx, 5);
    stats.set(wk, 6);
    stats.recordRequest(200, 10, 1, 1);
    const Core::StatsReport report = stats.report();
    QCOMPARE(report.workers.size(), 1);
    QCOMPARE(report.workers[0].pid, qint64(::getpid()));
    QCOMPARE(report.workers[0].state, WorkerState::Running);
    QCOMPARE(report.workers[0].requestsServed, 1);
    QCOMPARE(report.total(mx), 5);
    QCOMPARE(report.total(wk), 0);
    QCOMPARE(report.workers[0].values[wk], 6);
    QCOMPARE(report.total(StatsRegistry::Requests), 1);
}

void TestSharedState::seqlockNeverTorn()
{
    auto shared = makeShared(1, 1);
    QVERIFY(shared);
    Core::WorkerSlot *slot = shared->slot(0);
    std::atomic<bool> stop{false};
    std::atomic<int> published{0};
    // Every publish writes one letter into every field, with lengths that differ between
    // publishes, so a torn read shows as mixed letters or a length that doesn't match.
    std::thread writer([&] {
        Core::ThreadHealth::attach(slot, 0);
        int i = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            const char letter = char('a' + i % 26);
            const int length = 1 + (i * 37) % 250;
            const QByteArray text(length, letter);
            Core::ThreadHealth::beginRequest(QByteArray(1 + i % 10, letter), text, text.left(39),
                                             text.left(63));
            if (i % 7 == 0)
                Core::ThreadHealth::endRequest();
            ++i;
            published.store(i, std::memory_order_relaxed);
        }
        Core::ThreadHealth::detach();
    });
    int reads = 0;
    int busy = 0;
    QElapsedTimer timer;
    timer.start();
    bool torn = false;
    QString example;
    while (timer.elapsed() < 400 || published.load() < 1000) {
        Core::ThreadRequest r;
        if (!Core::readThreadRequest(*slot->thread(0), &r))
            continue;
        ++reads;
        if (!r.busy)
            continue;
        ++busy;
        const QChar letter = r.method.isEmpty() ? QChar() : r.method.at(0);
        const int length = r.url.size();
        auto uniform = [&](const QString &s, int expectedLength) {
            return s.size() == expectedLength && s.count(letter) == expectedLength;
        };
        if (r.method.isEmpty() || !uniform(r.method, r.method.size()) || length < 1 ||
            !uniform(r.url, length) || !uniform(r.txn, qMin(length, 39)) ||
            !uniform(r.client, qMin(length, 63))) {
            torn = true;
            example = r.method + QLatin1Char('|') + r.url.left(20) + QLatin1Char('|') + r.txn;
            break;
        }
        if (timer.elapsed() > 5000)
            break;
    }
    stop = true;
    writer.join();
    QVERIFY2(!torn, qPrintable(example));
    QVERIFY(reads > 100);
    QVERIFY(busy > 10);
    QVERIFY(published.load() >= 1000);
    QCOMPARE(slot->thread(0)->tid.load(), 0); // detached
}

void TestSharedState::requestTextIsTruncatedOnUtf8Boundary()
{
    auto shared = makeShared(1, 1);
    QVERIFY(shared);
    QVERIFY(Core::ThreadHealth::attach(shared->slot(0), 0));
    // 254 ASCII bytes then a 2-byte character: 256 bytes, one more than the field holds.
    const QByteArray url = QByteArray(254, 'u') + "\xc3\xa9";
    Core::ThreadHealth::beginRequest("GET", url, QByteArray(100, 't'), "1.2.3.4:5");
    Core::ThreadRequest r;
    QVERIFY(Core::readThreadRequest(*shared->slot(0)->thread(0), &r));
    QVERIFY(r.busy);
    QCOMPARE(r.url, QString(254, QLatin1Char('u')));
    QCOMPARE(r.txn.size(), qsizetype(Core::ThreadSlot::TxnBytes - 1));
    QCOMPARE(r.client, QStringLiteral("1.2.3.4:5"));
    Core::ThreadHealth::endRequest();
    QVERIFY(Core::readThreadRequest(*shared->slot(0)->thread(0), &r));
    QVERIFY(!r.busy);
    // A shorter text after a longer one: only the words up to its NUL are written, and the
    // reader sees none of the longer text's tail, at every length around a word boundary.
    for (int length = 0; length <= 17; ++length) {
        Core::ThreadHealth::beginRequest("DELETE", url, QByteArray(100, 't'), "1.2.3.4:5");
        const QByteArray shortText(length, 's');
        Core::ThreadHealth::beginRequest("GET", shortText, shortText, shortText);
        QVERIFY(Core::readThreadRequest(*shared->slot(0)->thread(0), &r));
        QCOMPARE(r.method, QStringLiteral("GET"));
        QCOMPARE(r.url, QString::fromLatin1(shortText));
        QCOMPARE(r.txn, QString::fromLatin1(shortText));
        QCOMPARE(r.client, QString::fromLatin1(shortText));
    }
    Core::ThreadHealth::endRequest();
    Core::ThreadHealth::detach();
    // Unattached threads publish nothing and don't crash.
    Core::ThreadHealth::beat();
    Core::ThreadHealth::beginRequest("GET", "/", "", "");
    Core::ThreadHealth::endRequest();
    QVERIFY(!Core::ThreadHealth::attach(shared->slot(0), 5));
}

void TestSharedState::findStuck()
{
    auto shared = makeShared(3, 2);
    QVERIFY(shared);
    Core::WorkerSlot *live = shared->slot(0);
    setState(live, WorkerState::Running);
    live->pid.store(4321);
    live->thread(0)->tid.store(4322);
    live->thread(0)->heartbeatMs.store(1000); // silent 9 s
    live->thread(1)->tid.store(4323);
    live->thread(1)->heartbeatMs.store(9500); // fresh
    Core::WorkerSlot *draining = shared->slot(1);
    setState(draining, WorkerState::Draining);
    draining->thread(0)->heartbeatMs.store(0);    // never beat: still starting, not stuck
    draining->thread(1)->heartbeatMs.store(7999); // silent 2001 ms
    Core::WorkerSlot *dead = shared->slot(2);
    setState(dead, WorkerState::Exited);
    dead->thread(0)->heartbeatMs.store(1); // dead, not stuck

    // The request the stuck thread runs comes along.
    Core::ThreadHealth::attach(live, 0);
    Core::ThreadHealth::beginRequest("POST", "/slow?x=1", "txn-1", "127.0.0.1:5555");
    live->thread(0)->heartbeatMs.store(1000);
    live->thread(0)->requestStartedMs.store(900);
    Core::ThreadHealth::detach();
    live->thread(0)->tid.store(4322);
    live->thread(0)->heartbeatMs.store(1000);

    const QList<Core::StuckThread> stuck = Core::findStuck(*shared, 2000, 10000);
    QCOMPARE(stuck.size(), 2);
    QCOMPARE(stuck[0].slot, 0);
    QCOMPARE(stuck[0].thread, 0);
    QCOMPARE(stuck[0].pid, 4321);
    QCOMPARE(stuck[0].tid, 4322);
    QCOMPARE(stuck[0].silentMs, 9000);
    QVERIFY(stuck[0].request.busy);
    QCOMPARE(stuck[0].request.url, QStringLiteral("/slow?x=1"));
    QCOMPARE(stuck[1].slot, 1);
    QCOMPARE(stuck[1].thread, 1);
    QVERIFY(!stuck[1].request.busy);
    QCOMPARE(Core::findStuck(*shared, 10000, 10000).size(), 0);
}

void TestSharedState::describeThread()
{
    auto shared = makeShared(1, 1);
    QVERIFY(shared);
    Core::WorkerSlot *slot = shared->slot(0);
    QVERIFY(Core::ThreadHealth::attach(slot, 0));
    Core::ThreadHealth::beat();
    const qint64 now = slot->thread(0)->heartbeatMs.load();
    QVERIFY(now > 0);
    QVERIFY(qAbs(now - Core::monotonicMs()) < 1000);
    QStringList lines = Core::describeThread(*slot, 0, now + 10);
    QVERIFY2(lines.contains(QStringLiteral("idle")), qPrintable(lines.join(QLatin1Char('\n'))));
    Core::ThreadHealth::beginRequest("GET", "/big", "abc123", "10.0.0.1:4000");
    slot->thread(0)->requestStartedMs.store(now - 2500);
    lines = Core::describeThread(*slot, 0, now + 500);
    const QString text = lines.join(QLatin1Char('\n'));
    QVERIFY2(text.contains(QStringLiteral("tid %1").arg(::gettid())), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("last heartbeat 500 ms ago")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("request GET /big")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("txn abc123")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("client 10.0.0.1:4000")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("running 3000 ms")), qPrintable(text));
    QVERIFY(Core::describeThread(*slot, 3, now).isEmpty());
    Core::ThreadHealth::detach();
}

void TestSharedState::stackDump()
{
    int dump[2];
    QCOMPARE(::pipe(dump), 0);
    // The child counts in shared memory, and only inside the spinning function: once the count
    // moves, the child is in that loop (a signal lands in its frame), whatever the scheduling.
    void *shared = ::mmap(nullptr, sizeof(std::uint64_t), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    QVERIFY(shared != MAP_FAILED);
    auto *counter = static_cast<volatile std::uint64_t *>(shared);
    const pid_t child = ::fork();
    QVERIFY(child >= 0);
    if (child == 0) {
        ::close(dump[0]);
        if (!Core::installStackDumpHandler(dump[1]))
            ::_exit(2);
        berthTestSpinForever(counter);
        ::_exit(4);
    }
    ::close(dump[1]);
    const auto reap = qScopeGuard([child, shared] {
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
        ::munmap(shared, sizeof(std::uint64_t));
    });
    QTRY_VERIFY_WITH_TIMEOUT(*counter > 0, 5000);

    QVERIFY(Core::requestStackDump(child, child)); // single-threaded: tid == pid
    QByteArray text;
    QElapsedTimer timer;
    timer.start();
    while (!text.contains("berth stack end\n") && timer.elapsed() < 5000) {
        if (!waitReadable(dump[0], 200))
            continue;
        char buffer[4096];
        const ssize_t n = ::read(dump[0], buffer, sizeof buffer);
        if (n <= 0)
            break;
        text.append(buffer, n);
    }
    ::close(dump[0]);

    QVERIFY2(text.startsWith("berth stack pid=" + QByteArray::number(child) +
                             " tid=" + QByteArray::number(child)),
             text.constData());
    QVERIFY2(text.contains("berth stack end\n"), text.constData());
    // The frames are raw ("berth frame" lines, symbolised later by the master): one lies inside
    // the spinning function (fork kept the same addresses), in this executable, with its
    // offset from the load bias and the build-id of the file.
    const auto start = reinterpret_cast<quintptr>(&berthTestSpinForever);
    const QList<Core::RawFrame> frames = Core::parseFrames(text.split('\n'));
    const Core::LoadedModule self = Core::loadedModules().value(0);
    bool found = false;
    for (const Core::RawFrame &frame : frames) {
        if (frame.address < start || frame.address >= start + 256)
            continue;
        found = true;
        QVERIFY2(frame.resolved, text.constData());
        QCOMPARE(frame.offset, quint64(frame.address - self.bias));
        QCOMPARE(frame.module, QString::fromLocal8Bit(self.path));
        QCOMPARE(frame.buildId, QByteArray(self.buildId));
    }
    QVERIFY2(frames.size() >= 3, text.constData());
    QVERIFY2(found, text.constData());
    QVERIFY(!Core::requestStackDump(0, 0));
}

void TestSharedState::connectionLimitIsServerWide()
{
    QString error;
    auto shared = SharedState::create(2, 1, &error);
    QVERIFY2(shared, qPrintable(error));
    // Two workers share one limit of 3.
    QVERIFY(shared->acquireConnection(0, 3));
    QVERIFY(shared->acquireConnection(1, 3));
    QVERIFY(shared->acquireConnection(1, 3));
    QVERIFY(!shared->acquireConnection(0, 3));
    QVERIFY(!shared->acquireConnection(1, 3));
    QCOMPARE(shared->connectionCount(), 3); // a refused unit is given back
    shared->releaseConnection(0);
    QCOMPARE(shared->connectionCount(), 2);
    QVERIFY(shared->acquireConnection(0, 3));
    // Worker 1 dies with its two connections: the master gives them back.
    shared->markExited(1);
    QCOMPARE(shared->connectionCount(), 1);
    QVERIFY(shared->acquireConnection(0, 3));
    QVERIFY(shared->acquireConnection(0, 3));
    QVERIFY(!shared->acquireConnection(0, 3));
    // Reusing a slot starts from nothing as well.
    shared->prepareSlot(0);
    QCOMPARE(shared->connectionCount(), 0);
}

QTEST_GUILESS_MAIN(TestSharedState)
#include "tst_sharedstate.moc"
