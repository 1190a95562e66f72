// The PROXY protocol header parser (HAProxy's specification, v1 and v2): what it accepts,
// what it refuses, and that a header cut anywhere waits for the rest.
#include "engine/proxyprotocol.h"

#include <QTest>
#include <QtEndian>

using namespace Berth::Engine;
using Status = ProxyHeader::Status;

namespace {

QHostAddress ip(const char *text)
{
    return QHostAddress(QString::fromLatin1(text));
}

const QByteArray V2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header: command (0 LOCAL, 1 PROXY), family/transport byte, address block, TLVs.
QByteArray v2(quint8 command, quint8 familyTransport, const QByteArray &addresses,
              const QByteArray &tlvs = {})
{
    QByteArray h = V2Signature;
    h.append(char(0x20 | command));
    h.append(char(familyTransport));
    const quint16 length = quint16(addresses.size() + tlvs.size());
    h.append(char(length >> 8));
    h.append(char(length & 0xff));
    return h + addresses + tlvs;
}

QByteArray inet(const char *src, const char *dst, quint16 sport, quint16 dport)
{
    QByteArray a(12, '\0');
    qToBigEndian(ip(src).toIPv4Address(), a.data());
    qToBigEndian(ip(dst).toIPv4Address(), a.data() + 4);
    qToBigEndian(sport, a.data() + 8);
    qToBigEndian(dport, a.data() + 10);
    return a;
}

QByteArray tlv(quint8 type, const QByteArray &value)
{
    QByteArray t;
    t.append(char(type));
    t.append(char(value.size() >> 8));
    t.append(char(value.size() & 0xff));
    return t + value;
}

} // namespace

