// permessage-deflate: offer negotiation (RFC 7692 §7.1 parameters), round trips with and without
// context takeover, interop with zlib as a client compresses, and the deflate bomb refused while
// it inflates.
#include "websocket/deflate.h"

#include <QtTest>

#include <zlib.h>

using namespace Berth::WebSocket;

namespace {

// What a client sends for a message: raw deflate, sync flush, tail removed.
QByteArray clientCompress(z_stream &z, QByteArrayView message)
{
    QByteArray out(int(message.size()) + 1024, Qt::Uninitialized);
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(message.data()));
    z.avail_in = uInt(message.size());
    z.next_out = reinterpret_cast<Bytef *>(out.data());
    z.avail_out = uInt(out.size());
    deflate(&z, Z_SYNC_FLUSH);
    out.resize(out.size() - qsizetype(z.avail_out));
    out.chop(4);
    return out;
}

QByteArray clientInflate(z_stream &z, QByteArrayView compressed)
{
    QByteArray in = compressed.toByteArray() + QByteArray("\x00\x00\xff\xff", 4);
    QByteArray out(1 << 22, Qt::Uninitialized);
    z.next_in = reinterpret_cast<Bytef *>(in.data());
    z.avail_in = uInt(in.size());
    z.next_out = reinterpret_cast<Bytef *>(out.data());
    z.avail_out = uInt(out.size());
    inflate(&z, Z_SYNC_FLUSH);
    out.resize(out.size() - qsizetype(z.avail_out));
    return out;
}

} // namespace

class TestDeflate : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void negotiation_data();
    void negotiation();
    void serverToClient_data();
    void serverToClient();
    void clientToServerAcrossFrames();
    void bombRefusedWhileInflating();
    void garbageIsAnError();
};

