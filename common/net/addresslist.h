#pragma once

#include <QHostAddress>
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>
#include <utility>

namespace Berth::Config {
class Config;
}

namespace Berth::Net {

// A list of IPv4 and IPv6 networks that client addresses are matched against: every allow-list
// of the configuration (berth.debug and berth.mail `allow`, the gateway's `ips` and `deny_ips`,
// [server] trusted_proxies). An entry is an address (a /32 or /128 network) or ADDRESS/PREFIX
// ("10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0"); host bits under the prefix are ignored. IPv4
// is matched as IPv4 whatever socket it came in on: a client on a dual-stack listener
// (::ffff:10.1.2.3) and an entry written IPv4-mapped ("::ffff:10.0.0.0/104") are compared as
// the IPv4 address and network they carry.
class AddressList
{
public:
    using Network = std::pair<QHostAddress, int>;

    // One entry; nullopt when it is not an address or CIDR network (a partial IPv4 address
    // such as "10", a netmask in place of a prefix length or a prefix too long are refused:
    // they read as something else than what they match).
    static std::optional<Network> parseEntry(QStringView entry);

    // Replaces the list. False with *error naming the first bad entry (the list then holds the
    // entries before it).
    bool parse(const QStringList &entries, QString *error);

    // The list at [section] key: each bad entry is an error diagnostic at the key's file:line
    // ("[section] key: 'x' is not an IP address or CIDR network"), the good ones are kept.
    static AddressList fromConfig(const Config::Config &config, const QString &section,
                                  const QString &key);

    // False for a null address (a unix-socket peer is on no network).
    bool contains(const QHostAddress &address) const;
    bool isEmpty() const { return m_networks.isEmpty(); }
    const QList<Network> &networks() const { return m_networks; }

    static QString entryError(const QString &entry);

private:
    QList<Network> m_networks;
};

} // namespace Berth::Net
