// StatsRegistry::recordRequest() in shared memory: what one request counts, from a thread bound
// to the worker slot (its own counters) and from any other thread (the slot's shared values).
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"
#include "runtime/workerhealth.h"
#include "sharedstatefixture.h"

#include <QtTest>

#include <thread>

using namespace Berth;
using Core::SharedState;
using Core::StatsRegistry;
using Core::StatType;

namespace {} // namespace

class TestSharedStateStats : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void recordRequestCountsEveryStatBoundOrNot();
};

// recordRequest() writes a bound thread's counters directly (one binding lookup per request):
// bound or not, a request counts into the same stats, the protocol stat among them.
void TestSharedStateStats::recordRequestCountsEveryStatBoundOrNot()
{
    const QList<qint64> bounds = StatsRegistry::latencyBuckets();
    const auto bucketOf = [&bounds](qint64 micros) {
        for (int i = 0; i < bounds.size(); ++i) {
            if (micros <= bounds[i])
                return StatsRegistry::LatencyBucket0 + i;
        }
        return int(StatsRegistry::LatencyOverBuckets);
    };
    for (const bool bound : {true, false}) {
        auto shared = makeShared(1, 1);
        QVERIFY(shared);
        StatsRegistry stats;
        QString error;
        QVERIFY2(stats.attach(*shared, 0, &error), qPrintable(error));
        const int declared = stats.declare(QStringLiteral("proto.other"), StatType::Sum);
        Core::WorkerSlot *slot = shared->slot(0);
        std::thread([&] {
            if (bound)
                QVERIFY(Core::ThreadHealth::attach(slot, 0));
            stats.recordRequest(204, 1500, 100, 200, StatsRegistry::Http2Requests);
            stats.recordRequest(503, 2'000'000, 1, 2, StatsRegistry::Http1Requests);
            stats.recordRequest(99, 7000, 0, 0);          // no status class, no protocol stat
            stats.recordRequest(404, -5, 3, 4, declared); // a declared stat: the shared value
            if (bound)
                Core::ThreadHealth::detach();
        }).join();
        QCOMPARE(stats.value(StatsRegistry::Requests), 4);
        QCOMPARE(slot->served(), 4);
        QCOMPARE(stats.value(StatsRegistry::Status1xx), 0);
        QCOMPARE(stats.value(StatsRegistry::Status2xx), 1);
        QCOMPARE(stats.value(StatsRegistry::Status4xx), 1);
        QCOMPARE(stats.value(StatsRegistry::Status5xx), 1);
        QCOMPARE(stats.value(StatsRegistry::BytesIn), 104);
        QCOMPARE(stats.value(StatsRegistry::BytesOut), 206);
        QCOMPARE(stats.value(StatsRegistry::LatencySumMicros), 1500 + 2'000'000 + 7000);
        QCOMPARE(stats.value(StatsRegistry::LatencyUnder1ms), 1);
        QCOMPARE(stats.value(StatsRegistry::LatencyUnder10ms), 2);
        QCOMPARE(stats.value(StatsRegistry::LatencyOver1s), 1);
        QCOMPARE(stats.value(StatsRegistry::Http1Requests), 1);
        QCOMPARE(stats.value(StatsRegistry::Http2Requests), 1);
        QCOMPARE(slot->values[declared].load(), 1);
        QList<qint64> histogram(StatsRegistry::MaxLatencyBuckets + 1, 0);
        for (const qint64 micros : {qint64(1500), qint64(2'000'000), qint64(7000), qint64(-5)})
            ++histogram[bucketOf(micros) - StatsRegistry::LatencyBucket0];
        for (int i = 0; i <= StatsRegistry::MaxLatencyBuckets; ++i)
            QCOMPARE(stats.value(StatsRegistry::LatencyBucket0 + i), histogram[i]);
        // Bound, the built-ins went to the thread's own counters; unbound, to the slot's values.
        QCOMPARE(slot->thread(0)->counters[StatsRegistry::Requests].load(), bound ? 4 : 0);
        QCOMPARE(slot->values[StatsRegistry::Requests].load(), bound ? 0 : 4);
        QCOMPARE(slot->thread(0)->requests.load(), bound ? 4 : 0);
    }
}

QTEST_GUILESS_MAIN(TestSharedStateStats)
#include "tst_sharedstatestats.moc"
