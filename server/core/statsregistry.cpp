#include "statsregistry.h"

#include <QDateTime>

namespace Berth::Core {

QString statTypeName(StatType type)
{
    switch (type) {
    case StatType::Worker:
        return QStringLiteral("worker");
    case StatType::Sum:
        return QStringLiteral("sum");
    case StatType::Min:
        return QStringLiteral("min");
    case StatType::Max:
        return QStringLiteral("max");
    }
    return {};
}

StatsRegistry::StatsRegistry()
{
    static const struct
    {
        const char *name;
        StatType type;
    } builtins[BuiltinCount] = {
        {"start_time", StatType::Min},       {"requests", StatType::Sum},
        {"status_1xx", StatType::Sum},       {"status_2xx", StatType::Sum},
        {"status_3xx", StatType::Sum},       {"status_4xx", StatType::Sum},
        {"status_5xx", StatType::Sum},       {"bytes_in", StatType::Sum},
        {"bytes_out", StatType::Sum},        {"active_connections", StatType::Sum},
        {"connections", StatType::Sum},      {"bad_requests", StatType::Sum},
        {"latency_lt_1ms", StatType::Sum},   {"latency_lt_10ms", StatType::Sum},
        {"latency_lt_100ms", StatType::Sum}, {"latency_lt_1s", StatType::Sum},
        {"latency_ge_1s", StatType::Sum},
    };
    for (const auto &b : builtins)
        declare(QString::fromLatin1(b.name), b.type);
    set(StartTime, QDateTime::currentSecsSinceEpoch());
}

int StatsRegistry::declare(const QString &name, StatType type)
{
    const qsizetype existing = m_names.indexOf(name);
    if (existing >= 0)
        return int(existing);
    if (m_count >= Capacity)
        return -1;
    m_names.append(name);
    m_types.append(type);
    return m_count++;
}

void StatsRegistry::recordRequest(int status, qint64 latencyMicros, qint64 bytesIn, qint64 bytesOut)
{
    add(Requests);
    const int statusClass = status / 100;
    if (statusClass >= 1 && statusClass <= 5)
        add(Status1xx + statusClass - 1);
    add(BytesIn, bytesIn);
    add(BytesOut, bytesOut);
    if (latencyMicros < 1000)
        add(LatencyUnder1ms);
    else if (latencyMicros < 10000)
        add(LatencyUnder10ms);
    else if (latencyMicros < 100000)
        add(LatencyUnder100ms);
    else if (latencyMicros < 1000000)
        add(LatencyUnder1s);
    else
        add(LatencyOver1s);
}

QList<StatsRegistry::Entry> StatsRegistry::snapshot() const
{
    QList<Entry> entries;
    entries.reserve(m_count);
    for (int i = 0; i < m_count; ++i)
        entries.append({m_names[i], m_types[i], value(i)});
    return entries;
}

} // namespace Berth::Core
