// The RFC 6455 frame codec: every rule a client frame can break, checked on the header alone
// where the header decides it, fragmentation state across frames, and the serializer's length
// encodings.
#include "websocket/frame.h"

#include <QtTest>

using namespace Berth::WebSocket;

namespace {

const quint8 Mask[4] = {0x37, 0xfa, 0x21, 0x3d};

QByteArray clientFrame(Opcode op, QByteArrayView payload, bool fin = true, bool rsv1 = false)
{
    QByteArray out;
    appendFrame(out, op, payload, fin, rsv1, Mask);
    return out;
}

QByteArray rawHeader(quint8 b0, quint8 b1, QByteArrayView rest = {})
{
    QByteArray out;
    out.append(char(b0));
    out.append(char(b1));
    out.append(rest);
    return out;
}

} // namespace

class TestFrameParser : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parsesMaskedFrames_data();
    void parsesMaskedFrames();
    void waitsForWholeFrameByteByByte();
    void rfcExampleMaskedHello();
    void errors_data();
    void errors();
    void oversizedRefusedBeforePayload();
    void fragmentationState();
    void serializerLengths_data();
    void serializerLengths();
    void closeCodes_data();
    void closeCodes();
    void closePayloadCutsOnCharacterBoundary();
};

void TestFrameParser::parsesMaskedFrames_data()
{
    QTest::addColumn<int>("length");
    for (int n : {0, 1, 125, 126, 127, 65535, 65536, 100000})
        QTest::newRow(qPrintable(QString::number(n))) << n;
}

void TestFrameParser::parsesMaskedFrames()
{
    QFETCH(int, length);
    QByteArray payload(length, Qt::Uninitialized);
    for (int i = 0; i < length; ++i)
        payload[i] = char(i * 7);
    QByteArray buffer = clientFrame(Opcode::Binary, payload);
    FrameParser parser(FrameOptions{1 << 20, true, false});
    qsizetype pos = 0;
    QCOMPARE(parser.next(buffer, pos), FrameParser::Result::Frame);
    QCOMPARE(pos, buffer.size());
    QCOMPARE(parser.header().opcode, Opcode::Binary);
    QVERIFY(parser.header().fin);
    QCOMPARE(parser.payload().toByteArray(), payload);
}

void TestFrameParser::waitsForWholeFrameByteByByte()
{
    const QByteArray whole =
        clientFrame(Opcode::Text, QByteArray(300, 'a')) + clientFrame(Opcode::Ping, "p");
    FrameParser parser;
    QByteArray buffer;
    qsizetype pos = 0;
    int frames = 0;
    for (char c : whole) {
        buffer.append(c);
        const auto r = parser.next(buffer, pos);
        QVERIFY(r != FrameParser::Result::Error);
        if (r == FrameParser::Result::Frame) {
            ++frames;
            if (frames == 1)
                QCOMPARE(parser.payload().toByteArray(), QByteArray(300, 'a'));
            else
                QCOMPARE(parser.header().opcode, Opcode::Ping);
        }
    }
    QCOMPARE(frames, 2);
    QCOMPARE(pos, whole.size());
}

void TestFrameParser::rfcExampleMaskedHello()
{
    // RFC 6455 §5.7: a single-frame masked text message containing "Hello".
    QByteArray buffer = QByteArray::fromHex("818537fa213d7f9f4d5158");
    FrameParser parser;
    qsizetype pos = 0;
    QCOMPARE(parser.next(buffer, pos), FrameParser::Result::Frame);
    QCOMPARE(parser.payload().toByteArray(), QByteArray("Hello"));
    // And the unmasked server frame for it.
    QByteArray out;
    appendFrame(out, Opcode::Text, "Hello");
    QCOMPARE(out.toHex(), QByteArray("810548656c6c6f"));
}

void TestFrameParser::errors_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("deflate");
    QTest::addColumn<int>("code");
    const QByteArray mask = QByteArray::fromHex("01020304");
    QTest::newRow("unmasked") << rawHeader(0x81, 0x01, "a") << false << 1002;
    QTest::newRow("rsv1 without extension") << rawHeader(0xC1, 0x80, mask) << false << 1002;
    QTest::newRow("rsv2") << rawHeader(0xA1, 0x80, mask) << true << 1002;
    QTest::newRow("rsv3") << rawHeader(0x91, 0x80, mask) << true << 1002;
    for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF})
        QTest::newRow(qPrintable(QStringLiteral("opcode %1").arg(op)))
            << rawHeader(quint8(0x80 | op), 0x80, mask) << false << 1002;
    QTest::newRow("ping 126") << rawHeader(0x89, 0xFE, QByteArray::fromHex("007e") + mask) << false
                              << 1002;
    QTest::newRow("fragmented ping") << rawHeader(0x09, 0x80, mask) << false << 1002;
    QTest::newRow("fragmented close") << rawHeader(0x08, 0x80, mask) << false << 1002;
    QTest::newRow("rsv1 on ping with deflate") << rawHeader(0xC9, 0x80, mask) << true << 1002;
    QTest::newRow("continuation first") << rawHeader(0x80, 0x80, mask) << false << 1002;
    QTest::newRow("64-bit msb") << rawHeader(0x82, 0xFF,
                                             QByteArray::fromHex("8000000000000000") + mask)
                                << false << 1002;
    QTest::newRow("over max frame")
        << rawHeader(0x82, 0xFF, QByteArray::fromHex("0000000000100001")) << false << 1009;
}

