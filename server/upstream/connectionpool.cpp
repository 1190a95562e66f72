#include "connectionpool.h"

#include "upstreamconnection.h"

#include <memory>

namespace Berth::Upstream {

ConnectionPool &ConnectionPool::forCurrentThread()
{
    thread_local ConnectionPool pool;
    return pool;
}

ConnectionPool::~ConnectionPool()
{
    for (auto &list : m_idle) {
        for (const auto &connection : list) {
            if (connection)
                delete connection.data();
        }
    }
}

UpstreamConnection *ConnectionPool::take(const QString &key)
{
    auto it = m_idle.find(key);
    if (it == m_idle.end())
        return nullptr;
    while (!it->isEmpty()) {
        QPointer<UpstreamConnection> connection = it->takeLast();
        if (connection && connection->isIdle())
            return connection.data();
    }
    return nullptr;
}

void ConnectionPool::put(const QString &key, UpstreamConnection *connection, int maxIdle,
                         std::chrono::milliseconds idleTimeout)
{
    QList<QPointer<UpstreamConnection>> &list = m_idle[key];
    list.removeAll(nullptr);
    if (!connection->reusable() || list.size() >= maxIdle) {
        connection->close();
        return;
    }
    list.append(connection);
    // Two pointers: small enough for std::function to hold without an allocation (this runs
    // once per proxied request). The connection is still alive when it runs (close() deletes
    // it later), so it can be looked for by address in every member's list.
    connection->park(idleTimeout, [this, connection] { forget(connection); });
}

void ConnectionPool::forget(UpstreamConnection *connection)
{
    for (auto &list : m_idle) {
        list.removeIf([connection](const QPointer<UpstreamConnection> &idle) {
            return !idle || idle.data() == connection;
        });
    }
}

int ConnectionPool::idleCount(const QString &key) const
{
    int count = 0;
    for (const auto &connection : m_idle.value(key)) {
        if (connection && connection->isIdle())
            ++count;
    }
    return count;
}

} // namespace Berth::Upstream
