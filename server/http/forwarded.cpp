#include "forwarded.h"

namespace Berth::Http {

namespace {

bool sameName(QByteArrayView a, QByteArrayView b)
{
    return a.compare(b, Qt::CaseInsensitive) == 0;
}

QByteArrayView trimmed(QByteArrayView v)
{
    while (!v.isEmpty() && (v.front() == ' ' || v.front() == '\t'))
        v = v.sliced(1);
    while (!v.isEmpty() && (v.back() == ' ' || v.back() == '\t'))
        v.chop(1);
    return v;
}

// Every comma-separated element of every field line with this name, in order.
QList<QByteArrayView> listElements(const RequestHead &head, QByteArrayView name)
{
    QList<QByteArrayView> elements;
    for (const HeaderField &f : head.fields) {
        if (!sameName(f.name, name))
            continue;
        QByteArrayView rest = f.value;
        for (;;) {
            const qsizetype comma = rest.indexOf(',');
            elements.append(trimmed(comma < 0 ? rest : rest.first(comma)));
            if (comma < 0)
                break;
            rest = rest.sliced(comma + 1);
        }
    }
    return elements;
}

QHostAddress plainAddress(QByteArrayView text)
{
    QHostAddress address;
    // Scope ids and the like are no client address.
    if (text.isEmpty() || text.contains('%') || !address.setAddress(QString::fromLatin1(text)))
        return {};
    return address;
}

// "192.0.2.1", "192.0.2.1:4711", "2001:db8::1", "[2001:db8::1]:4711" (X-Forwarded-For and
// the unquoted form of Forwarded's node). Null address when it is none of them.
std::pair<QHostAddress, quint16> parseNode(QByteArrayView node)
{
    if (node.size() >= 2 && node.front() == '"' && node.back() == '"')
        node = node.sliced(1, node.size() - 2);
    quint16 port = 0;
    if (node.startsWith('[')) {
        const qsizetype close = node.indexOf(']');
        if (close < 0)
            return {};
        const QByteArrayView after = node.sliced(close + 1);
        if (!after.isEmpty()) {
            bool ok = false;
            if (!after.startsWith(':'))
                return {};
            const uint p = after.sliced(1).toUInt(&ok);
            if (!ok || p > 65535)
                return {};
            port = quint16(p);
        }
        const QHostAddress a = plainAddress(node.sliced(1, close - 1));
        if (a.protocol() != QAbstractSocket::IPv6Protocol)
            return {};
        return {a, port};
    }
    const qsizetype colon = node.indexOf(':');
    if (colon >= 0 && node.lastIndexOf(':') == colon) { // IPv4 with a port
        bool ok = false;
        const uint p = node.sliced(colon + 1).toUInt(&ok);
        if (!ok || p > 65535)
            return {};
        const QHostAddress a = plainAddress(node.first(colon));
        if (a.protocol() != QAbstractSocket::IPv4Protocol)
            return {};
        return {a, quint16(p)};
    }
    return {plainAddress(node), 0};
}

std::optional<bool> parseProto(QByteArrayView proto)
{
    if (proto.size() >= 2 && proto.front() == '"' && proto.back() == '"')
        proto = proto.sliced(1, proto.size() - 2);
    if (sameName(proto, "https") || sameName(proto, "wss"))
        return true;
    if (sameName(proto, "http") || sameName(proto, "ws"))
        return false;
    return std::nullopt;
}

QHostAddress unmapped(const QHostAddress &address)
{
    bool ok = false;
    const quint32 v4 = address.toIPv4Address(&ok);
    return ok ? QHostAddress(v4) : address;
}

} // namespace

bool TrustedProxies::parse(const QStringList &entries, QString *error)
{
    m_unix = false;
    QStringList networks;
    for (const QString &entry : entries) {
        if (entry.trimmed() == QLatin1String("unix")) {
            m_unix = true;
        } else if (Net::AddressList::parseEntry(entry)) {
            networks.append(entry);
        } else {
            if (error)
                *error = QStringLiteral("'%1' is not an IP address, a CIDR network or unix")
                             .arg(entry.trimmed());
            return false;
        }
    }
    return m_networks.parse(networks, error);
}

ForwardedClient forwardedClient(const RequestHead &head, const TrustedProxies &trusted)
{
    ForwardedClient client;
    const QList<QByteArrayView> xff = listElements(head, "X-Forwarded-For");
    if (!xff.isEmpty()) {
        // Right to left: each hop was added by the proxy after it; the first one we don't
        // trust is the client (anything left of it, the client could have written itself).
        for (qsizetype i = xff.size() - 1; i >= 0; --i) {
            const auto [address, port] = parseNode(xff[i]);
            if (address.isNull())
                return {}; // a malformed hop: believe none of the list
            client.found = true;
            client.address = unmapped(address);
            client.port = port;
            if (!trusted.contains(address))
                break;
        }
        const QList<QByteArrayView> proto = listElements(head, "X-Forwarded-Proto");
        if (!proto.isEmpty())
            client.secure = parseProto(proto.back());
        return client;
    }
    const QList<QByteArrayView> forwarded = listElements(head, "Forwarded");
    for (qsizetype i = forwarded.size() - 1; i >= 0; --i) {
        QByteArrayView forValue;
        QByteArrayView protoValue;
        QByteArrayView rest = forwarded[i];
        while (!rest.isEmpty()) {
            const qsizetype semicolon = rest.indexOf(';');
            const QByteArrayView pair = trimmed(semicolon < 0 ? rest : rest.first(semicolon));
            rest = semicolon < 0 ? QByteArrayView() : rest.sliced(semicolon + 1);
            const qsizetype eq = pair.indexOf('=');
            if (eq <= 0)
                return {};
            const QByteArrayView name = trimmed(pair.first(eq));
            if (sameName(name, "for"))
                forValue = trimmed(pair.sliced(eq + 1));
            else if (sameName(name, "proto"))
                protoValue = trimmed(pair.sliced(eq + 1));
        }
        const auto [address, port] = parseNode(forValue);
        if (address.isNull())
            return {}; // "unknown", an obfuscated node or garbage: no address to believe
        client.found = true;
        client.address = unmapped(address);
        client.port = port;
        client.secure = protoValue.isEmpty() ? std::nullopt : parseProto(protoValue);
        if (!trusted.contains(address))
            break;
    }
    if (!client.found) {
        const QList<QByteArrayView> proto = listElements(head, "X-Forwarded-Proto");
        if (!proto.isEmpty())
            client.secure = parseProto(proto.back());
    }
    return client;
}

} // namespace Berth::Http
