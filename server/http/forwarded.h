#pragma once

#include "requesthead.h"

#include <net/addresslist.h>

#include <QHostAddress>
#include <QList>
#include <QStringList>

#include <optional>
#include <utility>

namespace Berth::Http {

// [server] trusted_proxies: the peers whose forwarding headers are believed.
class TrustedProxies
{
public:
    // Entries are IP addresses, CIDR subnets ("10.0.0.0/8", "fd00::/8") and "unix" (peers on a
    // unix-socket listener). False with *error naming the first bad entry.
    bool parse(const QStringList &entries, QString *error);
    bool isEmpty() const { return m_networks.isEmpty() && !m_unix; }
    // Net::AddressList::contains(): IPv4-mapped IPv6 addresses are compared as IPv4.
    bool contains(const QHostAddress &address) const { return m_networks.contains(address); }
    bool trustsUnixPeers() const { return m_unix; }

private:
    Net::AddressList m_networks;
    bool m_unix = false;
};

// What a trusted proxy said about the client.
struct ForwardedClient
{
    bool found = false; // a client address was named
    QHostAddress address;
    quint16 port = 0;           // 0 when the header gives none
    std::optional<bool> secure; // X-Forwarded-Proto / Forwarded proto=, when given
};

// The client a request came from, from a peer already known to be trusted: X-Forwarded-For
// (every field line joined, read right to left, the first hop that is not itself a trusted
// proxy; the leftmost when all are) or else Forwarded (RFC 7239, for= of the element chosen
// the same way), and the scheme from X-Forwarded-Proto (its last value) or that element's
// proto=. Malformed values name no client (the peer itself stays the client).
ForwardedClient forwardedClient(const RequestHead &head, const TrustedProxies &trusted);

} // namespace Berth::Http
