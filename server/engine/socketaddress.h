#pragma once

#include <QHostAddress>
#include <QtGlobal>

#include <cstdint>
#include <cstring>

struct sockaddr;

namespace Berth::Engine {

// One end of a connection in 24 bytes: what a connection keeps of its peer and local
// addresses instead of two QHostAddress (each a heap-allocated private of its own), so an idle
// keep-alive connection carries no address allocation. An IPv4 client seen by a dual-stack
// listener (::ffff:a.b.c.d) is stored as IPv4, as logs and access rules want it.
class SocketAddress
{
public:
    // Longest text: a full IPv6 address and ":65535".
    static constexpr int MaxTextLength = 46 + 6;

    SocketAddress() = default;
    // From a socket API address; AF_UNIX or anything else leaves it null.
    static SocketAddress fromSockaddr(const sockaddr *address);
    static SocketAddress fromHost(const QHostAddress &address, quint16 port);
    // The local address of every connection accepted on listenerFd, into *address: the bound
    // address (null for a unix socket). False when it varies by connection (a wildcard
    // listener, or IP_TRANSPARENT): ask each accepted socket.
    static bool fixedForListener(int listenerFd, SocketAddress *address);

    bool isNull() const { return m_family == 0; }
    quint16 port() const { return m_port; }
    // Sets address to this one unless it holds it already (so a request object reused for
    // the next exchange keeps its QHostAddress without allocating).
    void assignTo(QHostAddress &address) const;
    // The same address, whatever the ports.
    bool sameHost(const SocketAddress &other) const
    {
        return std::memcmp(m_bytes, other.m_bytes, sizeof(m_bytes)) == 0 &&
               m_scopeId == other.m_scopeId && m_family == other.m_family;
    }
    friend bool operator==(const SocketAddress &a, const SocketAddress &b)
    {
        return a.sameHost(b) && a.m_port == b.m_port;
    }
    // "ip:port" as QHostAddress::toString() spells the ip; no terminating NUL. Returns the
    // length written into out (MaxTextLength bytes at least); 0 for a null address.
    int format(char *out) const;

private:
    std::uint8_t m_bytes[16] = {}; // IPv4: the first four
    std::uint32_t m_scopeId = 0;   // IPv6 link-local interface index
    quint16 m_port = 0;
    std::uint8_t m_family = 0; // 0 (null), 4 or 6
};

} // namespace Berth::Engine
