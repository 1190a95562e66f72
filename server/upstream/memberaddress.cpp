#include "memberaddress.h"

#include <QHostAddress>

#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

namespace Berth::Upstream {

QString MemberAddress::text() const
{
    if (isUnix)
        return QStringLiteral("unix:") + path;
    if (host.contains(u':'))
        return QStringLiteral("[%1]:%2").arg(host).arg(port);
    return QStringLiteral("%1:%2").arg(host).arg(port);
}

bool MemberAddress::parse(const QString &text, MemberAddress *address, QString *error)
{
    *address = MemberAddress();
    if (text.startsWith(QLatin1String("unix:"))) {
        address->isUnix = true;
        address->path = text.mid(5);
        if (address->path.isEmpty() || address->path.toUtf8().size() >= 108) {
            *error = QStringLiteral("bad unix socket path in member \"%1\"").arg(text);
            return false;
        }
        return true;
    }
    QString host;
    QString portText;
    if (text.startsWith(u'[')) {
        const qsizetype close = text.indexOf(u']');
        if (close < 0 || text.mid(close + 1, 1) != QLatin1String(":")) {
            *error = QStringLiteral("member \"%1\": expected [v6]:port").arg(text);
            return false;
        }
        host = text.mid(1, close - 1);
        portText = text.mid(close + 2);
    } else {
        const qsizetype colon = text.lastIndexOf(u':');
        if (colon <= 0 || text.indexOf(u':') != colon) {
            *error = QStringLiteral("member \"%1\": expected host:port").arg(text);
            return false;
        }
        host = text.left(colon);
        portText = text.mid(colon + 1);
    }
    bool ok = false;
    const uint port = portText.toUInt(&ok);
    if (!ok || port == 0 || port > 65535 || host.isEmpty()) {
        *error = QStringLiteral("member \"%1\": bad host or port").arg(text);
        return false;
    }
    address->host = host;
    address->port = quint16(port);
    QHostAddress literal;
    address->isLiteral = literal.setAddress(host);
    if (text.startsWith(u'[') && !address->isLiteral) {
        *error = QStringLiteral("member \"%1\": not an IPv6 address").arg(text);
        return false;
    }
    return true;
}

bool resolveLiteral(const MemberAddress &address, ResolvedAddress *out)
{
    *out = ResolvedAddress();
    if (address.isUnix) {
        auto *un = reinterpret_cast<sockaddr_un *>(&out->storage);
        un->sun_family = AF_UNIX;
        const QByteArray path = address.path.toUtf8();
        std::memcpy(un->sun_path, path.constData(), size_t(path.size()));
        out->length = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + 1);
        return true;
    }
    if (!address.isLiteral)
        return false;
    const QHostAddress host(address.host);
    if (host.protocol() == QAbstractSocket::IPv4Protocol) {
        auto *in = reinterpret_cast<sockaddr_in *>(&out->storage);
        in->sin_family = AF_INET;
        in->sin_port = htons(address.port);
        in->sin_addr.s_addr = htonl(host.toIPv4Address());
        out->length = sizeof(sockaddr_in);
        return true;
    }
    auto *in6 = reinterpret_cast<sockaddr_in6 *>(&out->storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(address.port);
    const Q_IPV6ADDR bytes = host.toIPv6Address();
    std::memcpy(&in6->sin6_addr, &bytes, 16);
    out->length = sizeof(sockaddr_in6);
    return true;
}

bool resolveBlocking(const MemberAddress &address, ResolvedAddress *out)
{
    if (resolveLiteral(address, out))
        return true;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *result = nullptr;
    const QByteArray host = address.host.toUtf8();
    const QByteArray port = QByteArray::number(address.port);
    if (::getaddrinfo(host.constData(), port.constData(), &hints, &result) != 0 || !result)
        return false;
    std::memcpy(&out->storage, result->ai_addr, result->ai_addrlen);
    out->length = result->ai_addrlen;
    ::freeaddrinfo(result);
    return true;
}

} // namespace Berth::Upstream
