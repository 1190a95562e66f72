#include "connectionmanager.h"

#include "http1connection.h"
#include "runtime/servercontext.h"
#include "runtime/workerhealth.h"
#include "transport.h"

#include <QElapsedTimer>
#include <QLoggingCategory>
#include <QRandomGenerator>
#include <QSocketNotifier>

#include <algorithm>
#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcAccept, "berth.engine")

namespace Berth::Engine {

namespace {

constexpr int TickMs = 100;
constexpr int AcceptBurst = 64;

QByteArray processTxnPrefix()
{
    static const QByteArray prefix =
        QByteArray::number(QRandomGenerator::system()->generate(), 16).rightJustified(8, '0');
    return prefix;
}

std::atomic<quint64> &txnCounter()
{
    static std::atomic<quint64> counter{0};
    return counter;
}

} // namespace

std::atomic<int> &ConnectionManager::activeConnections()
{
    static std::atomic<int> count{0};
    return count;
}

qint64 ConnectionManager::now()
{
    static const QElapsedTimer clock = [] {
        QElapsedTimer t;
        t.start();
        return t;
    }();
    return clock.elapsed();
}

ConnectionManager::ConnectionManager(const EngineSettings &settings, Pipeline::Router *router,
                                     Core::ServerContext *server, const QList<Listener> &listeners)
    : m_settings(settings)
    , m_router(router)
    , m_server(server)
    , m_listeners(listeners)
{
    m_tick.setInterval(TickMs);
    connect(&m_tick, &QTimer::timeout, this, &ConnectionManager::tick);
    m_acceptPause.setSingleShot(true);
    connect(&m_acceptPause, &QTimer::timeout, this, &ConnectionManager::resumeAccepting);
}

ConnectionManager::~ConnectionManager()
{
    closeAll();
}

void ConnectionManager::start()
{
    for (const Listener &listener : std::as_const(m_listeners)) {
        auto *notifier = new QSocketNotifier(listener.fd, QSocketNotifier::Read, this);
        connect(notifier, &QSocketNotifier::activated, this,
                [this, listener] { acceptReady(listener); });
        m_acceptNotifiers.append(notifier);
    }
    m_tick.start();
}

QByteArray ConnectionManager::nextTxnId()
{
    const quint64 n = txnCounter().fetch_add(1, std::memory_order_relaxed) + 1;
    QByteArray id = processTxnPrefix();
    id += '-';
    id += QByteArray::number(n, 16);
    return id;
}

void ConnectionManager::acceptReady(const Listener &listener)
{
    const int listenFd = listener.fd;
    for (int i = 0; i < AcceptBurst && !m_draining; ++i) {
        const int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of descriptors: accept would fail again at once and spin the CPU.
                // Pause accepting briefly; the pending clients wait in the backlog.
                qCWarning(lcAccept)
                    << "accept:" << qt_error_string(errno) << "- pausing accepts for 100 ms";
                for (QSocketNotifier *n : std::as_const(m_acceptNotifiers))
                    n->setEnabled(false);
                m_acceptPause.start(100);
            }
            return; // EAGAIN (another thread took it) or a transient error
        }
        if (!hasRoomForConnection()) {
            // Full: tell the client plainly and close; existing connections keep working.
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 24\r\n"
                                       "Connection: close\r\n\r\n503 Service Unavailable\n";
            [[maybe_unused]] ssize_t n = ::send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
            ::close(fd);
            continue;
        }
        activeConnections().fetch_add(1, std::memory_order_relaxed);
        std::unique_ptr<Transport> transport;
        if (listener.transport)
            transport = listener.transport->create(fd);
        auto *connection =
            new Http1Connection(*this, fd, m_nextConnectionId++, std::move(transport));
        m_connections.push_back(connection);
        connection->start();
    }
}

bool ConnectionManager::hasRoomForConnection() const
{
    // At the limit the newcomer is refused: evicting idle keep-alive clients instead would let
    // a flood of new connections push out every existing one (HOSTILE-INPUTS case 25).
    return activeConnections().load(std::memory_order_relaxed) < m_settings.maxConnections;
}

void ConnectionManager::resumeAccepting()
{
    if (m_draining)
        return;
    for (QSocketNotifier *n : std::as_const(m_acceptNotifiers))
        n->setEnabled(true);
}

void ConnectionManager::release(Http1Connection *connection)
{
    const auto it = std::find(m_connections.begin(), m_connections.end(), connection);
    if (it != m_connections.end()) {
        *it = m_connections.back();
        m_connections.pop_back();
        activeConnections().fetch_sub(1, std::memory_order_relaxed);
    }
    connection->deleteLater();
    if (m_draining && m_connections.empty())
        Q_EMIT drained();
}

void ConnectionManager::tick()
{
    // Proof of life for the master's watchdog: a thread stuck in an app stops beating.
    Core::ThreadHealth::beat();
    const qint64 t = now();
    // Copy: a timeout closes a connection, which removes it from m_connections.
    const std::vector<Http1Connection *> connections = m_connections;
    for (Http1Connection *c : connections)
        c->checkTimeouts(t);
}

void ConnectionManager::beginDrain()
{
    if (m_draining)
        return;
    m_draining = true;
    for (QSocketNotifier *n : std::as_const(m_acceptNotifiers))
        n->setEnabled(false);
    const std::vector<Http1Connection *> connections = m_connections;
    for (Http1Connection *c : connections)
        c->drain();
    if (m_connections.empty())
        Q_EMIT drained();
}

void ConnectionManager::closeAll()
{
    const std::vector<Http1Connection *> connections = m_connections;
    for (Http1Connection *c : connections)
        c->closeNow();
}

} // namespace Berth::Engine
