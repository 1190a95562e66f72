#include "connectionpool.h"

#include "upstreamconnection.h"

#include "engine/poller.h"

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
        for (UpstreamConnection *connection : std::as_const(list.connections))
            delete connection;
    }
}

ConnectionPool::List *ConnectionPool::listFor(const QString &key)
{
    // Every request takes and puts back with the same key object (the group's), so the last
    // list is remembered by the key's buffer: no hashing per request. m_lastKey holds a
    // reference to that buffer, so it can't be freed and reused for another key's text.
    if (m_lastList && key.constData() == m_lastKey.constData() && key.size() == m_lastKey.size())
        return m_lastList;
    // An insertion here may move every list: only the one just looked up is kept.
    m_lastList = &m_idle[key];
    m_lastKey = key;
    return m_lastList;
}

UpstreamConnection *ConnectionPool::take(const QString &key)
{
    auto &list = listFor(key)->connections;
    while (!list.isEmpty()) {
        UpstreamConnection *connection = list.takeLast();
        if (connection->isIdle())
            return connection;
    }
    return nullptr;
}

void ConnectionPool::put(const QString &key, UpstreamConnection *connection, int maxIdle,
                         std::chrono::milliseconds idleTimeout)
{
    List &list = *listFor(key);
    if (!connection->reusable() || maxIdle <= 0) {
        connection->close();
        return;
    }
    list.maxIdle = maxIdle;
    list.connections.append(connection);
    // Two pointers: small enough for std::function to hold without an allocation (this runs
    // once per proxied request). The connection is still alive when it runs (close() deletes
    // it later), so it can be looked for by address in every member's list.
    connection->park(idleTimeout, [this, connection] { forget(connection); });
    if (list.connections.size() > maxIdle && !m_trimPending) {
        // Under a burst responses and requests alternate within one batch of events: closing
        // the surplus at once made the next request of the batch open a new connection (64
        // clients against keepalive = 32: one new member connection per four requests).
        m_trimPending = true;
        Engine::Poller::forCurrentThread()->deferToTurnEnd(
            [](void *self) { static_cast<ConnectionPool *>(self)->trim(); }, this);
    }
}

void ConnectionPool::trim()
{
    m_trimPending = false;
    for (auto &list : m_idle) {
        auto &connections = list.connections;
        if (connections.size() <= list.maxIdle)
            continue;
        // The oldest go: the most recently parked are taken first (take()), so these have
        // been idle longest. Taken out before close(), whose forget() then finds nothing.
        while (connections.size() > list.maxIdle)
            connections.takeFirst()->close();
    }
}

void ConnectionPool::forget(UpstreamConnection *connection)
{
    for (auto &list : m_idle) {
        list.connections.removeIf(
            [connection](const UpstreamConnection *idle) { return idle == connection; });
    }
}

int ConnectionPool::idleCount(const QString &key) const
{
    int count = 0;
    for (const UpstreamConnection *connection : m_idle.value(key).connections) {
        if (connection->isIdle())
            ++count;
    }
    return count;
}

} // namespace Berth::Upstream
