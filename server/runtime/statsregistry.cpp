#include "statsregistry.h"

#include <QDateTime>
#include <QLoggingCategory>

#include <array>

#include <unistd.h>

namespace Berth::Core {

namespace {

Q_LOGGING_CATEGORY(lcStats, "berth.stats")

// Reads what one worker slot holds; `values` covers the first `count` stats.
WorkerStats readSlot(const WorkerSlot &slot, int index, int count, qint64 now)
{
    WorkerStats w;
    w.slot = index;
    w.state = slot.workerState(); // acquire: the fields below belong to this state
    w.pid = slot.pid.load(std::memory_order_relaxed);
    w.generation = slot.generation.load(std::memory_order_relaxed);
    w.startedMs = slot.startedMs.load(std::memory_order_relaxed);
    w.requestsServed = slot.served();
    w.kind = slot.kind();
    w.name = slot.name();
    w.restarts = slot.restarts.load(std::memory_order_relaxed);
    w.lastExitStatus = slot.lastExitStatus.load(std::memory_order_relaxed);
    w.values.reserve(count);
    for (int i = 0; i < count; ++i)
        w.values.append(slot.value(i));
    if (slot.isLive()) {
        const int threads = slot.threadCount.load(std::memory_order_relaxed);
        for (int t = 0; t < threads; ++t) {
            const ThreadSlot *ts = slot.thread(t);
            ThreadStats s;
            s.tid = ts->tid.load(std::memory_order_relaxed);
            const qint64 beat = ts->heartbeatMs.load(std::memory_order_relaxed);
            s.heartbeatAgeMs = beat > 0 ? qMax<qint64>(0, now - beat) : -1;
            const qint64 started = ts->requestStartedMs.load(std::memory_order_relaxed);
            s.busyMs = started > 0 ? qMax<qint64>(0, now - started) : -1;
            s.requests = ts->requests.load(std::memory_order_relaxed);
            s.connections =
                ts->counters[StatsRegistry::ActiveConnections].load(std::memory_order_relaxed);
            w.threads.append(s);
        }
    }
    return w;
}

struct LatencyBounds
{
    std::array<qint64, StatsRegistry::MaxLatencyBuckets> micros{};
    int count = 0;
};

LatencyBounds makeBounds(const QList<qint64> &list)
{
    LatencyBounds bounds;
    for (qint64 bound : list) {
        if (bounds.count == StatsRegistry::MaxLatencyBuckets)
            break;
        bounds.micros[size_t(bounds.count++)] = bound;
    }
    return bounds;
}

// Written before the event-loop threads start, read by them afterwards: thread creation orders
// the write before every read, so plain memory does.
LatencyBounds &latencyBounds()
{
    static LatencyBounds bounds = makeBounds(StatsRegistry::defaultLatencyBuckets());
    return bounds;
}

} // namespace

QList<qint64> StatsRegistry::defaultLatencyBuckets()
{
    return {5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
}

void StatsRegistry::setLatencyBuckets(const QList<qint64> &boundsMicros)
{
    latencyBounds() = makeBounds(boundsMicros);
}

QList<qint64> StatsRegistry::latencyBuckets()
{
    const LatencyBounds &bounds = latencyBounds();
    return QList<qint64>(bounds.micros.begin(), bounds.micros.begin() + bounds.count);
}

QList<qint64> StatsRegistry::parseLatencyBuckets(const QStringList &values, QString *error)
{
    QList<qint64> bounds;
    for (const QString &value : values) {
        bool ok = false;
        const double seconds = value.trimmed().toDouble(&ok);
        // Microsecond resolution: the exposition writes bounds as exact decimals.
        const qint64 micros = ok ? qint64(seconds * 1e6 + 0.5) : 0;
        if (!ok || !(seconds > 0) || micros <= 0 || seconds > 1e6) {
            if (error)
                *error = QStringLiteral("'%1' is not a positive number of seconds").arg(value);
            return {};
        }
        if (!bounds.isEmpty() && micros <= bounds.last()) {
            if (error)
                *error = QStringLiteral("bounds must be ascending ('%1')").arg(value);
            return {};
        }
        bounds.append(micros);
    }
    if (bounds.isEmpty() || bounds.size() > MaxLatencyBuckets) {
        if (error)
            *error = QStringLiteral("between 1 and %1 bounds").arg(MaxLatencyBuckets);
        return {};
    }
    return bounds;
}

StatsRegistry::StatsRegistry()
{
    static const struct
    {
        const char *name;
        StatType type;
    } builtins[LatencyBucket0] = {
        {"start_time", StatType::Min},         {"requests", StatType::Sum},
        {"status_1xx", StatType::Sum},         {"status_2xx", StatType::Sum},
        {"status_3xx", StatType::Sum},         {"status_4xx", StatType::Sum},
        {"status_5xx", StatType::Sum},         {"bytes_in", StatType::Sum},
        {"bytes_out", StatType::Sum},          {"active_connections", StatType::Sum},
        {"connections", StatType::Sum},        {"bad_requests", StatType::Sum},
        {"latency_lt_1ms", StatType::Sum},     {"latency_lt_10ms", StatType::Sum},
        {"latency_lt_100ms", StatType::Sum},   {"latency_lt_1s", StatType::Sum},
        {"latency_ge_1s", StatType::Sum},      {"latency_sum_us", StatType::Sum},
        {"offload_jobs", StatType::Sum},       {"offload_queued", StatType::Sum},
        {"offload_rejected", StatType::Sum},   {"http1_requests", StatType::Sum},
        {"http2_requests", StatType::Sum},     {"http1_connections", StatType::Sum},
        {"http2_connections", StatType::Sum},  {"http2_streams_open", StatType::Sum},
        {"http2_goaways_sent", StatType::Sum}, {"http2_resets_sent", StatType::Sum},
    };
    for (const auto &b : builtins)
        declare(QString::fromLatin1(b.name), b.type);
    for (int i = 0; i < MaxLatencyBuckets; ++i)
        declare(QStringLiteral("latency_bucket_%1").arg(i), StatType::Sum);
    declare(QStringLiteral("latency_over_buckets"), StatType::Sum);
    m_startedMs = QDateTime::currentMSecsSinceEpoch();
    set(StartTime, m_startedMs / 1000);
}

void StatsRegistry::importNames(int upTo)
{
    for (int i = m_count; i < upTo; ++i) {
        m_names.append(m_shared->statName(i));
        m_types.append(m_shared->statType(i));
    }
    m_count = qMax(m_count, upTo);
}

int StatsRegistry::declare(const QString &name, StatType type)
{
    const qsizetype existing = m_names.indexOf(name);
    if (existing >= 0)
        return int(existing);
    // The same limit with or without shared memory, so a config that works with workers = 0
    // also works with workers.
    if (name.isEmpty() || name.toUtf8().size() >= SharedState::NameBytes) {
        qCWarning(lcStats).noquote() << "stat name too long (max" << SharedState::NameBytes - 1
                                     << "bytes), not counted:" << name;
        return -1;
    }
    if (m_shared) {
        const int index = m_shared->publishStat(name, type);
        if (index < 0) {
            qCWarning(lcStats).noquote() << "stat table full, not counted:" << name;
            return -1;
        }
        importNames(index + 1);
        // Another process may have named entries below index after we imported them empty.
        m_names[index] = name;
        m_types[index] = m_shared->statType(index);
        return index;
    }
    if (m_count >= Capacity) {
        qCWarning(lcStats).noquote() << "stat table full, not counted:" << name;
        return -1;
    }
    m_names.append(name);
    m_types.append(type);
    return m_count++;
}

void StatsRegistry::recordRequest(int status, qint64 latencyMicros, qint64 bytesIn, qint64 bytesOut,
                                  int protocolStat)
{
    const int statusClass = status / 100;
    int latencyClass = LatencyOver1s;
    if (latencyMicros < 1000)
        latencyClass = LatencyUnder1ms;
    else if (latencyMicros < 10000)
        latencyClass = LatencyUnder10ms;
    else if (latencyMicros < 100000)
        latencyClass = LatencyUnder100ms;
    else if (latencyMicros < 1000000)
        latencyClass = LatencyUnder1s;
    const LatencyBounds &bounds = latencyBounds();
    int bucket = 0;
    while (bucket < bounds.count && latencyMicros > bounds.micros[size_t(bucket)])
        ++bucket;
    const int histogram = bucket < bounds.count ? LatencyBucket0 + bucket : LatencyOverBuckets;

    // What add() does for each stat, with the thread's binding looked up once: a request
    // touches eight counters (every one a built-in stat).
    if (m_slot && t_boundThread.worker == m_slot) {
        ThreadSlot &thread = *t_boundThread.thread;
        const auto bump = [&thread](int slot, qint64 delta) {
            std::atomic<std::int64_t> &own = thread.counters[size_t(slot)];
            own.store(own.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
        };
        bump(Requests, 1);
        thread.requests.store(thread.requests.load(std::memory_order_relaxed) + 1,
                              std::memory_order_relaxed);
        if (statusClass >= 1 && statusClass <= 5)
            bump(Status1xx + statusClass - 1, 1);
        bump(BytesIn, bytesIn);
        bump(BytesOut, bytesOut);
        bump(LatencySumMicros, qMax<qint64>(0, latencyMicros));
        bump(latencyClass, 1);
        bump(histogram, 1);
        if (protocolStat >= 0 && protocolStat < BuiltinCount)
            bump(protocolStat, 1);
        else if (protocolStat >= 0)
            add(protocolStat);
        return;
    }
    add(Requests);
    if (m_slot)
        m_slot->requestsServed.fetch_add(1, std::memory_order_relaxed);
    if (statusClass >= 1 && statusClass <= 5)
        add(Status1xx + statusClass - 1);
    add(BytesIn, bytesIn);
    add(BytesOut, bytesOut);
    add(LatencySumMicros, qMax<qint64>(0, latencyMicros));
    add(latencyClass);
    add(histogram);
    if (protocolStat >= 0)
        add(protocolStat);
}

QList<StatsRegistry::Entry> StatsRegistry::snapshot() const
{
    QList<Entry> entries;
    entries.reserve(m_count);
    for (int i = 0; i < m_count; ++i)
        entries.append({m_names[i], m_types[i], value(i)});
    return entries;
}

bool StatsRegistry::exportNames(SharedState &shared, QString *error) const
{
    for (int i = 0; i < m_count; ++i) {
        if (!shared.publishStatAt(i, m_names[i], m_types[i], error))
            return false;
    }
    return true;
}

bool StatsRegistry::attach(SharedState &shared, int slotIndex, QString *error)
{
    WorkerSlot *slot = shared.slot(slotIndex);
    if (!slot) {
        if (error)
            *error = QStringLiteral("no worker slot %1 (0..%2)")
                         .arg(slotIndex)
                         .arg(shared.slotCount() - 1);
        return false;
    }
    if (m_shared) {
        if (error)
            *error = QStringLiteral("stats are already attached to shared memory");
        return false;
    }
    if (!exportNames(shared, error))
        return false;
    m_shared = &shared;
    m_slot = slot;
    m_slotIndex = slotIndex;
    importNames(shared.statCount());

    // Counts made before attaching (usually none) carry over; the slot's own counts are the
    // previous generation's, which brim-style keep counting for the slot.
    for (int i = 0; i < Capacity; ++i) {
        const std::int64_t local = m_ownValues[size_t(i)].load(std::memory_order_relaxed);
        if (i == StartTime)
            slot->values[i].store(local, std::memory_order_relaxed);
        else if (local != 0)
            slot->values[i].fetch_add(local, std::memory_order_relaxed);
    }
    m_values = slot->values;
    if (slot->workerState() == WorkerState::Empty) {
        // Not prepared by a master (single-process mode, tests): be generation 1 on our own.
        slot->generation.fetch_add(1, std::memory_order_relaxed);
        slot->startedMs.store(m_startedMs, std::memory_order_relaxed);
    }
    slot->pid.store(qint32(::getpid()), std::memory_order_relaxed);
    slot->state.store(int(WorkerState::Running), std::memory_order_release);
    return true;
}

void StatsRegistry::computeAggregate(StatsReport &report)
{
    const int count = int(report.names.size());
    report.totals.fill(0, count);
    report.aggregate.clear();
    for (int i = 0; i < count; ++i) {
        const StatType type = report.types[i];
        if (type == StatType::Worker || report.names[i].isEmpty())
            continue;
        qint64 total = 0;
        bool any = false;
        for (const WorkerStats &w : std::as_const(report.workers)) {
            const bool live = w.state == WorkerState::Starting || w.state == WorkerState::Running ||
                              w.state == WorkerState::Draining;
            if (w.state == WorkerState::Empty || i >= w.values.size())
                continue;
            const qint64 v = w.values[i];
            if (type == StatType::Sum) {
                total += v;
                continue;
            }
            // A dead worker's minimum or maximum describes nothing that still runs.
            if (!live)
                continue;
            if (!any)
                total = v;
            else if (type == StatType::Min)
                total = qMin(total, v);
            else
                total = qMax(total, v);
            any = true;
        }
        report.totals[i] = total;
        report.aggregate.append({i, report.names[i], type, total});
    }
}

StatsReport StatsRegistry::report(const SharedState &shared)
{
    StatsReport report;
    const int count = shared.statCount();
    for (int i = 0; i < count; ++i) {
        report.names.append(shared.statName(i));
        report.types.append(shared.statType(i));
    }
    const qint64 now = monotonicMs();
    for (int s = 0; s < shared.slotCount(); ++s) {
        const WorkerSlot &slot = *shared.slot(s);
        if (slot.workerState() == WorkerState::Empty)
            continue;
        report.workers.append(readSlot(slot, s, count, now));
    }
    computeAggregate(report);
    return report;
}

StatsReport StatsRegistry::report() const
{
    if (m_shared)
        return report(*m_shared);
    StatsReport report;
    report.names = m_names;
    report.types = m_types;
    WorkerStats self;
    self.slot = 0;
    self.pid = ::getpid();
    self.generation = 1;
    self.startedMs = m_startedMs;
    self.state = WorkerState::Running;
    self.kind = QStringLiteral("http");
    self.name = QStringLiteral("http");
    self.requestsServed = value(Requests);
    self.values.reserve(m_count);
    for (int i = 0; i < m_count; ++i)
        self.values.append(value(i));
    report.workers.append(self);
    computeAggregate(report);
    return report;
}

QList<AggregateEntry> StatsRegistry::aggregate(const SharedState &shared)
{
    return report(shared).aggregate;
}

} // namespace Berth::Core
