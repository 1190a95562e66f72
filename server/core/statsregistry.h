#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <array>
#include <atomic>

namespace Berth::Core {

// brim's stat types: how a per-worker value is aggregated across workers.
enum class StatType {
    Worker, // per worker only, no aggregate
    Sum,
    Min,
    Max,
};

QString statTypeName(StatType type);

// Named integer stats, declared once at configuration time (brim's stats_conf()) and then
// updated lock-free from every event-loop thread. Slots are plain atomics in one fixed array so
// the whole table can later live in shared memory, one table per worker process.
class StatsRegistry
{
public:
    static constexpr int Capacity = 512;

    // Built-in stats, declared by the constructor in this order.
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
        BuiltinCount
    };

    StatsRegistry();

    // Returns the slot of a stat, declaring it if new (same name -> same slot). Call before the
    // event-loop threads start; returns -1 when the table is full.
    int declare(const QString &name, StatType type);

    void add(int slot, qint64 delta = 1)
    {
        if (slot >= 0)
            m_values[size_t(slot)].fetch_add(delta, std::memory_order_relaxed);
    }
    void set(int slot, qint64 value)
    {
        if (slot >= 0)
            m_values[size_t(slot)].store(value, std::memory_order_relaxed);
    }
    qint64 value(int slot) const
    {
        return slot >= 0 ? m_values[size_t(slot)].load(std::memory_order_relaxed) : 0;
    }
    // Counts a finished request: status class and latency bucket.
    void recordRequest(int status, qint64 latencyMicros, qint64 bytesIn, qint64 bytesOut);

    struct Entry
    {
        QString name;
        StatType type;
        qint64 value;
    };
    QList<Entry> snapshot() const;
    int count() const { return m_count; }

private:
    std::array<std::atomic<qint64>, Capacity> m_values{};
    QList<QString> m_names;
    QList<StatType> m_types;
    int m_count = 0;
};

} // namespace Berth::Core
