#include "socketloop.h"

#include "engine/transport.h"
#include "streamconnection.h"

#include <QHostAddress>
#include <QLoggingCategory>

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcSocketApps, "berth.socketapps")

namespace Berth::Services {

namespace {

constexpr int SweepIntervalMs = 250;  // idle and send timeouts are checked this often
constexpr int DatagramsPerEvent = 64; // then other sockets of the thread get their turn
constexpr int AcceptsPerEvent = 16;
constexpr qsizetype DatagramBuffer = 65536;

void describePeer(const sockaddr_storage &addr, QString *address, quint16 *port)
{
    QHostAddress host(reinterpret_cast<const sockaddr *>(&addr));
    if (host.protocol() == QAbstractSocket::IPv6Protocol) {
        bool ipv4 = false;
        const quint32 v4 = host.toIPv4Address(&ipv4);
        if (ipv4)
            host = QHostAddress(v4);
    }
    *address = host.toString();
    *port = addr.ss_family == AF_INET6
                ? ntohs(reinterpret_cast<const sockaddr_in6 *>(&addr)->sin6_port)
                : ntohs(reinterpret_cast<const sockaddr_in *>(&addr)->sin_port);
}

} // namespace

class SocketLoop::UdpReply final : public SocketApps::DatagramSocket
{
public:
    explicit UdpReply(int fd)
        : m_fd(fd)
    {}
    bool sendTo(QByteArrayView data, const SocketApps::DatagramPeer &peer) override
    {
        const ssize_t n = ::sendto(m_fd, data.data(), size_t(data.size()), MSG_DONTWAIT,
                                   reinterpret_cast<const sockaddr *>(peer.sockaddr.constData()),
                                   socklen_t(peer.sockaddr.size()));
        return n == data.size();
    }

private:
    int m_fd;
};

SocketLoop::SocketLoop(SocketAppShared &shared, int threadIndex)
    : m_shared(shared)
    , m_threadIndex(threadIndex)
{
    m_clock.start();
}

SocketLoop::~SocketLoop()
{
    for (StreamConnection *c : std::as_const(m_connections))
        c->terminate();
    reap();
}

bool SocketLoop::buildApp(QString *error)
{
    m_setup.reset(new SocketApps::SocketAppSetup{
        *m_shared.config, m_shared.settings.section, m_shared.settings.name,
        SocketApps::AppStats(m_shared.stats, m_shared.settings.section)});
    if (m_shared.settings.datagram) {
        if (m_shared.datagramFactory)
            m_datagramApp = (*m_shared.datagramFactory)(*m_setup);
        if (!m_datagramApp)
            *error = QStringLiteral("[%1] call: %2 is not a UDP app")
                         .arg(m_shared.settings.section, m_shared.settings.call);
        return bool(m_datagramApp);
    }
    if (m_shared.streamFactory)
        m_streamApp = (*m_shared.streamFactory)(*m_setup);
    if (!m_streamApp)
        *error = QStringLiteral("[%1] call: %2 is not a TCP app")
                     .arg(m_shared.settings.section, m_shared.settings.call);
    return bool(m_streamApp);
}

void SocketLoop::start()
{
    m_poller = new Engine::Poller(this);
    m_sweep = new QTimer(this);
    connect(m_sweep, &QTimer::timeout, this, &SocketLoop::checkTimeouts);
    if (!m_shared.settings.datagram)
        m_sweep->start(SweepIntervalMs);
    if (m_shared.settings.datagram) {
        m_udpReply = std::make_unique<UdpReply>(m_shared.socketFd);
        m_datagramBuffer.resize(DatagramBuffer + 1);
    }
    m_listening = m_poller->addExclusive(m_shared.socketFd, this);
    if (!m_listening)
        qCCritical(lcSocketApps).noquote() << m_shared.settings.section << "thread" << m_threadIndex
                                           << "cannot watch its socket:" << qt_error_string(errno);
    Q_EMIT listening();
}

void SocketLoop::onPollEvents(bool readable, bool)
{
    if (!readable || !m_listening)
        return;
    if (m_shared.settings.datagram)
        readDatagrams();
    else
        acceptOne();
    // In the EpollDispatcher's set the exclusive wake-up always picks the first waiter in the
    // socket's queue: registering again moves this loop to its end, so the next wake-up goes to
    // another waiting loop (round robin over the threads and workers; see ConnectionManager).
    if (m_listening && m_poller->inDispatcherSet() &&
        m_shared.settings.workers * m_shared.settings.threads > 1) {
        m_poller->remove(m_shared.socketFd);
        m_listening = m_poller->addExclusive(m_shared.socketFd, this);
    }
}

void SocketLoop::acceptOne()
{
    const SocketAppSettings &settings = m_shared.settings;
    for (int i = 0; i < AcceptsPerEvent; ++i) {
        sockaddr_storage addr{};
        socklen_t length = sizeof(addr);
        const int fd = ::accept4(m_shared.socketFd, reinterpret_cast<sockaddr *>(&addr), &length,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; // EAGAIN (another thread or process took it), or a transient error
        QString address;
        quint16 port = 0;
        describePeer(addr, &address, &port);
        const int open = m_shared.connections.fetch_add(1, std::memory_order_relaxed);
        if (settings.maxConnections > 0 && open >= settings.maxConnections) {
            m_shared.connections.fetch_sub(1, std::memory_order_relaxed);
            ::close(fd);
            countStat(m_shared.refusedStat);
            // One line per second at most: a flood must not flood the log too.
            ++m_refusalsSinceLog;
            if (nowMs() - m_lastRefusalLogMs >= 1000) {
                qCWarning(lcSocketApps).noquote()
                    << QStringLiteral("[%1] max_connections (%2) reached: closed %3 "
                                      "connection(s), the last from %4")
                           .arg(settings.section)
                           .arg(settings.maxConnections)
                           .arg(m_refusalsSinceLog)
                           .arg(address);
                m_refusalsSinceLog = 0;
                m_lastRefusalLogMs = nowMs();
            }
            continue;
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        std::unique_ptr<Engine::Transport> transport =
            m_shared.tls ? m_shared.tls->create(fd) : std::make_unique<Engine::PlainTransport>(fd);
        auto *connection = new StreamConnection(*this, fd, std::move(transport), address, port);
        m_connections.insert(connection);
        m_shared.stats->add(m_shared.activeStat);
        connection->open();
    }
}

void SocketLoop::readDatagrams()
{
    const int max = m_shared.settings.maxDatagramBytes;
    for (int i = 0; i < DatagramsPerEvent; ++i) {
        sockaddr_storage addr{};
        socklen_t length = sizeof(addr);
        // MSG_TRUNC: the datagram's real length, so an oversize one is recognised, not cut.
        const ssize_t n =
            ::recvfrom(m_shared.socketFd, m_datagramBuffer.data(), size_t(m_datagramBuffer.size()),
                       MSG_DONTWAIT | MSG_TRUNC, reinterpret_cast<sockaddr *>(&addr), &length);
        if (n < 0)
            return;
        if (n > max) {
            countStat(m_shared.droppedStat);
            continue;
        }
        SocketApps::DatagramPeer peer;
        describePeer(addr, &peer.address, &peer.port);
        peer.sockaddr = QByteArray(reinterpret_cast<const char *>(&addr), qsizetype(length));
        const QByteArrayView data(m_datagramBuffer.constData(), qsizetype(n));
        callApp([&] { m_datagramApp->onDatagram(data, peer, *m_udpReply); });
    }
}

void SocketLoop::appFailed(const char *what)
{
    countStat(m_shared.appErrorsStat);
    qCWarning(lcSocketApps).noquote()
        << QStringLiteral("[%1] %2 threw (%3); replaced by a fresh instance")
               .arg(m_shared.settings.section, m_shared.settings.call, QString::fromUtf8(what));
    // brim: "an app that throws is replaced by a fresh instance". Sessions of the old one keep
    // it alive until they end. A factory that throws now keeps the old instance.
    try {
        if (m_shared.settings.datagram) {
            if (auto fresh = (*m_shared.datagramFactory)(*m_setup))
                m_datagramApp = std::move(fresh);
        } else if (auto fresh = (*m_shared.streamFactory)(*m_setup)) {
            m_streamApp = std::shared_ptr<SocketApps::StreamApp>(std::move(fresh));
        }
    } catch (...) {
        qCWarning(lcSocketApps).noquote()
            << m_shared.settings.section << "cannot build a fresh instance; keeping the old one";
    }
}

void SocketLoop::postRead(StreamConnection *connection)
{
    if (connection->m_readPosted || connection->isClosed())
        return;
    connection->m_readPosted = true;
    if (m_postedReads.empty())
        m_poller->deferToTurnEnd(&SocketLoop::runPostedReads, this);
    m_postedReads.push_back(connection);
}

void SocketLoop::runPostedReads(void *loop)
{
    auto *self = static_cast<SocketLoop *>(loop);
    const std::vector<StreamConnection *> posted = std::exchange(self->m_postedReads, {});
    for (StreamConnection *c : posted) {
        if (!c->m_readPosted)
            continue; // closed by an earlier one of these reads
        c->m_readPosted = false;
        c->onPostedRead();
    }
}

void SocketLoop::connectionClosed(StreamConnection *connection)
{
    if (connection->m_readPosted) {
        std::erase(m_postedReads, connection);
        connection->m_readPosted = false;
    }
    if (m_connections.erase(connection) == 0)
        return;
    m_shared.connections.fetch_sub(1, std::memory_order_relaxed);
    m_shared.stats->add(m_shared.activeStat, -1);
    m_closed.append(connection);
    // Deleted once the poll batch is over: its pointer may still be in the batch.
    QMetaObject::invokeMethod(this, &SocketLoop::reap, Qt::QueuedConnection);
}

void SocketLoop::reap()
{
    const QList<StreamConnection *> closed = std::exchange(m_closed, {});
    qDeleteAll(closed);
    checkDrained();
}

void SocketLoop::checkTimeouts()
{
    const qint64 now = nowMs();
    const std::vector<StreamConnection *> all(m_connections.begin(), m_connections.end());
    for (StreamConnection *c : all)
        c->checkTimers(now);
}

void SocketLoop::beginDrain()
{
    m_draining = true;
    if (m_listening && m_poller) {
        m_poller->remove(m_shared.socketFd);
        m_listening = false;
    }
    checkDrained();
}

void SocketLoop::closeAll()
{
    m_draining = true;
    if (m_listening && m_poller) {
        m_poller->remove(m_shared.socketFd);
        m_listening = false;
    }
    const std::vector<StreamConnection *> all(m_connections.begin(), m_connections.end());
    for (StreamConnection *c : all)
        c->terminate();
    reap();
}

void SocketLoop::shutdown()
{
    m_drainedEmitted = true; // no signal from a loop being torn down
    closeAll();
    delete m_sweep;
    m_sweep = nullptr;
    delete m_poller;
    m_poller = nullptr;
}

void SocketLoop::checkDrained()
{
    if (m_draining && !m_drainedEmitted && m_connections.empty() && m_closed.isEmpty()) {
        m_drainedEmitted = true;
        Q_EMIT drained();
    }
}

} // namespace Berth::Services
