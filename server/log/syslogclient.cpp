#include "syslogclient.h"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace Berth::Log {

SyslogClient::SyslogClient(QByteArray socketPath, QByteArray ident)
    : m_path(std::move(socketPath))
    , m_ident(std::move(ident))
{
    std::lock_guard lock(m_mutex);
    connectLocked();
}

SyslogClient::~SyslogClient()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

bool SyslogClient::connectLocked()
{
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0)
        return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (size_t(m_path.size()) >= sizeof address.sun_path)
        return false;
    std::memcpy(address.sun_path, m_path.constData(), size_t(m_path.size()));
    // Not connected now (no daemon yet) is fine: send() tries again.
    return ::connect(m_fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) == 0;
}

void SyslogClient::send(int priority, QByteArrayView message)
{
    const QByteArray datagram =
        format(priority, m_ident, ::getpid(), qint64(std::time(nullptr)) * 1000, message);
    std::lock_guard lock(m_mutex);
    if (m_fd >= 0 && ::send(m_fd, datagram.constData(), size_t(datagram.size()), MSG_NOSIGNAL) >= 0)
        return;
    // The daemon restarted (ECONNREFUSED, ENOTCONN) or was not there when we connected: one
    // reconnect, as syslog(3) does; after a chroot it fails and the message is dropped.
    if (connectLocked())
        (void)::send(m_fd, datagram.constData(), size_t(datagram.size()), MSG_NOSIGNAL);
}

QByteArray SyslogClient::format(int priority, QByteArrayView ident, qint64 pid,
                                qint64 msecsSinceEpoch, QByteArrayView message)
{
    // Month names by hand: strftime("%b") follows LC_TIME, which Qt sets from the environment.
    static constexpr const char *Months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t seconds = std::time_t(msecsSinceEpoch / 1000);
    std::tm local{};
    ::localtime_r(&seconds, &local);
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%s %2d %02d:%02d:%02d", Months[local.tm_mon % 12],
                  local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec);
    QByteArray out;
    out.reserve(message.size() + ident.size() + 40);
    out += '<';
    out += QByteArray::number(priority);
    out += '>';
    out += stamp;
    out += ' ';
    out += ident;
    out += '[';
    out += QByteArray::number(pid);
    out += "]: ";
    out += message;
    return out;
}

SyslogClient &SyslogClient::process()
{
    static SyslogClient client;
    return client;
}

} // namespace Berth::Log