class TestProxyProtocol : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void parsesV1Tcp4AndLeavesTheRest()
    {
        const QByteArray header = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
        const ProxyHeader h = parseProxyHeader(header + "GET / HTTP/1.1\r\n");
        QCOMPARE(h.status, Status::Complete);
        QCOMPARE(h.version, 1);
        QCOMPARE(h.length, header.size());
        QVERIFY(h.hasAddresses);
        QCOMPARE(h.source, ip("192.0.2.1"));
        QCOMPARE(h.sourcePort, quint16(56324));
        QCOMPARE(h.destination, ip("198.51.100.2"));
        QCOMPARE(h.destinationPort, quint16(443));
    }

    void parsesV1Tcp6AndUnknown()
    {
        ProxyHeader h = parseProxyHeader("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
        QCOMPARE(h.status, Status::Complete);
        QCOMPARE(h.source, ip("2001:db8::1"));
        QCOMPARE(h.destinationPort, quint16(65535));
        h = parseProxyHeader("PROXY UNKNOWN whatever follows\r\nGET");
        QCOMPARE(h.status, Status::Complete);
        QVERIFY(!h.hasAddresses);
        QCOMPARE(h.length, qsizetype(32));
        QCOMPARE(parseProxyHeader("PROXY UNKNOWN\r\n").status, Status::Complete);
    }

    void refusesMalformedV1_data()
    {
        QTest::addColumn<QByteArray>("input");
        QTest::newRow("not a header") << QByteArray("GET / HTTP/1.1\r\n\r\n");
        QTest::newRow("lower case") << QByteArray("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
        QTest::newRow("family mismatch") << QByteArray("PROXY TCP4 ::1 ::1 1 2\r\n");
        QTest::newRow("v6 in v4") << QByteArray("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n");
        QTest::newRow("port too big") << QByteArray("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n");
        QTest::newRow("leading zero") << QByteArray("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n");
        QTest::newRow("two spaces") << QByteArray("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n");
        QTest::newRow("missing port") << QByteArray("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n");
        QTest::newRow("extra field") << QByteArray("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n");
        QTest::newRow("short ipv4") << QByteArray("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n");
        QTest::newRow("LF only") << QByteArray("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n");
        QTest::newRow("CR then junk") << QByteArray("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX");
        QTest::newRow("UDP4") << QByteArray("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n");
        QTest::newRow("no CRLF in 107") << QByteArray("PROXY UNKNOWN ") + QByteArray(100, 'a');
        // The CR as the 107th byte: its LF would be the 108th (found by fuzz_proxyprotocol).
        QTest::newRow("CRLF past 107")
            << QByteArray("PROXY UNKNOWN ") + QByteArray(92, 'a') + QByteArray("\r\n");
        QTest::newRow("control byte") << QByteArray("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n");
    }
    void refusesMalformedV1()
    {
        QFETCH(QByteArray, input);
        const ProxyHeader h = parseProxyHeader(input);
        QCOMPARE(h.status, Status::Invalid);
        QVERIFY(h.error && *h.error);
    }

    void parsesV2Inet()
    {
        const QByteArray header = v2(1, 0x11, inet("203.0.113.9", "10.0.0.1", 40000, 8080));
        const ProxyHeader h = parseProxyHeader(header + "\x16\x03\x01");
        QCOMPARE(h.status, Status::Complete);
        QCOMPARE(h.version, 2);
        QCOMPARE(h.length, header.size());
        QCOMPARE(h.source, ip("203.0.113.9"));
        QCOMPARE(h.sourcePort, quint16(40000));
        QCOMPARE(h.destination, ip("10.0.0.1"));
        QCOMPARE(h.destinationPort, quint16(8080));
        QVERIFY(!h.ssl);
    }

    void parsesV2Inet6AndSkipsTlvs()
    {
        QByteArray addresses(36, '\0');
        const Q_IPV6ADDR src = ip("2001:db8::7").toIPv6Address();
        std::memcpy(addresses.data(), &src, 16);
        addresses[31] = 1; // destination ::1
        qToBigEndian(quint16(1234), addresses.data() + 32);
        qToBigEndian(quint16(443), addresses.data() + 34);
        // ALPN, authority and an SSL TLV saying the client spoke TLS to the proxy.
        const QByteArray tlvs = tlv(0x01, "h2") + tlv(0x02, "example.org") +
                                tlv(0x20, QByteArray("\x01\0\0\0\0", 5) + tlv(0x21, "TLSv1.3"));
        const ProxyHeader h = parseProxyHeader(v2(1, 0x21, addresses, tlvs));
        QCOMPARE(h.status, Status::Complete);
        QCOMPARE(h.source, ip("2001:db8::7"));
        QCOMPARE(h.destination, ip("::1"));
        QCOMPARE(h.sourcePort, quint16(1234));
        QVERIFY(h.ssl);
    }

    void keepsTheSocketsAddressesForLocalAndUnspec()
    {
        // LOCAL: the proxy's own health check; its address block (if any) is skipped.
        ProxyHeader h = parseProxyHeader(v2(0, 0x00, {}));
        QCOMPARE(h.status, Status::Complete);
        QVERIFY(!h.hasAddresses);
        h = parseProxyHeader(v2(0, 0x11, inet("1.1.1.1", "2.2.2.2", 1, 2)));
        QCOMPARE(h.status, Status::Complete);
        QVERIFY(!h.hasAddresses);
        QCOMPARE(h.length, qsizetype(28));
        h = parseProxyHeader(v2(1, 0x00, QByteArray(5, 'x')));
        QCOMPARE(h.status, Status::Complete);
        QVERIFY(!h.hasAddresses);
        // AF_UNIX: no IP address to use.
        h = parseProxyHeader(v2(1, 0x31, QByteArray(216, '\0')));
        QCOMPARE(h.status, Status::Complete);
        QVERIFY(!h.hasAddresses);
    }

    void refusesMalformedV2()
    {
        const QByteArray ok = v2(1, 0x11, inet("1.1.1.1", "2.2.2.2", 1, 2));
        QByteArray bad = ok;
        bad[12] = char(0x11); // version 1 in a v2 header
        QCOMPARE(parseProxyHeader(bad).status, Status::Invalid);
        bad = ok;
        bad[12] = char(0x22); // command 2
        QCOMPARE(parseProxyHeader(bad).status, Status::Invalid);
        bad = ok;
        bad[13] = char(0x41); // family 4
        QCOMPARE(parseProxyHeader(bad).status, Status::Invalid);
        // Datagram on a stream listener.
        QCOMPARE(parseProxyHeader(v2(1, 0x12, inet("1.1.1.1", "2.2.2.2", 1, 2))).status,
                 Status::Invalid);
        // Shorter than its addresses.
        QCOMPARE(parseProxyHeader(v2(1, 0x11, QByteArray(8, '\0'))).status, Status::Invalid);
        // A TLV running past the header, and a truncated SSL TLV.
        QCOMPARE(parseProxyHeader(v2(1, 0x11, inet("1.1.1.1", "2.2.2.2", 1, 2),
                                     QByteArray("\x04\x00\x09xyz", 6)))
                     .status,
                 Status::Invalid);
        QCOMPARE(parseProxyHeader(v2(1, 0x11, inet("1.1.1.1", "2.2.2.2", 1, 2),
                                     tlv(0x20, QByteArray("\x01\0", 2))))
                     .status,
                 Status::Invalid);
        // A signature that goes wrong midway.
        QCOMPARE(parseProxyHeader(QByteArray("\r\n\r\n\0\r\nQUIX", 12)).status, Status::Invalid);
    }

    void waitsForTheRestAtEveryCut()
    {
        const QList<QByteArray> headers{
            "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
            "PROXY UNKNOWN\r\n",
            v2(1, 0x11, inet("1.1.1.1", "2.2.2.2", 1, 2), tlv(0xE0, QByteArray(300, 'z'))),
        };
        for (const QByteArray &header : headers) {
            for (qsizetype cut = 0; cut < header.size(); ++cut) {
                const ProxyHeader h = parseProxyHeader(header.first(cut));
                QVERIFY2(h.status == Status::Incomplete,
                         qPrintable(QStringLiteral("cut at %1 of %2").arg(cut).arg(header.size())));
            }
            QCOMPARE(parseProxyHeader(header).status, Status::Complete);
            QCOMPARE(parseProxyHeader(header).length, header.size());
        }
        // Once the v2 fixed part is in, the whole length is known (the reader peeks that much).
        const QByteArray header = headers[2];
        QCOMPARE(parseProxyHeader(header.first(16)).length, header.size());
    }
};

QTEST_GUILESS_MAIN(TestProxyProtocol)
#include "tst_proxyprotocol.moc"
