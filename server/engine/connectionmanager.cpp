#include "connectionmanager.h"

#include "http/httpdate.h"
#include "http/request.h"
#include "http1connection.h"
#include "http1exchange.h"
#include "log/cef.h"
#include "log/logging.h"
#include "log/logsink.h"
#include "log/requestlogline.h"
#include "peripconnections.h"
#include "proxyprotocol.h"
#include "runtime/servercontext.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"
#include "runtime/workerhealth.h"
#include "transport.h"

#include <config/config.h>

#include <QDateTime>
#include <QElapsedTimer>
#include <QHostAddress>
#include <QLoggingCategory>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

Q_LOGGING_CATEGORY(lcAccept, "berth.engine")

namespace Berth::Engine {

namespace {

constexpr int TickMs = 100;
// The longest a thread sleeps with nothing due: the heartbeat the master's watchdog reads
// (worker_timeout) comes at least this often, and at least four times per worker_timeout.
constexpr int IdleTickMs = 1000;
// 1024 buckets of one tick: the default idle_timeout (75 s) is within one round.
constexpr int WheelSlots = 1024;
// How long a thread ahead of its siblings leaves new connections to them (see acceptOne()).
constexpr int SitOutMs = 2;
// Accepts between two re-registrations of an exclusive listener by a worker's only thread
// (acceptOne()): nginx's figure (ngx_reorder_accept_events). Each costs two epoll_ctl calls.
constexpr int RotateEvery = 16;
// HTTP/1 exchanges kept pooled past a tick: enough for the exchanges a thread has in flight at
// once on the synchronous path and a burst of async ones, without holding a peak forever.
constexpr size_t MaxPooledExchanges = 64;

} // namespace

// A listening socket in this thread's epoll set. One accept per readiness event (nginx's
// multi_accept off): a thread that is about to run a slow app takes one connection, not every
// one that is waiting, and leaves the rest to threads and workers that are free. Accepting
// until EAGAIN was measured (issue #16): it saves ~3,500 instructions per Connection: close
// request (one event-loop wake-up per batch instead of per connection), but it takes a
// client's new connections before the close it sent earlier is read, so max_connections and
// max_connections_per_ip refused clients within their limits (conformance test_45, test_96).
class ConnectionManager::ListenerHandler final : public Poller::Handler
{
public:
    ListenerHandler(ConnectionManager &manager, Listener listener)
        : m_manager(manager)
        , m_listener(std::move(listener))
    {}
    void onPollEvents(bool readable, bool) override
    {
        if (readable)
            m_manager.acceptOne(m_listener);
    }
    const Listener &listener() const { return m_listener; }

private:
    ConnectionManager &m_manager;
    Listener m_listener;
};

// A connection on a proxy_protocol listener until its PROXY header is in. It takes exactly the
// header's bytes off the socket: it peeks, and consumes only bytes that belong to the header
// (all of them while it is incomplete, else its length), so the client's own first bytes (a
// TLS ClientHello) stay in the socket for the transport. Polling is level-triggered: bytes
// peeked and left would wake it again at once, hence nothing of an incomplete header is left.
class ConnectionManager::ProxyHeaderReader final : public Poller::Handler
{
public:
    ProxyHeaderReader(ConnectionManager &manager, int fd, Listener listener, qint64 deadline)
        : fd(fd)
        , listener(std::move(listener))
        , deadline(deadline)
        , m_manager(manager)
    {}
    void onPollEvents(bool readable, bool) override
    {
        if (readable)
            m_manager.finishProxyHeader(this, read());
    }

    // nullptr: complete (header holds it) or waiting (done false); else why it failed.
    const char *read()
    {
        ProxyHeader sofar = parseProxyHeader(m_bytes);
        const qsizetype target = sofar.version == 2 && sofar.length > 0
                                     ? sofar.length
                                     : qMax(ProxyHeader::MaxV1Bytes, ProxyHeader::V2FixedBytes);
        QByteArray peeked(qMax<qsizetype>(1, target - m_bytes.size()), Qt::Uninitialized);
        ssize_t n = -1;
        do {
            n = ::recv(fd, peeked.data(), size_t(peeked.size()), MSG_PEEK);
        } while (n < 0 && errno == EINTR);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? nullptr : "connection reset";
        if (n == 0)
            return "connection closed before the PROXY protocol header";
        peeked.truncate(n);
        const ProxyHeader h = parseProxyHeader(m_bytes + peeked);
        if (h.status == ProxyHeader::Status::Invalid)
            return h.error;
        const qsizetype take =
            h.status == ProxyHeader::Status::Complete ? h.length - m_bytes.size() : n;
        QByteArray taken(take, Qt::Uninitialized);
        if (take > 0 && ::recv(fd, taken.data(), size_t(take), 0) != take)
            return "connection reset";
        m_bytes += taken;
        if (h.status == ProxyHeader::Status::Complete) {
            header = h;
            done = true;
        }
        return nullptr;
    }

