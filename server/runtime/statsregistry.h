#pragma once

#include "sharedstate.h"

#include <QByteArray>
#include <QList>
#include <QString>

#include <array>
#include <atomic>

namespace Berth::Core {

// One aggregated stat: brim's overall value across workers (sum, min or max). Worker-only stats
// have none.
struct AggregateEntry
{
    int index = -1;
    QString name;
    StatType type = StatType::Sum;
    qint64 value = 0;
};

// What one event-loop thread looked like when a report was taken (no request text: reports may
// be public, URLs may carry secrets; the master's describeThread() shows those).
struct ThreadStats
{
    qint64 tid = 0;
    qint64 heartbeatAgeMs = -1; // -1: never beat
    qint64 busyMs = -1;         // -1: idle
    qint64 requests = 0;        // answered by this thread in the current worker process
    qint64 connections = 0;     // open on this thread now
};

struct WorkerStats
{
    int slot = 0;
    qint64 pid = 0;
    quint32 generation = 0;
    qint64 startedMs = 0; // wall clock, ms since the epoch
    WorkerState state = WorkerState::Empty;
    QString kind; // service kind and name of the child in the slot ("http", "http")
    QString name;
    int restarts = 0;
    int lastExitStatus = -1; // wait status of the previous child in the slot's service, -1: none
    qint64 requestsServed = 0;
    QList<qint64> values; // by stat index
    QList<ThreadStats> threads;
};

// Every worker's values and the aggregate, read once (values may move while it is read; each one
// is a single atomic load, so each is consistent on its own).
struct StatsReport
{
    QList<QString> names; // by stat index; empty for an entry another process is still naming
    QList<StatType> types;
    QList<WorkerStats> workers; // every slot ever used, exited ones included
    QList<qint64> totals;       // by stat index: the aggregate, 0 for worker-only stats
    QList<AggregateEntry> aggregate;

    qint64 total(int index) const
    {
        return index >= 0 && index < totals.size() ? totals[index] : 0;
    }
};

// Named integer stats, declared once at configuration time (brim's stats_conf()) and then
// updated lock-free from every event-loop thread. Values are plain atomics in one fixed array:
// the registry's own in single-process mode, the worker's WorkerSlot in shared memory once
// attach()ed, so every process can read every worker's stats.
class StatsRegistry
{
public:
    static constexpr int Capacity = SharedState::StatCapacity;

    // Built-in stats, declared by the constructor in this order (the same in every process, so
    // their indices are constants).
    enum Builtin : int {
        StartTime,
        Requests,
        Status1xx,
        Status2xx,
        Status3xx,
        Status4xx,
        Status5xx,
        BytesIn,
        BytesOut,
        ActiveConnections,
        TotalConnections,
        BadRequests, // connections closed for bad input
        LatencyUnder1ms,
        LatencyUnder10ms,
        LatencyUnder100ms,
        LatencyUnder1s,
        LatencyOver1s,
        LatencySumMicros, // sum of all request latencies, for averages and Prometheus' _sum
        OffloadJobs,      // jobs the offload pool ran
        OffloadQueued,    // jobs waiting in the offload queue now
        OffloadRejected,  // jobs refused because the offload queue was full (answered 503)
        Http1Requests,    // requests answered over HTTP/1.x
        Http2Requests,    // requests (streams) answered over HTTP/2
        Http1Connections, // connections that served HTTP/1.x requests
        Http2Connections, // connections that spoke HTTP/2
        Http2StreamsOpen, // HTTP/2 streams open now
        Http2GoawaysSent, // GOAWAY frames sent (drain, errors, floods)
        Http2ResetsSent,  // RST_STREAM frames sent
        // The latency histogram (latency_buckets): requests whose latency is at most bucket i's
        // bound and above bucket i-1's, not cumulative; LatencyOverBuckets above the last.
        LatencyBucket0,
        LatencyOverBuckets = LatencyBucket0 + 20,
        BuiltinCount
    };
    static constexpr int MaxLatencyBuckets = LatencyOverBuckets - LatencyBucket0;
    // Prometheus' default buckets (client libraries' DefBuckets), 5 ms to 10 s, in microseconds.
    static QList<qint64> defaultLatencyBuckets();
    // The bounds recordRequest() counts into and the exposition labels, ascending, in
    // microseconds, at most MaxLatencyBuckets (more are ignored). Process-wide: set it from
    // [server] latency_buckets before the event-loop threads start.
    static void setLatencyBuckets(const QList<qint64> &boundsMicros);
    static QList<qint64> latencyBuckets();
    // Parses latency_buckets ("0.005, 0.01, 1" seconds): ascending positive bounds, or an empty
    // list and *error.
    static QList<qint64> parseLatencyBuckets(const QStringList &values, QString *error);

