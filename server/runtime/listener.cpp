#include "listener.h"

#include <QHostAddress>

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace Berth::Core {

namespace {

// Binds a new non-blocking, close-on-exec socket of the given type to ip:port; -1 with *error.
int bindSocket(const QString &ip, quint16 port, int type, QString *error, bool v6Only)
{
    const QString where =
        QStringLiteral("%1:%2").arg(ip.isEmpty() ? QStringLiteral("*") : ip).arg(port);
    QHostAddress address(QHostAddress::AnyIPv4);
    if (!ip.isEmpty() && ip != QLatin1String("*") && !address.setAddress(ip)) {
        if (error)
            *error =
                QStringLiteral("cannot listen on %1: '%2' is not an IP address").arg(where, ip);
        return -1;
    }
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (address.protocol() == QAbstractSocket::IPv6Protocol) {
        auto *sa = reinterpret_cast<sockaddr_in6 *>(&storage);
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons(port);
        const Q_IPV6ADDR a = address.toIPv6Address();
        std::memcpy(&sa->sin6_addr, &a, sizeof(a));
        length = sizeof(*sa);
    } else {
        auto *sa = reinterpret_cast<sockaddr_in *>(&storage);
        sa->sin_family = AF_INET;
        sa->sin_port = htons(port);
        sa->sin_addr.s_addr = htonl(address.toIPv4Address());
        length = sizeof(*sa);
    }
    const int fd = ::socket(storage.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (error)
            *error = QStringLiteral("cannot listen on %1: %2").arg(where, qt_error_string(errno));
        return -1;
    }
    // Restarts must not wait for TIME_WAIT sockets of the previous run (reference 003).
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (storage.ss_family == AF_INET6) {
        const int only = v6Only ? 1 : 0;
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof(only));
    }
    if (::bind(fd, reinterpret_cast<sockaddr *>(&storage), length) < 0) {
        const int err = errno;
        ::close(fd);
        if (error)
            *error = QStringLiteral("cannot listen on %1: %2").arg(where, qt_error_string(err));
        return -1;
    }
    return fd;
}

} // namespace

int openListeningSocket(const QString &ip, quint16 port, QString *error, int backlog, bool v6Only)
{
    const int fd = bindSocket(ip, port, SOCK_STREAM, error, v6Only);
    if (fd >= 0 && ::listen(fd, backlog) < 0) {
        const int err = errno;
        ::close(fd);
        if (error)
            *error = QStringLiteral("cannot listen on %1:%2: %3")
                         .arg(ip.isEmpty() ? QStringLiteral("*") : ip)
                         .arg(port)
                         .arg(qt_error_string(err));
        return -1;
    }
    return fd;
}

int openDatagramSocket(const QString &ip, quint16 port, QString *error)
{
    return bindSocket(ip, port, SOCK_DGRAM, error, true);
}

} // namespace Berth::Core
