#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QString>

#include <atomic>

namespace Berth::Core {

class StatsRegistry;

// Process-wide state apps may read: identity, start time, stats, whether the server drains.
// One per process, shared by every event-loop thread (members are atomics or immutable).
class ServerContext
{
public:
    QString serverName = QStringLiteral("berth");
    QDateTime startTime = QDateTime::currentDateTimeUtc();
    StatsRegistry *stats = nullptr;

    bool isDraining() const { return m_draining.load(std::memory_order_relaxed); }
    void setDraining(bool draining) { m_draining.store(draining, std::memory_order_relaxed); }

private:
    std::atomic<bool> m_draining{false};
};

} // namespace Berth::Core
