#include "proxyprotocol.h"

#include <QtEndian>

#include <cstring>

namespace Berth::Engine {

namespace {

constexpr QByteArrayView V1Prefix = "PROXY ";
constexpr char V2Signature[] = "\r\n\r\n\0\r\nQUIT\n";
constexpr qsizetype V2SignatureBytes = 12;

// v2 command, family/transport and TLV types (spec §2.2).
constexpr quint8 CommandLocal = 0x0;
constexpr quint8 CommandProxy = 0x1;
constexpr quint8 FamilyUnspec = 0x0;
constexpr quint8 FamilyInet = 0x1;
constexpr quint8 FamilyInet6 = 0x2;
constexpr quint8 FamilyUnix = 0x3;
constexpr quint8 TransportUnspec = 0x0;
constexpr quint8 TransportStream = 0x1;
constexpr quint8 TlvSsl = 0x20;
constexpr quint8 ClientSsl = 0x01;

ProxyHeader invalid(int version, const char *why)
{
    ProxyHeader h;
    h.status = ProxyHeader::Status::Invalid;
    h.version = version;
    h.error = why;
    return h;
}

// A v1 port: 1-5 digits, no leading zero (but "0"), at most 65535.
bool parseV1Port(QByteArrayView text, quint16 *port)
{
    if (text.isEmpty() || text.size() > 5 || (text.size() > 1 && text[0] == '0'))
        return false;
    uint value = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + uint(c - '0');
    }
    if (value > 65535)
        return false;
    *port = quint16(value);
    return true;
}

bool parseV1Address(QByteArrayView text, bool ipv6, QHostAddress *address)
{
    // QHostAddress accepts forms the specification does not (scope ids, short IPv4 forms):
    // only the characters of the family's textual form get that far.
    if (text.isEmpty() || text.size() > 39)
        return false;
    int dots = 0;
    for (char c : text) {
        const bool digit = c >= '0' && c <= '9';
        const bool hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (ipv6 ? !(hex || c == ':' || c == '.') : !(digit || c == '.'))
            return false;
        dots += c == '.';
    }
    if (!ipv6 && dots != 3)
        return false;
    if (!address->setAddress(QString::fromLatin1(text)))
        return false;
    return address->protocol() ==
           (ipv6 ? QAbstractSocket::IPv6Protocol : QAbstractSocket::IPv4Protocol);
}

ProxyHeader parseV1(QByteArrayView data)
{
    const qsizetype window = qMin(data.size(), ProxyHeader::MaxV1Bytes);
    qsizetype end = -1;
    for (qsizetype i = 0; i < window; ++i) {
        const char c = data[i];
        if (c == '\r') {
            if (i + 2 > ProxyHeader::MaxV1Bytes) // the CRLF itself must fit in the 107 bytes
                return invalid(1, "v1 header: no CRLF within 107 bytes");
            if (i + 1 >= data.size())
                break; // the LF may follow
            if (data[i + 1] != '\n')
                return invalid(1, "v1 header: CR without LF");
            end = i;
            break;
        }
        if (c == '\n')
            return invalid(1, "v1 header: LF without CR");
        if (uchar(c) < 0x20 || uchar(c) > 0x7e)
            return invalid(1, "v1 header: a byte that is not printable ASCII");
    }
    if (end < 0) {
        if (data.size() >= ProxyHeader::MaxV1Bytes)
            return invalid(1, "v1 header: no CRLF within 107 bytes");
        ProxyHeader h;
        h.version = 1;
        return h;
    }
    const QByteArrayView line = data.first(end).sliced(V1Prefix.size());
    QList<QByteArrayView> parts;
    qsizetype from = 0;
    for (qsizetype i = 0; i <= line.size(); ++i) {
        if (i == line.size() || line[i] == ' ') {
            parts.append(line.sliced(from, i - from));
            from = i + 1;
        }
    }
    ProxyHeader h;
    h.version = 1;
    h.length = end + 2;
    if (!parts.isEmpty() && parts[0] == "UNKNOWN") {
        // "the receiver must ignore anything presented before the CRLF"
        h.status = ProxyHeader::Status::Complete;
        return h;
    }
    if (parts.size() != 5)
        return invalid(1, "v1 header: not PROXY PROTO SRC DST SPORT DPORT");
    const bool ipv6 = parts[0] == "TCP6";
    if (!ipv6 && parts[0] != "TCP4")
        return invalid(1, "v1 header: protocol is not TCP4, TCP6 or UNKNOWN");
    if (!parseV1Address(parts[1], ipv6, &h.source) ||
        !parseV1Address(parts[2], ipv6, &h.destination))
        return invalid(1, "v1 header: an address is not of the protocol's family");
    if (!parseV1Port(parts[3], &h.sourcePort) || !parseV1Port(parts[4], &h.destinationPort))
        return invalid(1, "v1 header: a port is not a number from 0 to 65535");
    h.hasAddresses = true;
    h.status = ProxyHeader::Status::Complete;
    return h;
}

// The TLVs after the addresses: well-formed (each fits), SSL noted, the rest ignored.
bool parseTlvs(QByteArrayView tlvs, bool *ssl)
{
    while (!tlvs.isEmpty()) {
        if (tlvs.size() < 3)
            return false;
        const quint8 type = quint8(tlvs[0]);
        const qsizetype length = qFromBigEndian<quint16>(tlvs.data() + 1);
        if (3 + length > tlvs.size())
            return false;
        const QByteArrayView value = tlvs.sliced(3, length);
        if (type == TlvSsl) {
            // client (1 byte) and verify (4 bytes), then sub-TLVs.
            if (value.size() < 5)
                return false;
            *ssl = (quint8(value[0]) & ClientSsl) != 0;
        }
        tlvs = tlvs.sliced(3 + length);
    }
    return true;
}

ProxyHeader parseV2(QByteArrayView data)
{
    ProxyHeader h;
    h.version = 2;
    if (data.size() < ProxyHeader::V2FixedBytes)
        return h;
    const quint8 versionCommand = quint8(data[12]);
    const quint8 familyTransport = quint8(data[13]);
    const qsizetype length = qFromBigEndian<quint16>(data.data() + 14);
    if ((versionCommand >> 4) != 2)
        return invalid(2, "v2 header: version is not 2");
    const quint8 command = versionCommand & 0x0f;
    if (command != CommandLocal && command != CommandProxy)
        return invalid(2, "v2 header: command is neither LOCAL nor PROXY");
    const quint8 family = familyTransport >> 4;
    const quint8 transport = familyTransport & 0x0f;
    if (family > FamilyUnix || transport > 0x2)
        return invalid(2, "v2 header: unknown address family or transport");
    h.length = ProxyHeader::V2FixedBytes + length;
    if (data.size() < h.length)
        return h;
    const QByteArrayView body = data.sliced(ProxyHeader::V2FixedBytes, length);
    qsizetype addressBytes = 0;
    switch (family) {
    case FamilyInet:
        addressBytes = 12;
        break;
    case FamilyInet6:
        addressBytes = 36;
        break;
    case FamilyUnix:
        addressBytes = 216;
        break;
    default:
        break;
    }
    if (command == CommandProxy && family != FamilyUnspec && transport != TransportStream)
        return invalid(2, "v2 header: a datagram transport on a stream listener");
    if (command == CommandProxy && family != FamilyUnspec && body.size() < addressBytes)
        return invalid(2, "v2 header: shorter than its addresses");
    if (command == CommandLocal || family == FamilyUnspec || transport == TransportUnspec) {
        // LOCAL (the proxy's own health check) and UNSPEC: the connection's own addresses.
        // The body is skipped whole ("the receiver must ... skip the address information").
        h.status = ProxyHeader::Status::Complete;
        return h;
    }
    if (family == FamilyInet) {
        h.source = QHostAddress(qFromBigEndian<quint32>(body.data()));
        h.destination = QHostAddress(qFromBigEndian<quint32>(body.data() + 4));
        h.sourcePort = qFromBigEndian<quint16>(body.data() + 8);
        h.destinationPort = qFromBigEndian<quint16>(body.data() + 10);
        h.hasAddresses = true;
    } else if (family == FamilyInet6) {
        h.source = QHostAddress(reinterpret_cast<const quint8 *>(body.data()));
        h.destination = QHostAddress(reinterpret_cast<const quint8 *>(body.data() + 16));
        h.sourcePort = qFromBigEndian<quint16>(body.data() + 32);
        h.destinationPort = qFromBigEndian<quint16>(body.data() + 34);
        h.hasAddresses = true;
    }
    if (!parseTlvs(body.sliced(addressBytes), &h.ssl))
        return invalid(2, "v2 header: a TLV runs past the header");
    h.status = ProxyHeader::Status::Complete;
    return h;
}

} // namespace

ProxyHeader parseProxyHeader(QByteArrayView data)
{
    const QByteArrayView signature(V2Signature, V2SignatureBytes);
    const qsizetype v1 = qMin(data.size(), V1Prefix.size());
    if (data.first(v1) == V1Prefix.first(v1)) {
        if (data.size() < V1Prefix.size()) {
            ProxyHeader h;
            h.version = data.isEmpty() ? 0 : 1;
            return h;
        }
        return parseV1(data);
    }
    const qsizetype v2 = qMin(data.size(), V2SignatureBytes);
    if (data.first(v2) == signature.first(v2))
        return parseV2(data);
    return invalid(0, "no PROXY protocol header");
}

} // namespace Berth::Engine