void TestFrameParser::errors()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, deflate);
    QFETCH(int, code);
    FrameParser parser(FrameOptions{1 << 20, true, deflate});
    qsizetype pos = 0;
    QCOMPARE(parser.next(bytes, pos), FrameParser::Result::Error);
    QCOMPARE(parser.errorCode(), code);
    QCOMPARE(pos, 0);
}

void TestFrameParser::oversizedRefusedBeforePayload()
{
    // Only the header of a 2 GB frame: refused at once, nothing waits for the payload.
    QByteArray bytes = rawHeader(0x82, 0xFF, QByteArray::fromHex("0000000080000000"));
    FrameParser parser(FrameOptions{4096, true, false});
    qsizetype pos = 0;
    QCOMPARE(parser.next(bytes, pos), FrameParser::Result::Error);
    QCOMPARE(parser.errorCode(), 1009);
    // 16-bit length just over the limit too.
    QByteArray small = rawHeader(0x82, 0xFE, QByteArray::fromHex("1001"));
    FrameParser parser2(FrameOptions{4096, true, false});
    pos = 0;
    QCOMPARE(parser2.next(small, pos), FrameParser::Result::Error);
    QCOMPARE(parser2.errorCode(), 1009);
}

void TestFrameParser::fragmentationState()
{
    FrameParser parser;
    QByteArray b = clientFrame(Opcode::Text, "a", false) + clientFrame(Opcode::Ping, "") +
                   clientFrame(Opcode::Continuation, "b", false) +
                   clientFrame(Opcode::Continuation, "c", true) +
                   clientFrame(Opcode::Binary, "d", false) + clientFrame(Opcode::Text, "e");
    qsizetype pos = 0;
    QCOMPARE(parser.next(b, pos), FrameParser::Result::Frame);
    QVERIFY(parser.inMessage());
    QCOMPARE(parser.next(b, pos), FrameParser::Result::Frame); // a ping in between is fine
    QVERIFY(parser.inMessage());
    QCOMPARE(parser.next(b, pos), FrameParser::Result::Frame);
    QCOMPARE(parser.next(b, pos), FrameParser::Result::Frame);
    QVERIFY(!parser.inMessage());
    QCOMPARE(parser.next(b, pos), FrameParser::Result::Frame);
    QVERIFY(parser.inMessage());
    QCOMPARE(parser.next(b, pos), FrameParser::Result::Error); // new message inside one
    QCOMPARE(parser.errorCode(), 1002);

    FrameParser deflating(FrameOptions{1 << 20, true, true});
    QByteArray c = clientFrame(Opcode::Text, "a", false, true) +
                   clientFrame(Opcode::Continuation, "b", true, true);
    pos = 0;
    QCOMPARE(deflating.next(c, pos), FrameParser::Result::Frame);
    QVERIFY(deflating.header().rsv1);
    QCOMPARE(deflating.next(c, pos), FrameParser::Result::Error); // RSV1 only on the first
    QCOMPARE(deflating.errorCode(), 1002);
}

void TestFrameParser::serializerLengths_data()
{
    QTest::addColumn<int>("length");
    QTest::addColumn<int>("headerSize");
    QTest::newRow("0") << 0 << 2;
    QTest::newRow("125") << 125 << 2;
    QTest::newRow("126") << 126 << 4;
    QTest::newRow("65535") << 65535 << 4;
    QTest::newRow("65536") << 65536 << 10;
}

void TestFrameParser::serializerLengths()
{
    QFETCH(int, length);
    QFETCH(int, headerSize);
    QByteArray out;
    appendFrame(out, Opcode::Binary, QByteArray(length, 'z'));
    QCOMPARE(out.size(), qsizetype(headerSize + length));
    QCOMPARE(quint8(out[0]), quint8(0x82));
    QVERIFY(!(quint8(out[1]) & 0x80)); // server frames are not masked
    // A server frame parses with a parser that does not require masks.
    FrameParser parser(FrameOptions{1 << 20, false, false});
    qsizetype pos = 0;
    QCOMPARE(parser.next(out, pos), FrameParser::Result::Frame);
    QCOMPARE(parser.payload().size(), qsizetype(length));
}

void TestFrameParser::closeCodes_data()
{
    QTest::addColumn<int>("code");
    QTest::addColumn<bool>("valid");
    for (int c :
         {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999})
        QTest::newRow(qPrintable(QString::number(c))) << c << true;
    for (int c : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535})
        QTest::newRow(qPrintable(QString::number(c))) << c << false;
}

void TestFrameParser::closeCodes()
{
    QFETCH(int, code);
    QFETCH(bool, valid);
    QCOMPARE(isValidCloseCode(code), valid);
}

void TestFrameParser::closePayloadCutsOnCharacterBoundary()
{
    QCOMPARE(closePayload(1005, "ignored"), QByteArray());
    QCOMPARE(closePayload(1000, "ok"), QByteArray("\x03\xe8ok", 4));
    // 122 ASCII bytes then a 2-byte character: byte 123 would split it.
    const QByteArray reason = QByteArray(122, 'r') + "\xc3\xa9" + "tail";
    const QByteArray p = closePayload(1001, reason);
    QVERIFY(p.size() <= 125);
    QCOMPARE(p.sliced(2), QByteArray(122, 'r'));
}

QTEST_GUILESS_MAIN(TestFrameParser)
#include "tst_frameparser.moc"
