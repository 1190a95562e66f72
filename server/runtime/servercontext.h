#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QString>
#include <QStringList>

#include <atomic>

namespace Berth::Config {
class Config;
}

namespace Berth::Core {

class BroadcastBus;
class OffloadPool;
class StatsRegistry;

// Process-wide state apps may read: identity, start time, stats, whether the server drains.
// One per process, shared by every event-loop thread (members are atomics or immutable).
class ServerContext
{
public:
    QString serverName = QStringLiteral("berth");
    QDateTime startTime = QDateTime::currentDateTimeUtc();
    StatsRegistry *stats = nullptr;
    // Where apps run blocking work (bcrypt, SQL) off their event loop; shared by every
    // event-loop thread of the process. Null when nothing serves (berthd check, tests).
    OffloadPool *offload = nullptr;
    // Publish/subscribe with every event-loop thread of every worker of this server
    // (berth.ws_chat). Null when nothing serves (berthd check, tests).
    BroadcastBus *bus = nullptr;
    // The configuration this process serves (immutable once the server is built), and what the
    // debug page shows about the process.
    const Config::Config *config = nullptr;
    QStringList listeners; // "127.0.0.1:8080", "127.0.0.1:8443 (tls)"
    int threads = 1;

    // This process finishes its work and goes (TERM, or an old generation after a reload).
    bool isDraining() const { return m_draining.load(std::memory_order_relaxed); }
    void setDraining(bool draining) { m_draining.store(draining, std::memory_order_relaxed); }
    // The whole server goes, not just this process: what a load balancer must hear.
    bool isServerStopping() const;

private:
    std::atomic<bool> m_draining{false};
};

} // namespace Berth::Core
