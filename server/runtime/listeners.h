#pragma once

#include <QList>
#include <QString>
#include <QStringList>

namespace Berth::Config {
class Config;
}

namespace Berth::Core {

// A listening socket the configuration asks for.
struct ListenSpec
{
    // A TCP (or unix-domain stream) listening socket, or a bound UDP socket.
    enum class Socket { Stream, Datagram };

    QString ip;
    quint16 port = 0;
    bool tls = false;
    Socket socket = Socket::Stream;
    // A unix-domain stream socket at this path (ip and port unused) when not empty.
    QString path = {};
    // How the HTTP service serves it ([server] listen flags).
    bool http2 = true;          // HTTP/2 offered (ALPN h2, prior knowledge, h2c)
    bool proxyProtocol = false; // every connection starts with a PROXY protocol header
    // IPv6 only (IPV6_V6ONLY): set when an IPv4 listener has the same port, so both can bind.
    bool v6Only = true;
    // systemd's FileDescriptorName= of the passed socket to adopt, when given (name=).
    QString name = {};
    // Unix sockets: permissions (-1 keeps the umask's) and group of the socket file.
    int unixMode = -1;
    QString unixGroup = {};

    bool isUnix() const { return !path.isEmpty(); }
    // "127.0.0.1:8080", "[::]:8443 (tls)", "unix:/run/berth.sock", "127.0.0.1:5353 (udp)"
    QString toString() const;
    // The same socket: type and address (tls is how it is served, not what is bound).
    bool sameSocket(const ListenSpec &other) const
    {
        return socket == other.socket && port == other.port && ip == other.ip && path == other.path;
    }
};

// One `[server] listen` entry, "ADDRESS [tls] [http2] [proxy_protocol] [name=NAME]", where
// ADDRESS is IPv4:PORT, [IPv6]:PORT, *:PORT, PORT or unix:PATH. False with *error set.
bool parseListenEntry(const QString &entry, ListenSpec *spec, QString *error);

// Sets v6Only on each IPv6 stream spec: only when an IPv4 stream spec has the same port (so
// "[::]:8080" alone also takes IPv4 clients, and beside "0.0.0.0:8080" both bind).
void assignV6Only(QList<ListenSpec> *specs);

// The HTTP service's listeners: [server] listen when set (problems become diagnostics on
// config), else [server] ip/port (TLS when [tls] enabled) and [tls] port, in that order.
QList<ListenSpec> listenSpecs(const Config::Config &config);

// Opens the socket one spec describes (unix sockets: a stale socket file is replaced, mode and
// group applied). Non-blocking and close-on-exec; -1 with *error set.
int openListener(const ListenSpec &spec, QString *error);

// One fd per spec, in the same order. Sockets passed in the systemd convention (LISTEN_FDS /
// LISTEN_PID, fds from 3 — from systemd socket activation or from the berthd master) are
// adopted when their FileDescriptorName (LISTEN_FDNAMES) is the spec's name, or else their
// socket type and local address (IP and port, or unix path) are the spec's; the rest are
// opened here. The LISTEN_* variables are cleared so they don't leak into children.
bool acquireListeners(const QList<ListenSpec> &specs, QList<int> *fds, QString *error);

} // namespace Berth::Core
