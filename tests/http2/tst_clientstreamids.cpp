// ClientStreamIds: which HEADERS a client may send on an id at or below its highest one
// (RFC 9113 §5.1.1). Http2Connection answers a refused one with GOAWAY PROTOCOL_ERROR
// (conformance/test_71_http2_frames.py drives that over h2c and h2 over TLS).
#include "http2/clientstreamids.h"

#include <QtTest>

using Berth::Http2::ClientStreamIds;

class TestClientStreamIds : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void consecutiveIdsAreAllNew()
    {
        ClientStreamIds ids;
        for (std::int32_t id = 1; id < 2001; id += 2)
            QVERIFY(ids.admit(id));
        QCOMPARE(ids.highest(), 1999);
        // Trailers (or anything nghttp2 then judges) on any stream the client opened.
        QVERIFY(ids.admit(1));
        QVERIFY(ids.admit(999));
    }

    void aSkippedIdIsClosedForGood()
    {
        ClientStreamIds ids;
        QVERIFY(ids.admit(5)); // 1 and 3 skipped
        QVERIFY(!ids.admit(3));
        QVERIFY(!ids.admit(1));
        QVERIFY(ids.admit(5));
        QVERIFY(ids.admit(7));
        QVERIFY(ids.admit(13)); // 9 and 11 skipped
        QVERIFY(!ids.admit(9));
        QVERIFY(!ids.admit(11));
        QVERIFY(ids.admit(7));
        QVERIFY(ids.admit(13));
        QCOMPARE(ids.highest(), 13);
    }

    void theNewestSkippedRangesAreKept()
    {
        // Each new stream skips one id: only the newest MaxRanges gaps are remembered, so
        // memory stays bounded whatever the client does.
        ClientStreamIds ids;
        std::int32_t id = 1;
        QVERIFY(ids.admit(id));
        for (int i = 0; i < 3 * ClientStreamIds::MaxRanges; ++i) {
            id += 4;
            QVERIFY(ids.admit(id));
        }
        for (int back = 1; back <= ClientStreamIds::MaxRanges; ++back)
            QVERIFY2(!ids.admit(id - 4 * back + 2), qPrintable(QString::number(back)));
        QVERIFY(ids.admit(3)); // forgotten: nghttp2's leniency applies
        for (int back = 0; back <= 3 * ClientStreamIds::MaxRanges; ++back)
            QVERIFY(ids.admit(id - 4 * back)); // every id it opened
    }

    void theHighestIdIsAccepted()
    {
        ClientStreamIds ids;
        QVERIFY(ids.admit(1));
        QVERIFY(ids.admit(0x7fffffff)); // 3 .. 2^31-3 skipped
        QVERIFY(!ids.admit(0x7ffffffd));
        QVERIFY(!ids.admit(3));
        QVERIFY(ids.admit(1));
    }
};

QTEST_GUILESS_MAIN(TestClientStreamIds)
#include "tst_clientstreamids.moc"
