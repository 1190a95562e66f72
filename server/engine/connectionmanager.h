#pragma once

#include "enginesettings.h"
#include "poller.h"
#include "socketaddress.h"
#include "timerwheel.h"

#include <QByteArray>
#include <QHash>
#include <QHostAddress>
#include <QList>
#include <QObject>
#include <QTimer>

#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include <sys/socket.h>

namespace Berth::Http {
class RequestRouter;
}
namespace Berth::Core {
class ServerContext;
}

namespace Berth::Engine {

class Connection;
class Http1Exchange;

// What an accepted socket brought beyond itself, kept by fd until the connection closes (a
// hand-over to another codec keeps the fd, so the new connection finds it too).
struct ConnectionOrigin
{
    bool http2 = true;    // the listener serves HTTP/2
    bool proxied = false; // a PROXY header named the addresses below
    QHostAddress peerAddress;
    quint16 peerPort = 0;
    QHostAddress localAddress;
    quint16 localPort = 0;
    bool ssl = false; // PROXY v2 SSL TLV: the client spoke TLS to the proxy
};

// One event-loop thread's share of the server: accepts on the shared listening sockets, owns
// the connections it accepted, and runs their timeouts from a timer wheel advanced by one
// coarse tick (each connection is armed for its own next deadline, so idle connections cost
// nothing between ticks). Everything here runs in that thread.
class ConnectionManager final : public QObject
{
    Q_OBJECT
public:
    ConnectionManager(const EngineSettings &settings, const Http::RequestRouter *router,
                      Core::ServerContext *server, const QList<Listener> &listeners);
    ~ConnectionManager() override;

    void start();
    // Graceful stop: stop accepting, close idle connections, let busy ones finish their
    // current response; drained() once none is left.
    void beginDrain();
    // Immediate stop: close every connection now.
    void closeAll();

    const EngineSettings &settings() const { return m_settings; }
    const Http::RequestRouter *router() const { return m_router; }
    Core::ServerContext *server() const { return m_server; }
    Poller *poller() { return &m_poller; }
    bool isDraining() const { return m_draining; }
    int connectionCount() const { return int(m_connections.size()); }

    // A new transaction id: unique in this process and, with its random prefix, across
    // processes and restarts.
    QByteArray nextTxnId();
    // The same written into txn, reusing its buffer when nobody else holds it (the request of a
    // pooled exchange): no allocation per request.
    void nextTxnId(QByteArray &txn);

    // Called by a connection that has closed its socket; it is deleted once no call of its
    // can be on the stack: at the end of the loop turn (poller batch or tick) that released it.
    void release(Connection *connection);
    // A connection that handed its socket to another codec's connection (protocol selector).
    void replace(Connection *old, Connection *next);
    // Reads connection again once this loop turn is over, as a readable socket would: for bytes
    // no socket event will announce (TLS records read ahead; Connection::postRead()).
    void postRead(Connection *connection);
    // Takes a connection made elsewhere (tests, a fake transport) and starts it.
    void adopt(Connection *connection);

    // The thread's pool of HTTP/1 exchanges: a connection holds one only while a request is
    // in flight (Http1Exchange). A given-back exchange stays allocated until the loop turn is
    // over (an app may still hold a reference on the stack); the pool is trimmed at the tick.
    std::unique_ptr<Http1Exchange> takeHttp1Exchange();
    void giveHttp1Exchange(std::unique_ptr<Http1Exchange> exchange);
    int pooledHttp1Exchanges() const { return int(m_exchangePool.size()); }

    // Monotonic milliseconds for every timeout of this thread's connections. Tests inject a
    // clock so timeouts run without sleeping. Read once per loop turn: while the poller
    // dispatches a batch of events (or the tick runs), every caller gets the time the turn
    // began; outside a turn (an app's own timer) the clock is read.
    qint64 now() const { return m_turnNow >= 0 ? m_turnNow : readClock(); }
    void setClock(std::function<qint64()> clock)
    {
        m_clock = std::move(clock);
        m_timers.rebase(readClock());
    }
    static qint64 monotonicNow();

    // The timeouts of this thread's connections, and the period of the tick that advances them
    // (the granularity of every timeout).
    TimerWheel &timers() { return m_timers; }
    qint64 tickMs() const;

    // max_connections across the whole server: shared memory when workers share it, this
    // process's own count otherwise (workers = 0). Takes a unit for a new connection; false
    // when the server is full.
    bool acquireConnectionSlot();
    void releaseConnectionSlot();

    // "name:port" (port -1: "name:unix") for request.log, one copy per port that lives as long
    // as the manager (a connection keeps a pointer to it: no reference count per connection).
    const QByteArray &serverText(int localPort);

