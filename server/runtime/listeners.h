#pragma once

#include <QList>
#include <QString>

namespace Berth::Config {
class Config;
}

namespace Berth::Core {

// A listening socket the configuration asks for.
struct ListenSpec
{
    // A TCP listening socket or a bound UDP socket.
    enum class Socket { Stream, Datagram };

    QString ip;
    quint16 port = 0;
    bool tls = false;
    Socket socket = Socket::Stream;

    // "127.0.0.1:8080", "127.0.0.1:8443 (tls)", "127.0.0.1:5353 (udp)"
    QString toString() const;
    // The same socket: type, address and port (tls is how it is served, not what is bound).
    bool sameSocket(const ListenSpec &other) const
    {
        return socket == other.socket && port == other.port && ip == other.ip;
    }
};

// [server] ip/port (TLS when [tls] enabled) and [tls] port, in that order: the HTTP service's.
QList<ListenSpec> listenSpecs(const Config::Config &config);

// One fd per spec, in the same order. Sockets passed in the systemd convention (LISTEN_FDS /
// LISTEN_PID, fds from 3 — from systemd socket activation or from the berthd master) are
// adopted when their socket type and local port match a spec; the rest are opened here. The
// LISTEN_* variables are cleared so they don't leak into children.
bool acquireListeners(const QList<ListenSpec> &specs, QList<int> *fds, QString *error);

} // namespace Berth::Core