void TestDeflate::negotiation_data()
{
    QTest::addColumn<QByteArray>("offers");
    QTest::addColumn<QByteArray>("response"); // null: declined
    QTest::newRow("plain") << QByteArray("permessage-deflate") << QByteArray("permessage-deflate");
    QTest::newRow("case") << QByteArray("PerMessage-Deflate") << QByteArray("permessage-deflate");
    QTest::newRow("client bits no value")
        << QByteArray("permessage-deflate; client_max_window_bits")
        << QByteArray("permessage-deflate");
    QTest::newRow("client bits 10") << QByteArray("permessage-deflate; client_max_window_bits=10")
                                    << QByteArray("permessage-deflate; client_max_window_bits=10");
    QTest::newRow("quoted") << QByteArray("permessage-deflate; server_max_window_bits=\"12\"")
                            << QByteArray("permessage-deflate; server_max_window_bits=12");
    QTest::newRow("no takeover")
        << QByteArray("permessage-deflate;server_no_context_takeover;client_no_context_takeover")
        << QByteArray("permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    QTest::newRow("server bits 8 declined")
        << QByteArray("permessage-deflate; server_max_window_bits=8") << QByteArray();
    QTest::newRow("bits 7") << QByteArray("permessage-deflate; client_max_window_bits=7")
                            << QByteArray();
    QTest::newRow("bits 16") << QByteArray("permessage-deflate; server_max_window_bits=16")
                             << QByteArray();
    QTest::newRow("bits leading zero")
        << QByteArray("permessage-deflate; server_max_window_bits=09") << QByteArray();
    QTest::newRow("server bits without value")
        << QByteArray("permessage-deflate; server_max_window_bits") << QByteArray();
    QTest::newRow("nct with value")
        << QByteArray("permessage-deflate; server_no_context_takeover=1") << QByteArray();
    QTest::newRow("unknown") << QByteArray("permessage-deflate; x=1") << QByteArray();
    QTest::newRow("duplicate")
        << QByteArray("permessage-deflate; client_max_window_bits; client_max_window_bits")
        << QByteArray();
    QTest::newRow("fallback to second")
        << QByteArray("permessage-deflate; server_max_window_bits=8, permessage-deflate")
        << QByteArray("permessage-deflate");
    QTest::newRow("other extension") << QByteArray("x-webkit-deflate-frame") << QByteArray();
}

void TestDeflate::negotiation()
{
    QFETCH(QByteArray, offers);
    QFETCH(QByteArray, response);
    const auto params = negotiateDeflate(offers);
    QCOMPARE(bool(params), !response.isNull());
    if (params)
        QCOMPARE(params->responseHeader(), response);
}

void TestDeflate::serverToClient_data()
{
    QTest::addColumn<bool>("noContextTakeover");
    QTest::addColumn<int>("windowBits");
    QTest::newRow("takeover 15") << false << 15;
    QTest::newRow("no takeover 15") << true << 15;
    QTest::newRow("takeover 9") << false << 9;
}

void TestDeflate::serverToClient()
{
    QFETCH(bool, noContextTakeover);
    QFETCH(int, windowBits);
    DeflateParams params;
    params.serverNoContextTakeover = noContextTakeover;
    params.serverMaxWindowBits = windowBits;
    Deflater deflater(params);
    z_stream client{};
    QCOMPARE(inflateInit2(&client, -windowBits), Z_OK);
    const QByteArray message = QByteArray("the same words again and again, ").repeated(2000);
    qsizetype firstSize = 0;
    for (int i = 0; i < 3; ++i) {
        QByteArray compressed;
        QVERIFY(deflater.compress(message, compressed));
        QVERIFY(compressed.size() < message.size() / 10);
        QVERIFY(!compressed.endsWith(QByteArray("\x00\x00\xff\xff", 4)));
        if (i == 0)
            firstSize = compressed.size();
        else if (!noContextTakeover)
            QVERIFY(compressed.size() < firstSize); // refers back to the previous message
        else
            QCOMPARE(compressed.size(), firstSize);
        QCOMPARE(clientInflate(client, compressed), message);
        if (noContextTakeover)
            inflateReset(&client);
    }
    inflateEnd(&client);
}

void TestDeflate::clientToServerAcrossFrames()
{
    z_stream client{};
    QCOMPARE(deflateInit2(&client, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    Inflater inflater(DeflateParams(), 1 << 20);
    for (int round = 0; round < 3; ++round) {
        const QByteArray message = QByteArray::number(round) + QByteArray(100000, 'q');
        const QByteArray compressed = clientCompress(client, message);
        // Frames cut anywhere: the inflater takes them piece by piece.
        QByteArray out;
        const qsizetype cut = compressed.size() / 3;
        QCOMPARE(inflater.feed(compressed.first(cut), false, out), Inflater::Result::Ok);
        QCOMPARE(inflater.feed(compressed.sliced(cut), true, out), Inflater::Result::Ok);
        QCOMPARE(out, message);
    }
    deflateEnd(&client);
}

void TestDeflate::bombRefusedWhileInflating()
{
    z_stream client{};
    QCOMPARE(deflateInit2(&client, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    const QByteArray zeros(64 << 20, '\0');
    const QByteArray bomb = clientCompress(client, zeros);
    deflateEnd(&client);
    QVERIFY(bomb.size() < 100 * 1024);
    Inflater inflater(DeflateParams(), 64 * 1024);
    QByteArray out;
    QCOMPARE(inflater.feed(bomb, true, out), Inflater::Result::TooBig);
    // Never much more than the limit was produced.
    QVERIFY(out.size() <= 64 * 1024 + 16 * 1024 + 1);
}

void TestDeflate::garbageIsAnError()
{
    Inflater inflater(DeflateParams(), 1 << 20);
    QByteArray out;
    // 0xFF...: a block type 3 (reserved) is invalid deflate data.
    QCOMPARE(inflater.feed(QByteArray(16, '\xff'), true, out), Inflater::Result::Error);
}

QTEST_GUILESS_MAIN(TestDeflate)
#include "tst_deflate.moc"