    // The origin recorded when fd was accepted; null when none was (adopted connections).
    const ConnectionOrigin *origin(int fd) const
    {
        const auto it = m_origins.constFind(fd);
        return it == m_origins.cend() ? nullptr : &*it;
    }
    void forgetOrigin(int fd) { m_origins.remove(fd); }
    // The peer address accept4() gave for fd, while the connection for fd is being built
    // (spares it a getpeername); null otherwise.
    const sockaddr *acceptedPeer(int fd) const
    {
        return fd >= 0 && fd == m_acceptedFd ? reinterpret_cast<const sockaddr *>(&m_acceptedPeer)
                                             : nullptr;
    }
    // Whether a plain TCP connection being accepted reads before it registers with epoll
    // (Connection::start): yes while such reads mostly find the request there (a busy server,
    // a slow network), and one accept in 16 to find out again when they mostly did not (a
    // local client that writes only after its connect() returned). noteReadOnAccept: the
    // outcome of one.
    bool readOnAccept() const { return m_readOnAcceptScore >= 0 || (m_nextConnectionId & 15) == 0; }
    void noteReadOnAccept(bool foundInput)
    {
        m_readOnAcceptScore =
            foundInput ? qMin(m_readOnAcceptScore + 1, 8) : qMax(m_readOnAcceptScore - 1, -8);
    }
    // The local address of that socket when its listener is bound to one address (spares a
    // getsockname); null otherwise (a wildcard listener: the socket knows).
    const SocketAddress *acceptedLocal(int fd) const
    {
        return fd >= 0 && fd == m_acceptedFd ? m_acceptedLocal : nullptr;
    }

Q_SIGNALS:
    void drained();

private:
    class ListenerHandler;
    class ProxyHeaderReader;

    // Accepts one connection. False when the listener had none waiting.
    bool acceptOne(const Listener &listener);
    // Deletes the connections released since the last call (the deferred delete).
    void deleteReleased();
    static void runPostedReads(void *manager);
    void forgetPostedRead(Connection *connection);
    // The connection's codec and transport, once its socket is ready to carry HTTP (after the
    // PROXY header, on a listener that wants one). origin: null for a plain accept.
    void startConnection(int fd, const Listener &listener, const ConnectionOrigin *origin);
    // A PROXY header arrived (or failed): the connection starts, or is closed with a CEF event.
    void finishProxyHeader(ProxyHeaderReader *reader, const char *error);
    void closeProxyReaders();
    void refuseOverLimit(int fd, const Listener &listener);
    void setAccepting(bool on);
    // After an accept: whether this thread holds clearly more connections than a sibling
    // event-loop thread of this worker that is running (its heartbeat is fresh), so that it
    // should leave the next connections to it for a moment.
    void rotateListener(int fd); // to the end of the listener's queue of exclusive waiters
    bool aheadOfSibling() const;
    void tick();
    void scheduleTick(qint64 now); // when the next tick comes: see the definition
    void resumeAccepting();
    void track(Connection *connection);
    bool untrack(Connection *connection);
    qint64 readClock() const { return m_clock ? m_clock() : monotonicNow(); }

    EngineSettings m_settings;
    const Http::RequestRouter *m_router;
    Core::ServerContext *m_server;
    QList<Listener> m_listeners;
    std::vector<std::unique_ptr<ListenerHandler>> m_listenerHandlers;
    bool m_accepting = false;
    std::vector<Connection *> m_connections;
    std::vector<Connection *> m_released;    // closed, waiting for deleteReleased()
    std::vector<Connection *> m_postedReads; // postRead(), until the turn ends
    std::vector<std::unique_ptr<Http1Exchange>> m_exchangePool;
    int m_turnDepth = 0;   // poller batches being dispatched (nested: > 1)
    int m_acceptedFd = -1; // see acceptedPeer()
    sockaddr_storage m_acceptedPeer{};
    const SocketAddress *m_acceptedLocal = nullptr; // see acceptedLocal()
    // Each listening socket's own address, looked up on its first accept: `fixed` when every
    // connection it accepts has that local address (not a wildcard, not IP_TRANSPARENT).
    struct ListenerAddress
    {
        int fd = -1;
        bool fixed = false;
        SocketAddress local;
    };
    std::vector<ListenerAddress> m_listenerAddresses;
    const SocketAddress *fixedLocalAddress(int listenerFd);
    std::vector<std::unique_ptr<ProxyHeaderReader>> m_proxyReaders;    // waiting for their header
    std::vector<std::unique_ptr<ProxyHeaderReader>> m_finishedReaders; // deleted next tick
    QHash<int, ConnectionOrigin> m_origins;
    // max_connections_per_ip: the address each counted connection holds a unit for (see
    // PerIpConnections), keyed by connection; accepted-but-not-started ones by fd.
    QHash<const Connection *, QByteArray> m_ipKeys;
    QByteArray m_acceptedIpKey; // set by acceptOne() for the startConnection() it calls
    // Counts the peer of a new socket against max_connections_per_ip; false: refused (the
    // caller answers as for max_connections).
    bool acquirePerIp(int fd, const sockaddr *peer);
    void releasePerIp(const Connection *connection);
    std::unordered_map<int, QByteArray> m_serverTexts; // node-based: references stay valid
    int m_lastServerPort = -2;                         // the last one asked for, and its text
    const QByteArray *m_lastServerText = nullptr;
    std::function<qint64()> m_clock;
    qint64 m_turnNow = -1; // the time of the loop turn in progress, -1 outside one
    TimerWheel m_timers;
    QTimer m_tick;
    qint64 m_idleTickMs = 1000; // the longest the tick sleeps (a quarter of worker_timeout)
    Poller m_poller;
    QTimer m_acceptPause;
    bool m_rotateListeners = false; // see acceptOne()
    int m_rotateEvery = 1;          // accepts between rotations (start())
    int m_acceptsSinceRotation = 0;
    QTimer m_sitOut; // running while this thread leaves new connections to its siblings
    quint64 m_nextConnectionId = 1;
    int m_readOnAcceptScore = 0; // see readOnAccept(): > 0 when reads found input, < 0 when not
    bool m_draining = false;
};

} // namespace Berth::Engine
