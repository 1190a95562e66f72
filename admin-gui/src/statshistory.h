#pragma once

#include <QJsonObject>
#include <QList>
#include <QMap>

namespace Berth::Console {

// One point of the dashboard: rates over the interval before it.
struct StatsSample
{
    qint64 timeMs = 0; // wall clock of the console when the snapshot arrived
    double requestsPerS = 0;
    double status4xxPerS = 0;
    double status5xxPerS = 0;
    double p50Ms = -1; // -1: no request in the interval
    double p99Ms = -1;
    double activeConnections = 0;
    double bytesPerS = 0;                    // in + out
    QMap<qint64, double> workerRequestsPerS; // by pid
};

// The stats stream turned into rates, kept for the longest window (60 minutes). Rates are
// computed here from successive cumulative snapshots rather than taken from the server, so a
// counter that goes backwards (a worker replaced by a restart or a reload, the admin process
// restarted) reads as a reset, never as a negative rate.
class StatsHistory
{
public:
    static constexpr qint64 KeepMs = 60 * 60 * 1000;

    // nowMs: the console's clock (injected by tests).
    void add(const QJsonObject &snapshot, qint64 nowMs);
    const QList<StatsSample> &samples() const { return m_samples; }
    QList<qint64> workers() const; // pids seen in the kept samples
    void clear();

    // The increase of a cumulative counter; a decrease is a reset to zero in between.
    static qint64 delta(qint64 now, qint64 before) { return now >= before ? now - before : now; }

private:
    QList<StatsSample> m_samples;
    QJsonObject m_previous;
};

} // namespace Berth::Console
