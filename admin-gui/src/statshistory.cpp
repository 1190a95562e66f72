#include "statshistory.h"

#include <QJsonArray>
#include <QSet>

namespace Berth::Console {

using namespace Qt::StringLiterals;

namespace {

qint64 integer(const QJsonObject &o, const QString &key)
{
    return o.value(key).toInteger();
}

qint64 status(const QJsonObject &o, const QString &klass)
{
    return o.value(u"status"_s).toObject().value(klass).toInteger();
}

QMap<qint64, qint64> workerRequests(const QJsonObject &o)
{
    QMap<qint64, qint64> result;
    for (const QJsonValue &c : o.value(u"children"_s).toArray()) {
        const qint64 pid = c.toObject().value(u"pid"_s).toInteger();
        if (pid > 0) // pid 0: a slot whose replacement has not started yet
            result.insert(pid, c.toObject().value(u"requests"_s).toInteger());
    }
    return result;
}

} // namespace

void StatsHistory::add(const QJsonObject &snapshot, qint64 nowMs)
{
    StatsSample s;
    s.timeMs = nowMs;
    s.activeConnections = double(integer(snapshot, u"active_connections"_s));
    const QJsonObject rates = snapshot.value(u"rates"_s).toObject();
    s.p50Ms = rates.value(u"interval_p50_ms"_s).toDouble(-1);
    s.p99Ms = rates.value(u"interval_p99_ms"_s).toDouble(-1);
    if (!m_previous.isEmpty()) {
        qint64 elapsed = integer(snapshot, u"time_ms"_s) - integer(m_previous, u"time_ms"_s);
        if (elapsed <= 0) // the admin process restarted: its monotonic clock is another one
            elapsed = qMax<qint64>(1, integer(snapshot, u"interval_ms"_s));
        const double seconds = double(elapsed) / 1000.0;
        auto rate = [&](qint64 now, qint64 before) { return double(delta(now, before)) / seconds; };
        s.requestsPerS = rate(integer(snapshot, u"requests"_s), integer(m_previous, u"requests"_s));
        s.status4xxPerS = rate(status(snapshot, u"4xx"_s), status(m_previous, u"4xx"_s));
        s.status5xxPerS = rate(status(snapshot, u"5xx"_s), status(m_previous, u"5xx"_s));
        s.bytesPerS = rate(integer(snapshot, u"bytes_in"_s), integer(m_previous, u"bytes_in"_s)) +
                      rate(integer(snapshot, u"bytes_out"_s), integer(m_previous, u"bytes_out"_s));
        const QMap<qint64, qint64> before = workerRequests(m_previous);
        const QMap<qint64, qint64> now = workerRequests(snapshot);
        for (auto it = now.cbegin(); it != now.cend(); ++it) {
            // A new pid (a replacement worker) counts from zero.
            s.workerRequestsPerS.insert(it.key(), rate(it.value(), before.value(it.key(), 0)));
        }
    }
    m_previous = snapshot;
    m_samples.append(s);
    while (!m_samples.isEmpty() && m_samples.first().timeMs < nowMs - KeepMs)
        m_samples.removeFirst();
}

QList<qint64> StatsHistory::workers() const
{
    QSet<qint64> pids;
    for (const StatsSample &s : m_samples) {
        for (auto it = s.workerRequestsPerS.cbegin(); it != s.workerRequestsPerS.cend(); ++it)
            pids.insert(it.key());
    }
    QList<qint64> list(pids.cbegin(), pids.cend());
    std::sort(list.begin(), list.end());
    return list;
}

void StatsHistory::clear()
{
    m_samples.clear();
    m_previous = {};
}

} // namespace Berth::Console
