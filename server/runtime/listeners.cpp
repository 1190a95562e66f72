#include "listeners.h"

#include "listener.h"

#include <config/config.h>

#include <QHash>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace Berth::Core {

namespace {

constexpr int FirstPassedFd = 3; // SD_LISTEN_FDS_START

quint16 localPort(int fd)
{
    sockaddr_storage addr{};
    socklen_t length = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &length) != 0)
        return 0;
    if (addr.ss_family == AF_INET)
        return ntohs(reinterpret_cast<sockaddr_in *>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<sockaddr_in6 *>(&addr)->sin6_port);
    return 0;
}

// A passed socket's key: its type and local port.
quint32 socketKey(bool datagram, quint16 port)
{
    return (datagram ? 0x10000u : 0u) | port;
}

// The listening (TCP) and bound (UDP) sockets handed to this process, by socketKey().
QHash<quint32, int> passedListeners()
{
    QHash<quint32, int> byPort;
    const QByteArray pid = qgetenv("LISTEN_PID");
    const int count = qEnvironmentVariableIntValue("LISTEN_FDS");
    if (count > 0 && pid.toLongLong() == qint64(::getpid())) {
        for (int fd = FirstPassedFd; fd < FirstPassedFd + count; ++fd) {
            int type = 0;
            socklen_t length = sizeof(type);
            if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0)
                continue;
            if (type == SOCK_DGRAM) {
                byPort.insert(socketKey(true, localPort(fd)), fd);
                continue;
            }
            int listening = 0;
            length = sizeof(listening);
            if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening)
                byPort.insert(socketKey(false, localPort(fd)), fd);
        }
    }
    qunsetenv("LISTEN_PID");
    qunsetenv("LISTEN_FDS");
    qunsetenv("LISTEN_FDNAMES");
    return byPort;
}

} // namespace

QString ListenSpec::toString() const
{
    const QString suffix = socket == Socket::Datagram ? QStringLiteral(" (udp)")
                           : tls                      ? QStringLiteral(" (tls)")
                                                      : QString();
    return QStringLiteral("%1:%2%3").arg(ip).arg(port).arg(suffix);
}

QList<ListenSpec> listenSpecs(const Config::Config &config)
{
    const QString server = QStringLiteral("server");
    const QString tls = QStringLiteral("tls");
    ListenSpec main;
    main.ip = config.getString(server, QStringLiteral("ip"));
    main.port = quint16(config.getInt(server, QStringLiteral("port")));
    main.tls = config.getBool(tls, QStringLiteral("enabled"));
    QList<ListenSpec> specs{main};
    const int tlsPort = int(config.getInt(tls, QStringLiteral("port")));
    if (tlsPort > 0 && tlsPort != main.port)
        specs.append({main.ip, quint16(tlsPort), true});
    return specs;
}

bool acquireListeners(const QList<ListenSpec> &specs, QList<int> *fds, QString *error)
{
    QHash<quint32, int> passed = passedListeners();
    for (const ListenSpec &spec : specs) {
        const bool datagram = spec.socket == ListenSpec::Socket::Datagram;
        // take() gives 0 for a missing port; fd 0 is never a passed listener.
        int fd = passed.take(socketKey(datagram, spec.port));
        if (fd <= 0) {
            fd = datagram ? openDatagramSocket(spec.ip, spec.port, error)
                          : openListeningSocket(spec.ip, spec.port, error);
            if (fd < 0)
                return false;
        } else {
            // Passed sockets keep their flags from the passer; this engine needs them
            // non-blocking and closed on exec (workers get them passed explicitly).
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        fds->append(fd);
    }
    // Sockets passed for something this configuration no longer asks for.
    for (int fd : std::as_const(passed))
        ::close(fd);
    return true;
}

} // namespace Berth::Core