    StatsRegistry();
    StatsRegistry(const StatsRegistry &) = delete;
    StatsRegistry &operator=(const StatsRegistry &) = delete;

    // Returns the slot of a stat, declaring it if new (same name -> same slot). Call before the
    // event-loop threads start; returns -1 when the table is full or the name is longer than
    // SharedState::NameBytes - 1 UTF-8 bytes. Attached, a new name is published to every process.
    int declare(const QString &name, StatType type);

    // An event-loop thread bound to this registry's worker slot (ThreadHealth::attach()) adds
    // the built-in stats (below BuiltinCount) to its own ThreadSlot::counters with a plain load and
    // store; any other thread, and every declared stat, takes an atomic add on the slot's shared
    // value.
    void add(int slot, qint64 delta = 1)
    {
        if (std::atomic<std::int64_t> *own = threadCounter(slot)) {
            own->store(own->load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
            return;
        }
        if (slot >= 0 && slot < Capacity)
            m_values[slot].fetch_add(delta, std::memory_order_relaxed);
    }
    // add() for a declared stat that is only ever added to, never set() (an app's request
    // count): a bound event-loop thread counts it into its own ThreadSlot::counters like the
    // built-ins when its index has a per-thread counter (below ThreadSlot::CounterCount), so
    // apps answering on several threads share no cache line per request. Readers see the same
    // sum (WorkerSlot::value() adds every thread's share below CounterCount).
    void addCount(int slot, qint64 delta = 1)
    {
        if (std::atomic<std::int64_t> *own = threadCounter(slot, ThreadSlot::CounterCount)) {
            own->store(own->load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
            return;
        }
        if (slot >= 0 && slot < Capacity)
            m_values[slot].fetch_add(delta, std::memory_order_relaxed);
    }
    void set(int slot, qint64 value)
    {
        if (slot >= 0 && slot < Capacity)
            m_values[slot].store(value, std::memory_order_relaxed);
    }
    // This process's value (this worker's, not the aggregate), every thread's share summed.
    qint64 value(int slot) const
    {
        if (m_slot)
            return m_slot->value(slot);
        return slot >= 0 && slot < Capacity ? m_values[slot].load(std::memory_order_relaxed) : 0;
    }
    // Counts a finished request: status class, latency bucket and sum, bytes, and when given
    // (>= 0) one more stat of the request's (Http1Requests, Http2Requests), as add() would.
    void recordRequest(int status, qint64 latencyMicros, qint64 bytesIn, qint64 bytesOut,
                       int protocolStat = -1);

    struct Entry
    {
        QString name;
        StatType type;
        qint64 value;
    };
    // This process's stats.
    QList<Entry> snapshot() const;
    int count() const { return m_count; }

    // Master: publishes the names declared so far at the same indices, before workers start.
    bool exportNames(SharedState &shared, QString *error) const;
    // Worker, before its event-loop threads start: checks that the names declared so far have the
    // same indices in the shared table (publishing any the master did not know), imports the
    // rest, moves the values into the slot and marks it Running with this pid.
    bool attach(SharedState &shared, int slotIndex, QString *error);
    SharedState *shared() const { return m_shared; }
    WorkerSlot *workerSlot() const { return m_slot; }
    int slotIndex() const { return m_slotIndex; }

    // Every worker when attached, else this process as worker 0.
    StatsReport report() const;
    static StatsReport report(const SharedState &shared);
    // brim's overall values: sum over every used slot (counters of exited workers keep counting),
    // min and max over live slots, nothing for worker-only stats.
    static QList<AggregateEntry> aggregate(const SharedState &shared);

private:
    static_assert(BuiltinCount <= ThreadSlot::CounterCount,
                  "every built-in stat needs a per-thread counter");
    // The calling thread's own counter for stat `slot`, or null when it must use the shared one.
    // `limit`: BuiltinCount for add() (a declared stat may be set() too), CounterCount for
    // addCount().
    std::atomic<std::int64_t> *threadCounter(int slot, int limit = BuiltinCount) const
    {
        const BoundThread &bound = t_boundThread;
        if (!m_slot || bound.worker != m_slot || slot < 0 || slot >= limit)
            return nullptr;
        return &bound.thread->counters[slot];
    }
    static void computeAggregate(StatsReport &report);
    void importNames(int upTo);

    std::array<std::atomic<std::int64_t>, Capacity> m_ownValues{};
    std::atomic<std::int64_t> *m_values = m_ownValues.data();
    qint64 m_startedMs = 0;
    SharedState *m_shared = nullptr;
    WorkerSlot *m_slot = nullptr;
    int m_slotIndex = -1;
    QList<QString> m_names;
    QList<StatType> m_types;
    int m_count = 0;
};

} // namespace Berth::Core
