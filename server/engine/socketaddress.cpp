#include "socketaddress.h"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace Berth::Engine {

namespace {

bool isV4Mapped(const std::uint8_t *b)
{
    static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b, prefix, sizeof(prefix)) == 0;
}

} // namespace

SocketAddress SocketAddress::fromSockaddr(const sockaddr *address)
{
    SocketAddress a;
    if (address->sa_family == AF_INET) {
        const auto *in = reinterpret_cast<const sockaddr_in *>(address);
        a.m_family = 4;
        std::memcpy(a.m_bytes, &in->sin_addr, 4);
        a.m_port = ntohs(in->sin_port);
    } else if (address->sa_family == AF_INET6) {
        const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(address);
        const auto *b = reinterpret_cast<const std::uint8_t *>(&in6->sin6_addr);
        if (isV4Mapped(b)) {
            a.m_family = 4;
            std::memcpy(a.m_bytes, b + 12, 4);
        } else {
            a.m_family = 6;
            std::memcpy(a.m_bytes, b, 16);
            a.m_scopeId = in6->sin6_scope_id;
        }
        a.m_port = ntohs(in6->sin6_port);
    }
    return a;
}

SocketAddress SocketAddress::fromHost(const QHostAddress &address, quint16 port)
{
    SocketAddress a;
    bool v4 = false;
    const quint32 ip4 = address.toIPv4Address(&v4); // ::ffff:a.b.c.d included
    if (v4) {
        a.m_family = 4;
        const quint32 be = htonl(ip4);
        std::memcpy(a.m_bytes, &be, 4);
    } else if (address.protocol() == QAbstractSocket::IPv6Protocol) {
        a.m_family = 6;
        const Q_IPV6ADDR ip6 = address.toIPv6Address();
        std::memcpy(a.m_bytes, ip6.c, 16);
        if (!address.scopeId().isEmpty()) {
            // The interface index, as the socket API has it.
            bool numeric = false;
            a.m_scopeId = address.scopeId().toUInt(&numeric);
            if (!numeric)
                a.m_scopeId = ::if_nametoindex(address.scopeId().toLatin1().constData());
        }
    } else {
        return a;
    }
    a.m_port = port;
    return a;
}

bool SocketAddress::fixedForListener(int listenerFd, SocketAddress *address)
{
    *address = SocketAddress();
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (::getsockname(listenerFd, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
        return false;
    int transparent = 0;
    socklen_t optLen = sizeof(transparent);
    bool fixed = false;
    if (addr.ss_family == AF_UNIX) {
        return true; // no address: what getsockname on a connection would say
    } else if (addr.ss_family == AF_INET) {
        const auto *in = reinterpret_cast<const sockaddr_in *>(&addr);
        // IP_TRANSPARENT (TPROXY) accepts connections to any address.
        fixed = in->sin_addr.s_addr != htonl(INADDR_ANY) &&
                (::getsockopt(listenerFd, SOL_IP, IP_TRANSPARENT, &transparent, &optLen) != 0 ||
                 !transparent);
    } else if (addr.ss_family == AF_INET6) {
        const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(&addr);
        fixed = !IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) &&
                (::getsockopt(listenerFd, SOL_IPV6, IPV6_TRANSPARENT, &transparent, &optLen) != 0 ||
                 !transparent);
    }
    if (fixed)
        *address = fromSockaddr(reinterpret_cast<const sockaddr *>(&addr));
    return fixed;
}

void SocketAddress::assignTo(QHostAddress &address) const
{
    if (m_family == 4) {
        bool v4 = false;
        const quint32 current = address.toIPv4Address(&v4);
        quint32 be;
        std::memcpy(&be, m_bytes, 4);
        const quint32 mine = ntohl(be);
        if (!v4 || current != mine || address.protocol() != QAbstractSocket::IPv4Protocol)
            address.setAddress(mine); // reuses the private when nobody shares it
        return;
    }
    if (m_family == 6) {
        if (m_scopeId == 0 && address.protocol() == QAbstractSocket::IPv6Protocol &&
            address.scopeId().isEmpty()) {
            const Q_IPV6ADDR current = address.toIPv6Address();
            if (std::memcmp(current.c, m_bytes, 16) == 0)
                return;
        }
        if (m_scopeId == 0) {
            address.setAddress(m_bytes);
            return;
        }
        // Link-local with an interface: Qt names the interface as it does for an accept.
        sockaddr_in6 in6{};
        in6.sin6_family = AF_INET6;
        std::memcpy(&in6.sin6_addr, m_bytes, 16);
        in6.sin6_scope_id = m_scopeId;
        address.setAddress(reinterpret_cast<const sockaddr *>(&in6));
        return;
    }
    if (!address.isNull())
        address.clear();
}

int SocketAddress::format(char *out) const
{
    if (m_family == 0)
        return 0;
    if (m_family == 6 && m_scopeId != 0) {
        // Rare (a link-local client): Qt spells the scope.
        QHostAddress address;
        assignTo(address);
        const QByteArray text = address.toString().toLatin1().left(MaxTextLength - 6);
        std::memcpy(out, text.constData(), size_t(text.size()));
        char *end = out + text.size();
        *end++ = ':';
        return int(std::to_chars(end, out + MaxTextLength, m_port).ptr - out);
    }
    char *end = out;
    if (m_family == 4) {
        // By hand: glibc's inet_ntop formats IPv4 with sprintf (~1,800 instructions, most of
        // the cost of a Connection: close request's client text).
        for (int i = 0; i < 4; ++i) {
            if (i)
                *end++ = '.';
            end = std::to_chars(end, out + MaxTextLength, unsigned(m_bytes[i])).ptr;
        }
    } else {
        char text[INET6_ADDRSTRLEN];
        if (!::inet_ntop(AF_INET6, m_bytes, text, sizeof(text)))
            return 0;
        const size_t n = std::strlen(text);
        std::memcpy(out, text, n);
        end = out + n;
    }
    *end++ = ':';
    return int(std::to_chars(end, out + MaxTextLength, m_port).ptr - out);
}

} // namespace Berth::Engine
