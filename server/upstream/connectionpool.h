#pragma once

#include <QHash>
#include <QList>
#include <QString>

#include <chrono>

namespace Berth::Upstream {

class UpstreamConnection;

// Idle keep-alive connections of one event-loop thread, per member (the key names the member
// and how it is reached). Only the thread's own code touches it, so there is no locking.
class ConnectionPool
{
public:
    static ConnectionPool &forCurrentThread();
    ~ConnectionPool();

    // The most recently parked idle connection to this member, or null.
    UpstreamConnection *take(const QString &key);
    // Keeps a reusable connection for the next request (up to maxIdle per member, for
    // idleTimeout); closes it otherwise. Past maxIdle the oldest idle connections are closed
    // at the end of the event-loop turn, not at once: a request later in the same batch of
    // events takes one instead of opening a new connection.
    void put(const QString &key, UpstreamConnection *connection, int maxIdle,
             std::chrono::milliseconds idleTimeout);
    int idleCount(const QString &key) const;

private:
    struct List
    {
        // Parked ones only: a parked connection that closes (hung up, idle timeout, closed by
        // anyone) leaves through forget() before it is deleted.
        QList<UpstreamConnection *> connections;
        int maxIdle = 0;
    };
    List *listFor(const QString &key);
    void forget(UpstreamConnection *connection);
    void trim();

    QHash<QString, List> m_idle;
    bool m_trimPending = false;
    QString m_lastKey; // listFor()'s last key and its list
    List *m_lastList = nullptr;
};

} // namespace Berth::Upstream
