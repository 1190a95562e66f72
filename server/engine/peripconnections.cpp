#include "peripconnections.h"

#include <QMutexLocker>

#include <chrono>

namespace Berth::Engine {

namespace {

qint64 steadyMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

} // namespace

PerIpConnections::PerIpConnections(Clock clock)
    : m_clock(clock ? std::move(clock) : Clock(steadyMs))
{}

PerIpConnections &PerIpConnections::process()
{
    static PerIpConnections table;
    return table;
}

bool PerIpConnections::acquire(const QByteArray &address, int limit, bool *logNow)
{
    if (logNow)
        *logNow = false;
    QMutexLocker lock(&m_mutex);
    int &open = m_open[address];
    if (open < limit) {
        ++open;
        return true;
    }
    if (open == 0)
        m_open.remove(address); // limit 0 here means refuse all; keep the table small
    const qint64 now = m_clock();
    if (m_lastLogged.size() > 4096)
        m_lastLogged.clear();
    auto last = m_lastLogged.find(address);
    if (last == m_lastLogged.end() || now - *last >= LogIntervalMs) {
        m_lastLogged.insert(address, now);
        if (logNow)
            *logNow = true;
    }
    return false;
}

void PerIpConnections::release(const QByteArray &address)
{
    QMutexLocker lock(&m_mutex);
    const auto it = m_open.find(address);
    if (it == m_open.end())
        return;
    if (--*it <= 0)
        m_open.erase(it);
}

int PerIpConnections::count(const QByteArray &address) const
{
    QMutexLocker lock(&m_mutex);
    return m_open.value(address);
}

} // namespace Berth::Engine
