#include "addresslist.h"

#include "config/config.h"

namespace Berth::Net {

namespace {

// ::ffff:a.b.c.d as a.b.c.d; anything else as it is.
QHostAddress unmapped(const QHostAddress &address)
{
    if (address.protocol() != QAbstractSocket::IPv6Protocol)
        return address;
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4);
    return isV4 ? QHostAddress(v4) : address;
}

// Four decimal numbers: QHostAddress also takes inet_aton()'s shorthands ("10" for 0.0.0.10,
// "127.1"), which are not what anyone writing an allow-list means.
bool isDottedQuad(QStringView text)
{
    int dots = 0;
    int digits = 0;
    for (QChar c : text) {
        if (c == u'.') {
            if (digits == 0)
                return false;
            ++dots;
            digits = 0;
        } else if (c >= u'0' && c <= u'9' && ++digits <= 3) {
            continue;
        } else {
            return false;
        }
    }
    return dots == 3 && digits > 0;
}

} // namespace

std::optional<AddressList::Network> AddressList::parseEntry(QStringView entry)
{
    entry = entry.trimmed();
    const qsizetype slash = entry.indexOf(u'/');
    const QStringView addressPart = slash < 0 ? entry : entry.first(slash);
    // Not QHostAddress::parseSubnet: that one reads "10" as 10.0.0.0/8 and "10.1" as
    // 10.1.0.0/16, which is rarely what a one-number typo meant.
    QHostAddress address;
    if (addressPart.isEmpty() || addressPart.contains(u'%') ||
        (!addressPart.contains(u':') && !isDottedQuad(addressPart)) ||
        !address.setAddress(addressPart.toString()))
        return std::nullopt;
    const bool isV6 = address.protocol() == QAbstractSocket::IPv6Protocol;
    const int bits = isV6 ? 128 : 32;
    int prefix = bits;
    if (slash >= 0) {
        const QStringView prefixPart = entry.sliced(slash + 1);
        if (prefixPart.isEmpty() || prefixPart.size() > 3)
            return std::nullopt;
        for (QChar c : prefixPart) {
            if (c < u'0' || c > u'9')
                return std::nullopt;
        }
        prefix = prefixPart.toInt();
        if (prefix > bits)
            return std::nullopt;
    }
    bool mapped = false;
    const quint32 v4 = isV6 ? address.toIPv4Address(&mapped) : 0;
    if (mapped && prefix >= 96) {
        address = QHostAddress(v4);
        prefix -= 96;
    }
    // The network address itself (host bits cleared), as QHostAddress::parseSubnet would.
    const Network network =
        QHostAddress::parseSubnet(QStringLiteral("%1/%2").arg(address.toString()).arg(prefix));
    if (network.first.isNull())
        return std::nullopt;
    return network;
}

QString AddressList::entryError(const QString &entry)
{
    return QStringLiteral("'%1' is not an IP address or CIDR network").arg(entry.trimmed());
}

bool AddressList::parse(const QStringList &entries, QString *error)
{
    m_networks.clear();
    for (const QString &entry : entries) {
        const std::optional<Network> network = parseEntry(entry);
        if (!network) {
            if (error)
                *error = entryError(entry);
            return false;
        }
        m_networks.append(*network);
    }
    return true;
}

AddressList AddressList::fromConfig(const Config::Config &config, const QString &section,
                                    const QString &key)
{
    AddressList list;
    for (const QString &entry : config.getList(section, key)) {
        if (const std::optional<Network> network = parseEntry(entry)) {
            list.m_networks.append(*network);
            continue;
        }
        config.addDiagnostic({Config::Diagnostic::Severity::Error, config.location(section, key),
                              QStringLiteral("[%1] %2: %3").arg(section, key, entryError(entry))});
    }
    return list;
}

bool AddressList::contains(const QHostAddress &address) const
{
    if (address.isNull())
        return false;
    const QHostAddress client = unmapped(address);
    for (const Network &network : m_networks) {
        if (client.isInSubnet(network))
            return true;
    }
    return false;
}

} // namespace Berth::Net
