// The connection limits of the accept path: max_connections (across the workers through shared
// memory, or this process's count), max_connections_per_ip, and the answer a client over a
// limit gets (a 503 and a request.log line, or a close).
#include "connectionmanager.h"

#include "http/httpdate.h"
#include "http/request.h"
#include "log/cef.h"
#include "log/logging.h"
#include "log/logsink.h"
#include "log/requestlogline.h"
#include "peripconnections.h"
#include "runtime/servercontext.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"
#include "transport.h"

#include <QDateTime>
#include <QHostAddress>
#include <QLoggingCategory>

#include <atomic>
#include <cerrno>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

Q_DECLARE_LOGGING_CATEGORY(lcAccept)

namespace Berth::Engine {

namespace {

// Open connections of this process, for max_connections when no shared memory is attached.
std::atomic<int> &processConnections()
{
    static std::atomic<int> count{0};
    return count;
}

// "address:port" of a socket's peer or local end, for the refusal's request.log line.
QByteArray addressText(int fd, bool peer)
{
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    auto *sa = reinterpret_cast<sockaddr *>(&addr);
    if ((peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len)) != 0)
        return QByteArrayLiteral("-:0");
    if (addr.ss_family == AF_UNIX)
        return peer ? QByteArrayLiteral("unix:") : QByteArrayLiteral(":unix");
    const quint16 port =
        ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&addr)->sin6_port
                                         : reinterpret_cast<sockaddr_in *>(&addr)->sin_port);
    return QHostAddress(sa).toString().toLatin1() + ':' + QByteArray::number(port);
}

} // namespace

bool ConnectionManager::acquireConnectionSlot()
{
    // At the limit the newcomer is refused: evicting idle keep-alive clients instead would let
    // a flood of new connections push out every existing one (HOSTILE-INPUTS case 25).
    Core::StatsRegistry *stats = m_server ? m_server->stats : nullptr;
    if (stats && stats->shared())
        return stats->shared()->acquireConnection(stats->slotIndex(), m_settings.maxConnections);
    if (processConnections().fetch_add(1, std::memory_order_relaxed) >= m_settings.maxConnections) {
        processConnections().fetch_sub(1, std::memory_order_relaxed);
        return false;
    }
    return true;
}

bool ConnectionManager::acquirePerIp(int fd, const sockaddr *peer)
{
    m_acceptedIpKey = QByteArray();
    const int limit = m_settings.maxConnectionsPerIp;
    if (limit <= 0 || (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
        return true;
    const QHostAddress address(peer);
    if (m_settings.trustedProxies.contains(address))
        return true; // a proxy carries many clients: its requests name them, not its socket
    bool v4 = false;
    const quint32 mapped = address.toIPv4Address(&v4); // ::ffff:a.b.c.d counts as a.b.c.d
    const QByteArray key = v4 ? QByteArray::number(mapped) : address.toString().toLatin1();
    bool logNow = false;
    if (PerIpConnections::process().acquire(key, limit, &logNow)) {
        m_acceptedIpKey = key;
        return true;
    }
    Core::StatsRegistry *stats = m_server ? m_server->stats : nullptr;
    if (stats)
        stats->add(m_settings.perIpRefusedStat);
    if (logNow) {
        // Once per address and minute per worker: a client hammering the limit is one line.
        Http::Request request;
        request.peerAddress = address;
        Log::logCef(QStringLiteral("Connection limit per address reached"), 4, &request, QString(),
                    QStringLiteral("ConnLimitPerIp"),
                    {{QStringLiteral("msg"),
                      QStringLiteral("max_connections_per_ip (%1) reached; further connections "
                                     "refused (logged once a minute per address)")
                          .arg(limit)}});
        qCWarning(lcAccept).noquote()
            << QStringLiteral("max_connections_per_ip (%1) reached for %2: refusing its new "
                              "connections (logged once a minute per address)")
                   .arg(limit)
                   .arg(address.toString());
    }
    (void)fd;
    return false;
}

void ConnectionManager::releasePerIp(const Connection *connection)
{
    const auto it = m_ipKeys.constFind(connection);
    if (it == m_ipKeys.cend())
        return;
    PerIpConnections::process().release(*it);
    m_ipKeys.erase(it);
}

void ConnectionManager::releaseConnectionSlot()
{
    Core::StatsRegistry *stats = m_server ? m_server->stats : nullptr;
    if (stats && stats->shared())
        stats->shared()->releaseConnection(stats->slotIndex());
    else
        processConnections().fetch_sub(1, std::memory_order_relaxed);
}

void ConnectionManager::refuseOverLimit(int fd, const Listener &listener)
{
    // Full: answer at once without reading the request and close; existing connections keep
    // working. The refusal is a response like any other: Date, Server, a transaction id, a
    // request.log line and the stats. On a TLS listener plaintext would be garbage inside the
    // TLS stream, and a handshake is the most expensive thing to spend on a client we can't
    // serve while overloaded, so the connection is closed without a byte (docs/http.md).
    const QByteArray txn = nextTxnId();
    const quint64 id = m_nextConnectionId++;
    qint64 sent = 0;
    if (!listener.transport) {
        QByteArray out = QByteArrayLiteral("HTTP/1.1 503 Service Unavailable\r\nServer: berth\r\n"
                                           "Date: ");
        out += Http::DateCache::now();
        out += "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 24\r\n"
               "Connection: close\r\nX-Berth-Txn: ";
        out += txn;
        out += "\r\n\r\n503 Service Unavailable\n";
        const ssize_t n = ::send(fd, out.constData(), size_t(out.size()), MSG_NOSIGNAL);
        sent = n > 0 ? n : 0;
    }
    if (Core::StatsRegistry *stats = m_server ? m_server->stats : nullptr)
        stats->recordRequest(503, 0, 0, sent);
    if (Log::LogSink *sink = Log::Logging::requestLog()) {
        const QByteArray client = addressText(fd, true);
        const QByteArray local = addressText(fd, false);
        const QByteArray server =
            m_settings.serverName + local.mid(local.lastIndexOf(':')); // "name:port"
        const QByteArray localTxn = "C" + QByteArray::number(id) + "-R1";
        Log::RequestLogRecord record;
        record.startedAtMsecs = QDateTime::currentMSecsSinceEpoch();
        record.client = client;
        record.server = server;
        record.status = 503;
        record.bytesSent = sent;
        record.globalTxn = txn;
        record.localTxn = localTxn;
        QByteArray line;
        const Log::LogOptions &options = Log::Logging::options();
        Log::appendRequestLogLine(line, record, options.requestFormat, options.time);
        sink->append(line);
    }
    ::close(fd);
}

} // namespace Berth::Engine