    int fd;
    Listener listener;
    qint64 deadline;
    bool done = false;
    ProxyHeader header;

private:
    ConnectionManager &m_manager;
    QByteArray m_bytes; // the header's bytes so far
};

qint64 ConnectionManager::monotonicNow()
{
    static const QElapsedTimer clock = [] {
        QElapsedTimer t;
        t.start();
        return t;
    }();
    return clock.elapsed();
}

ConnectionManager::ConnectionManager(const EngineSettings &settings,
                                     const Http::RequestRouter *router, Core::ServerContext *server,
                                     const QList<Listener> &listeners)
    : m_settings(settings)
    , m_router(router)
    , m_server(server)
    , m_listeners(listeners)
    , m_timers(TickMs, WheelSlots, monotonicNow())
{
    // The thread's wheel for the timeouts of sockets that code of the thread opens itself (the
    // gateway's upstream connections), on this thread's clock.
    m_timers.setClock([this] { return now(); });
    TimerWheel::setForCurrentThread(&m_timers);
    // One clock read per batch of socket events, however many connections it touches. The
    // connections closed in a batch are deleted once the outermost batch is over: a handler
    // pointer of the batch stays valid to its end.
    m_poller.setTurnHooks(
        [this] {
            ++m_turnDepth;
            m_turnNow = readClock();
        },
        [this] {
            m_turnNow = -1;
            if (--m_turnDepth == 0)
                deleteReleased();
        });
    m_tick.setInterval(TickMs);
    connect(&m_tick, &QTimer::timeout, this, &ConnectionManager::tick);
    // A timer armed for before the tick the thread sleeps until brings the tick back to every
    // TickMs (scheduleTick()).
    m_timers.setWakeHook([this] { m_tick.start(TickMs); });
    m_acceptPause.setSingleShot(true);
    connect(&m_acceptPause, &QTimer::timeout, this, &ConnectionManager::resumeAccepting);
    m_sitOut.setSingleShot(true);
    m_sitOut.setTimerType(Qt::PreciseTimer);
    m_sitOut.setInterval(SitOutMs);
    connect(&m_sitOut, &QTimer::timeout, this, [this] {
        if (!m_acceptPause.isActive())
            resumeAccepting();
    });
}

ConnectionManager::~ConnectionManager()
{
    closeAll();
    // Closed connections wait in m_released; delete them now, while this is still a
    // ConnectionManager: their destructors use it (stats, the exchange pool).
    deleteReleased();
    m_exchangePool.clear();
}

std::unique_ptr<Http1Exchange> ConnectionManager::takeHttp1Exchange()
{
    if (m_exchangePool.empty())
        return std::make_unique<Http1Exchange>(*this);
    std::unique_ptr<Http1Exchange> exchange = std::move(m_exchangePool.back());
    m_exchangePool.pop_back();
    return exchange;
}

void ConnectionManager::giveHttp1Exchange(std::unique_ptr<Http1Exchange> exchange)
{
    exchange->recycle();
    m_exchangePool.push_back(std::move(exchange));
}

void ConnectionManager::deleteReleased()
{
    while (!m_released.empty()) {
        std::vector<Connection *> batch;
        batch.swap(m_released);
        for (Connection *c : batch)
            delete c;
        batch.clear();
        if (m_released.empty()) {
            m_released.swap(batch); // keeps the capacity: no allocation per burst
            break;
        }
    }
}

qint64 ConnectionManager::tickMs() const
{
    return TickMs;
}

const QByteArray &ConnectionManager::serverText(int localPort)
{
    // One port for nearly every connection: no hashing for them.
    if (localPort == m_lastServerPort && m_lastServerText)
        return *m_lastServerText;
    auto it = m_serverTexts.find(localPort);
    if (it == m_serverTexts.end())
        it = m_serverTexts
                 .emplace(localPort, m_settings.serverName + ':' +
                                         (localPort < 0 ? QByteArrayLiteral("unix")
                                                        : QByteArray::number(localPort)))
                 .first;
    m_lastServerPort = localPort;
    m_lastServerText = &it->second;
    return it->second;
}

void ConnectionManager::start()
{
    for (const Listener &listener : std::as_const(m_listeners)) {
        // Responses go out whole in one write, so Nagle can only delay them. Set once on the
        // listening socket: accepted sockets inherit it (no setsockopt per connection). Fails
        // harmlessly on a unix-socket listener.
        const int one = 1;
        ::setsockopt(listener.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        m_listenerHandlers.push_back(std::make_unique<ListenerHandler>(*this, listener));
    }
    // Alone on its listeners (one worker, one thread), a thread would only rotate behind itself.
    const bool alone =
        m_server && m_server->config && m_server->threads == 1 &&
        m_server->config->getInt(QStringLiteral("server"), QStringLiteral("workers")) <= 1;
    m_rotateListeners = m_poller.inDispatcherSet() && !alone;
    // Sibling threads of one worker rotate after every accept, as before: a burst must end up
    // even between them (test_16_threads), and nothing but rotation and the sit-out spreads it.
    m_rotateEvery = m_server && m_server->threads > 1 ? 1 : RotateEvery;
    if (m_server && m_server->config) {
        const qint64 workerTimeoutMs =
            m_server->config
                ->getDuration(QStringLiteral("server"), QStringLiteral("worker_timeout"))
                .count();
        m_idleTickMs = qBound(qint64(TickMs), workerTimeoutMs / 4, qint64(IdleTickMs));
    }
    setAccepting(true);
    m_tick.start();
}

void ConnectionManager::setAccepting(bool on)
{
    if (m_accepting == on)
        return;
    m_accepting = on;
    // EPOLLEXCLUSIVE registrations can't be modified: pausing removes them, resuming adds them.
    for (const auto &handler : m_listenerHandlers) {
        if (on)
            m_poller.addExclusive(handler->listener().fd, handler.get());
        else
            m_poller.remove(handler->listener().fd);
    }
}

bool ConnectionManager::acceptOne(const Listener &listener)
{
    if (m_draining)
        return false;
    int fd = -1;
    sockaddr_storage peer{};
    socklen_t peerLength = 0;
    do {
        peerLength = sizeof(peer);
        fd = ::accept4(listener.fd, reinterpret_cast<sockaddr *>(&peer), &peerLength,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            // Out of descriptors: accept would fail again at once and spin the CPU.
            // Pause accepting briefly; the pending clients wait in the backlog.
            qCWarning(lcAccept) << "accept:" << qt_error_string(errno)
                                << "- pausing accepts for 100 ms";
            setAccepting(false);
            m_acceptPause.start(100);
        }
        return false; // EAGAIN (nothing more, or another thread took it) or a transient error
    }
    if (!acquireConnectionSlot()) {
        refuseOverLimit(fd, listener);
        return true;
    }
    // The PROXY header names the client only later, and the socket's peer is the proxy.
    if (!listener.proxyProtocol && !acquirePerIp(fd, reinterpret_cast<sockaddr *>(&peer))) {
        releaseConnectionSlot();
        refuseOverLimit(fd, listener);
        return true;
    }
    if (listener.proxyProtocol) {
        // The header must be complete within header_timeout, like a request head.
        auto reader = std::make_unique<ProxyHeaderReader>(*this, fd, listener,
                                                          now() + m_settings.headerTimeoutMs);
        if (!m_poller.add(fd, reader.get(), true, false)) {
            ::close(fd);
            releaseConnectionSlot();
            return true;
        }
        m_proxyReaders.push_back(std::move(reader));
        if (m_timers.isAsleep()) {
            // Its deadline is checked by the tick, which must not sleep past it.
            m_timers.stayAwake();
            m_tick.start(TickMs);
        }
        return true;
    }
    // The connection takes the peer address from here instead of asking the socket again.
    std::memcpy(&m_acceptedPeer, &peer, sizeof(peer));
    m_acceptedLocal = fixedLocalAddress(listener.fd);
    m_acceptedFd = fd;
    if (listener.http2) {
        startConnection(fd, listener, nullptr); // nothing beyond the socket to remember
    } else {
        // Built only when needed: its two QHostAddress allocate even when empty.
        ConnectionOrigin origin;
        origin.http2 = false;
        startConnection(fd, listener, &origin);
    }
    m_acceptedFd = -1;
    // The listening sockets are shared by the threads and workers with EPOLLEXCLUSIVE. Under
    // Qt's dispatcher (BERTH_EVENT_DISPATCHER=qt) each thread's epoll set is itself polled from
    // Qt's loop, so the exclusive wake-up picks nobody: every thread of every worker is woken
    // and the one already running wins the accept(). Under the EpollDispatcher a thread sleeps
    // in the very set that holds the listener and the kernel wakes one waiting thread: the first
    // in the listener's wait queue, so the same thread of the same worker for every connection
    // while it is back waiting first (40 connections one after the other all went to one
    // worker; test_81_ws_chat). Registering again puts this thread at the end of the queue: the
    // next connection wakes another waiter. A worker's only thread does so every RotateEvery
    // accepts, as nginx does, not after each: two epoll_ctl calls per connection were a tenth
    // of a short connection's system calls. Threads of one worker still rotate after each
    // accept (start()).
    // Either way a thread clearly ahead of a running sibling stops accepting for SitOutMs,
    // leaving the next connections to the others; short, so that a burst ends up even (both may
    // sit out at once: for 2 ms at most).
    if (aheadOfSibling()) {
        setAccepting(false);
        m_sitOut.start();
    } else if (m_rotateListeners && ++m_acceptsSinceRotation >= m_rotateEvery) {
        m_acceptsSinceRotation = 0;
        rotateListener(listener.fd);
    }
    return true;
}

void ConnectionManager::rotateListener(int fd)
{
    for (const auto &handler : m_listenerHandlers) {
        if (handler->listener().fd == fd) {
            m_poller.remove(fd);
            m_poller.addExclusive(fd, handler.get());
            return;
        }
    }
}

const SocketAddress *ConnectionManager::fixedLocalAddress(int listenerFd)
{
    for (const ListenerAddress &a : m_listenerAddresses) {
        if (a.fd == listenerFd)
            return a.fixed ? &a.local : nullptr;
    }
    ListenerAddress a;
    a.fd = listenerFd;
    a.fixed = SocketAddress::fixedForListener(listenerFd, &a.local);
    // The pointer returned is used for the accept in progress only (a later push may move it).
    m_listenerAddresses.push_back(a);
    const ListenerAddress &added = m_listenerAddresses.back();
    return added.fixed ? &added.local : nullptr;
}

bool ConnectionManager::aheadOfSibling() const
{
    const Core::BoundThread &me = Core::t_boundThread;
    if (!me.worker || !m_server || !m_server->stats || m_server->stats->workerSlot() != me.worker)
        return false;
    constexpr int Active = Core::StatsRegistry::ActiveConnections;
    const qint64 mine = me.thread->counters[Active].load(std::memory_order_relaxed);
    const qint64 now = Core::monotonicMs();
    const int threads = me.worker->threadCount.load(std::memory_order_relaxed);
    for (int t = 0; t < threads; ++t) {
        const Core::ThreadSlot *other = me.worker->thread(t);
        if (other == me.thread)
            continue;
        // A thread that never started, or is stuck in an app, takes no connection: don't wait
        // for it.
        // An idle sibling beats only every m_idleTickMs (scheduleTick()); one in an app beats
        // not at all, but says since when it runs the request.
        const qint64 beat = other->heartbeatMs.load(std::memory_order_relaxed);
        const qint64 busySince = other->requestStartedMs.load(std::memory_order_relaxed);
        if (beat <= 0 || now - beat > 3 * m_idleTickMs ||
            (busySince > 0 && now - busySince > 3 * TickMs))
            continue;
        const qint64 theirs = other->counters[Active].load(std::memory_order_relaxed);
        if (mine > theirs + qMax<qint64>(2, theirs / 8))
            return true;
    }
    return false;
}

void ConnectionManager::startConnection(int fd, const Listener &listener,
                                        const ConnectionOrigin *origin)
{
    // Only what differs from the socket's own story is kept (no hash entry per plain accept).
    if (origin && (origin->proxied || !origin->http2))
        m_origins.insert(fd, *origin);
    std::unique_ptr<Transport> transport;
    if (listener.transport)
        transport = listener.transport->create(fd);
    auto *connection = new Http1Connection(*this, fd, m_nextConnectionId++, std::move(transport));
    if (!m_acceptedIpKey.isNull())
        m_ipKeys.insert(connection, std::exchange(m_acceptedIpKey, QByteArray()));
    track(connection);
    connection->start();
}

void ConnectionManager::finishProxyHeader(ProxyHeaderReader *reader, const char *error)
{
    if (!error && !reader->done)
        return; // more to come
    const auto it = std::find_if(m_proxyReaders.begin(), m_proxyReaders.end(),
                                 [reader](const auto &r) { return r.get() == reader; });
    if (it == m_proxyReaders.end())
        return;
    // Deleted on the next tick: this may run inside the reader's own poll callback.
    m_finishedReaders.push_back(std::move(*it));
    m_proxyReaders.erase(it);
    m_poller.remove(reader->fd);
    if (error) {
        // A listener marked proxy_protocol is only for the proxy: anything else (a client that
        // reached it directly, a misconfigured proxy) is refused, and the operator hears of it.
        Http::Request request;
        sockaddr_storage addr{};
        socklen_t len = sizeof(addr);
        if (::getpeername(reader->fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0 &&
            addr.ss_family != AF_UNIX)
            request.peerAddress = QHostAddress(reinterpret_cast<sockaddr *>(&addr));
        Log::logCef(QStringLiteral("PROXY protocol failure"), 5, &request, QString(),
                    QStringLiteral("ProxyProtocol"),
                    {{QStringLiteral("msg"), QString::fromLatin1(error)}});
        qCDebug(lcAccept) << "closing a connection on a proxy_protocol listener:" << error;
        ::close(reader->fd);
        releaseConnectionSlot();
        return;
    }
    ConnectionOrigin origin;
    origin.http2 = reader->listener.http2;
    const ProxyHeader &h = reader->header;
    if (h.hasAddresses) {
        origin.proxied = true;
        origin.peerAddress = h.source;
        origin.peerPort = h.sourcePort;
        origin.localAddress = h.destination;
        origin.localPort = h.destinationPort;
    }
    origin.ssl = h.ssl;
    origin.proxied = origin.proxied || h.ssl;
    if (origin.proxied && !h.hasAddresses) {
        // SSL TLV without addresses (LOCAL): the socket's own addresses stay.
        sockaddr_storage addr{};
        socklen_t len = sizeof(addr);
        if (::getpeername(reader->fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0 &&
            addr.ss_family != AF_UNIX) {
            origin.peerAddress = QHostAddress(reinterpret_cast<sockaddr *>(&addr));
            origin.peerPort = ntohs(addr.ss_family == AF_INET6
                                        ? reinterpret_cast<sockaddr_in6 *>(&addr)->sin6_port
                                        : reinterpret_cast<sockaddr_in *>(&addr)->sin_port);
        }
    }
    startConnection(reader->fd, reader->listener, &origin);
}

void ConnectionManager::resumeAccepting()
{
    if (!m_draining)
        setAccepting(true);
}

void ConnectionManager::adopt(Connection *connection)
{
    acquireConnectionSlot(); // released with the connection, like an accepted one
    track(connection);
    connection->start();
}

void ConnectionManager::track(Connection *connection)
{
    connection->m_managerIndex = qsizetype(m_connections.size());
    m_connections.push_back(connection);
}

bool ConnectionManager::untrack(Connection *connection)
{
    // O(1): each connection knows its place (a find over 10,000 connections per close was not).
    const qsizetype i = connection->m_managerIndex;
    if (i < 0 || i >= qsizetype(m_connections.size()) || m_connections[size_t(i)] != connection)
        return false;
    Connection *last = m_connections.back();
    m_connections[size_t(i)] = last;
    last->m_managerIndex = i;
    m_connections.pop_back();
    connection->m_managerIndex = -1;
    return true;
}

void ConnectionManager::replace(Connection *old, Connection *next)
{
    forgetPostedRead(old);
    const qsizetype i = old->m_managerIndex;
    if (i >= 0 && i < qsizetype(m_connections.size()) && m_connections[size_t(i)] == old) {
        m_connections[size_t(i)] = next;
        next->m_managerIndex = i;
        old->m_managerIndex = -1;
    }
    if (const auto key = m_ipKeys.constFind(old); key != m_ipKeys.cend()) {
        m_ipKeys.insert(next, *key);
        m_ipKeys.remove(old);
    }
    TimerWheel::disarm(*old);
    m_released.push_back(old);
    next->start();
}

void ConnectionManager::postRead(Connection *connection)
{
    if (m_postedReads.empty())
        m_poller.deferToTurnEnd(&ConnectionManager::runPostedReads, this);
    m_postedReads.push_back(connection);
}

void ConnectionManager::runPostedReads(void *manager)
{
    auto *self = static_cast<ConnectionManager *>(manager);
    std::vector<Connection *> posted;
    posted.swap(self->m_postedReads);
    // As a batch of socket events: a connection these reads close is deleted only after them.
    ++self->m_turnDepth;
    for (Connection *c : posted) {
        if (!c->m_readPosted)
            continue; // released by an earlier one of these reads
        c->m_readPosted = false;
        c->onPostedRead();
    }
    if (--self->m_turnDepth == 0)
        self->deleteReleased();
}

void ConnectionManager::forgetPostedRead(Connection *connection)
{
    // It is deleted when the turn ends, perhaps before the posted reads run.
    if (connection->m_readPosted) {
        std::erase(m_postedReads, connection);
        connection->m_readPosted = false;
    }
}

void ConnectionManager::release(Connection *connection)
{
    forgetPostedRead(connection);
    if (untrack(connection)) {
        releaseConnectionSlot();
        releasePerIp(connection);
    }
    TimerWheel::disarm(*connection);
    m_released.push_back(connection);
    if (m_draining && m_connections.empty())
        Q_EMIT drained();
}

void ConnectionManager::tick()
{
    // Proof of life for the master's watchdog: a thread stuck in an app stops beating.
    Core::ThreadHealth::beat();
    m_timers.stayAwake(); // what the timers fired below arm is this tick's to schedule
    const qint64 t = readClock();
    m_turnNow = t;
    if (m_turnDepth == 0) {
        deleteReleased();
        if (m_exchangePool.size() > MaxPooledExchanges)
            m_exchangePool.resize(MaxPooledExchanges);
    }
    m_finishedReaders.clear();
    std::vector<ProxyHeaderReader *> late;
    for (const auto &reader : m_proxyReaders) {
        if (t >= reader->deadline)
            late.push_back(reader.get());
    }
    for (ProxyHeaderReader *reader : late)
        finishProxyHeader(reader, "no complete PROXY protocol header within header_timeout");
    // Only the connections whose next check is due: none at all, most ticks, for idle ones.
    m_timers.advance(t);
    m_turnNow = -1;
    scheduleTick(t);
}

void ConnectionManager::scheduleTick(qint64 now)
{
    // Every TickMs while a timer is due within the idle tick (an exchange in flight is checked
    // every tick) or a PROXY header is awaited; else the thread sleeps until the next deadline,
    // or the idle tick's heartbeat, whichever comes first: an idle server wakes once a second,
    // not ten times. An injected clock (tests) always ticks: its time need not pass with ours.
    qint64 delay = TickMs;
    if (!m_clock && m_proxyReaders.empty())
        delay =
            qBound(qint64(TickMs), m_timers.nextDeadline(now + m_idleTickMs) - now, m_idleTickMs);
    if (delay > TickMs) {
        m_timers.sleepUntil(now + delay);
        m_tick.start(int(delay));
    } else if (m_tick.interval() != TickMs) {
        m_tick.start(TickMs);
    }
}

void ConnectionManager::beginDrain()
{
    if (m_draining)
        return;
    m_draining = true;
    setAccepting(false);
    closeProxyReaders(); // no request in flight yet: like idle connections
    const std::vector<Connection *> connections = m_connections;
    for (Connection *c : connections) {
        c->drain();
        c->scheduleCheck(); // a draining connection's deadlines (graceful_timeout) are near
    }
    if (m_connections.empty())
        Q_EMIT drained();
}

void ConnectionManager::closeProxyReaders()
{
    for (const auto &reader : m_proxyReaders) {
        m_poller.remove(reader->fd);
        ::close(reader->fd);
        releaseConnectionSlot();
    }
    m_proxyReaders.clear();
}

void ConnectionManager::closeAll()
{
    closeProxyReaders();
    const std::vector<Connection *> connections = m_connections;
    for (Connection *c : connections)
        c->closeNow();
}

} // namespace Berth::Engine
