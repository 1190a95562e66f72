#pragma once

#include <QByteArray>
#include <QHash>
#include <QMutex>

#include <functional>

namespace Berth::Engine {

// `[limits] max_connections_per_ip`: the connections one client address has open in this
// worker process, over all its event-loop threads. Counted per process, not in shared memory:
// a worker killed with connections open would leave its counts behind in a shared table and
// lock those addresses out, while a per-process count dies with the process. With N workers an
// address may so hold up to N x the limit; the kernel spreads one client's connections over
// the workers (SO_REUSEPORT), so in practice it meets the limit in each.
class PerIpConnections
{
public:
    using Clock = std::function<qint64()>; // monotonic ms
    static constexpr qint64 LogIntervalMs = 60'000;

    explicit PerIpConnections(Clock clock = {});

    // The process's table, shared by every ConnectionManager of the process.
    static PerIpConnections &process();

    // Takes one connection for `address` (raw address bytes); false when it already has
    // `limit`. *logNow: refused, and the first refusal of this address in LogIntervalMs.
    bool acquire(const QByteArray &address, int limit, bool *logNow = nullptr);
    void release(const QByteArray &address);
    int count(const QByteArray &address) const;

private:
    Clock m_clock;
    mutable QMutex m_mutex;
    QHash<QByteArray, int> m_open;
    QHash<QByteArray, qint64> m_lastLogged; // bounded: cleared when it grows past 4096
};

} // namespace Berth::Engine
