#include "staticfixture.h"

using namespace Berth;
using namespace Berth::Tests;

// berth.static: validators, conditional requests (304/412), Range (206, multipart, 416), HEAD and
// large files, streaming with back-pressure.
class tst_StaticFileRanges : public QObject, protected StaticFixture
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void responseHeaders();
    void conditional_data();
    void conditional();
    void ranges_data();
    void ranges();
    void multipart();
    void multipartBackpressure();
    void multipartAbortReleasesFile();
    void bigFile();
};

void tst_StaticFileRanges::initTestCase()
{
    setUpFixture();
}

void tst_StaticFileRanges::responseHeaders()
{
    StaticFileApp::Options o = options();
    o.cacheControl = QByteArrayLiteral("public, max-age=3600");
    StaticFileApp app(o);
    const auto ex = get(app, "/hello.txt");
    QCOMPARE(ex->status(), 200);
    QCOMPARE(ex->header("ETag"), m_etag);
    QCOMPARE(ex->header("Last-Modified"), QByteArrayLiteral("Sun, 06 Nov 1994 08:49:37 GMT"));
    QCOMPARE(ex->header("Cache-Control"), QByteArrayLiteral("public, max-age=3600"));
    QCOMPARE(ex->header("Accept-Ranges"), QByteArrayLiteral("bytes"));
    QCOMPARE(ex->headerCount("Content-Type"), 1);
    QCOMPARE(ex->headerCount("ETag"), 1);
    // Errors carry no validators or caching instructions.
    const auto missing = get(app, "/missing");
    QVERIFY(missing->header("Cache-Control").isNull());
    QVERIFY(missing->header("ETag").isNull());
}

void tst_StaticFileRanges::conditional_data()
{
    QTest::addColumn<FakeExchange::Headers>("headers");
    QTest::addColumn<int>("status");

    using H = FakeExchange::Headers;
    const QByteArray etag = '"' + QByteArray::number(fixedMtime, 16) + "-c\"";
    const QByteArray date = QByteArrayLiteral("Sun, 06 Nov 1994 08:49:37 GMT");
    const QByteArray earlier = QByteArrayLiteral("Sun, 06 Nov 1994 08:49:36 GMT");
    const QByteArray later = QByteArrayLiteral("Mon, 07 Nov 1994 08:49:37 GMT");
    auto h = [](const char *name, const QByteArray &value) {
        return qMakePair(QByteArray(name), value);
    };

    QTest::newRow("none") << H{} << 200;
    QTest::newRow("INM match") << H{h("If-None-Match", etag)} << 304;
    QTest::newRow("INM weak match") << H{h("If-None-Match", "W/" + etag)} << 304;
    QTest::newRow("INM list") << H{h("If-None-Match", "\"a\", " + etag + ", \"b\"")} << 304;
    QTest::newRow("INM split over fields")
        << H{h("if-none-match", "\"a\""), h("If-None-Match", etag)} << 304;
    QTest::newRow("INM star") << H{h("If-None-Match", "*")} << 304;
    QTest::newRow("INM other") << H{h("If-None-Match", "\"other\"")} << 200;
    QTest::newRow("INM malformed") << H{h("If-None-Match", "garbage")} << 200;
    QTest::newRow("IMS equal") << H{h("If-Modified-Since", date)} << 304;
    QTest::newRow("IMS later") << H{h("If-Modified-Since", later)} << 304;
    QTest::newRow("IMS earlier") << H{h("If-Modified-Since", earlier)} << 200;
    QTest::newRow("IMS rfc850") << H{h("If-Modified-Since", "Sunday, 06-Nov-94 08:49:37 GMT")}
                                << 304;
    QTest::newRow("IMS asctime") << H{h("If-Modified-Since", "Sun Nov  6 08:49:37 1994")} << 304;
    QTest::newRow("IMS invalid") << H{h("If-Modified-Since", "yesterday")} << 200;
    QTest::newRow("IMS twice") << H{h("If-Modified-Since", date), h("If-Modified-Since", date)}
                               << 200;
    QTest::newRow("INM beats IMS")
        << H{h("If-None-Match", "\"other\""), h("If-Modified-Since", later)} << 200;
    QTest::newRow("IM match") << H{h("If-Match", etag)} << 200;
    QTest::newRow("IM star") << H{h("If-Match", "*")} << 200;
    QTest::newRow("IM list") << H{h("If-Match", "\"x\", " + etag)} << 200;
    QTest::newRow("IM other") << H{h("If-Match", "\"other\"")} << 412;
    QTest::newRow("IM weak is not strong") << H{h("If-Match", "W/" + etag)} << 412;
    QTest::newRow("IUS equal") << H{h("If-Unmodified-Since", date)} << 200;
    QTest::newRow("IUS earlier") << H{h("If-Unmodified-Since", earlier)} << 412;
    QTest::newRow("IUS invalid") << H{h("If-Unmodified-Since", "soon")} << 200;
    QTest::newRow("IM beats IUS") << H{h("If-Match", etag), h("If-Unmodified-Since", earlier)}
                                  << 200;
    QTest::newRow("412 before 304")
        << H{h("If-Match", "\"other\""), h("If-None-Match", etag)} << 412;
}

void tst_StaticFileRanges::conditional()
{
    QFETCH(FakeExchange::Headers, headers);
    QFETCH(int, status);
    StaticFileApp::Options o = options();
    o.cacheControl = QByteArrayLiteral("max-age=60");
    StaticFileApp app(o);
    for (const QByteArray &method : {QByteArrayLiteral("GET"), QByteArrayLiteral("HEAD")}) {
        const auto ex = get(app, "/hello.txt", headers, method);
        QCOMPARE(ex->status(), status);
        QCOMPARE(ex->protocolErrors(), QStringList());
        QVERIFY(ex->finished());
        if (status == 304) {
            QVERIFY(ex->body().isEmpty());
            QCOMPARE(ex->sendFileCalls(), 0);
            QCOMPARE(ex->header("ETag"), m_etag);
            QCOMPARE(ex->header("Last-Modified"),
                     QByteArrayLiteral("Sun, 06 Nov 1994 08:49:37 GMT"));
            QCOMPARE(ex->header("Cache-Control"), QByteArrayLiteral("max-age=60"));
        } else if (status == 200 && method == "GET") {
            QCOMPARE(ex->body(), QByteArrayLiteral("hello world\n"));
        }
    }
}

void tst_StaticFileRanges::ranges_data()
{
    QTest::addColumn<FakeExchange::Headers>("headers");
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("first"); // -1: the whole file
    QTest::addColumn<int>("last");
    QTest::addColumn<QByteArray>("contentRange");

    using H = FakeExchange::Headers;
    const QByteArray etag = '"' + QByteArray::number(fixedMtime, 16) + "-64\"";
    const QByteArray get = QByteArrayLiteral("GET");
    auto range = [](const QByteArray &value) {
        return qMakePair(QByteArrayLiteral("Range"), value);
    };
    auto ifRange = [](const QByteArray &value) {
        return qMakePair(QByteArrayLiteral("If-Range"), value);
    };
    QByteArray thousand = QByteArrayLiteral("bytes=0-0");
    for (int i = 1; i < 1000; ++i)
        thousand += QByteArrayLiteral(",0-0");

    QTest::newRow("single") << H{range("bytes=0-9")} << get << 206 << 0 << 9
                            << QByteArrayLiteral("bytes 0-9/100");
    QTest::newRow("middle") << H{range("bytes=26-51")} << get << 206 << 26 << 51
                            << QByteArrayLiteral("bytes 26-51/100");
    QTest::newRow("suffix") << H{range("bytes=-10")} << get << 206 << 90 << 99
                            << QByteArrayLiteral("bytes 90-99/100");
    QTest::newRow("open") << H{range("bytes=95-")} << get << 206 << 95 << 99
                          << QByteArrayLiteral("bytes 95-99/100");
    QTest::newRow("end clamped") << H{range("bytes=95-500")} << get << 206 << 95 << 99
                                 << QByteArrayLiteral("bytes 95-99/100");
    QTest::newRow("whole as range")
        << H{range("bytes=0-")} << get << 206 << 0 << 99 << QByteArrayLiteral("bytes 0-99/100");
    QTest::newRow("overlapping") << H{range("bytes=0-50,40-60")} << get << 200 << -1 << -1
                                 << QByteArray();
    QTest::newRow("1000 ranges") << H{range(thousand)} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("past end") << H{range("bytes=100-")} << get << 416 << -1 << -1
                              << QByteArrayLiteral("bytes */100");
    QTest::newRow("zero suffix") << H{range("bytes=-0")} << get << 416 << -1 << -1
                                 << QByteArrayLiteral("bytes */100");
    QTest::newRow("huge") << H{range("bytes=99999999999-")} << get << 416 << -1 << -1
                          << QByteArrayLiteral("bytes */100");
    QTest::newRow("malformed") << H{range("bytes=a-b")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("other unit") << H{range("lines=0-1")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("reversed") << H{range("bytes=9-1")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("two Range fields")
        << H{range("bytes=0-1"), range("bytes=2-3")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("If-Range etag match") << H{range("bytes=0-9"), ifRange(etag)} << get << 206 << 0
                                         << 9 << QByteArrayLiteral("bytes 0-9/100");
    QTest::newRow("If-Range etag mismatch")
        << H{range("bytes=0-9"), ifRange("\"old\"")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("If-Range weak etag")
        << H{range("bytes=0-9"), ifRange("W/" + etag)} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("If-Range date match")
        << H{range("bytes=0-9"), ifRange("Sun, 06 Nov 1994 08:49:37 GMT")} << get << 206 << 0 << 9
        << QByteArrayLiteral("bytes 0-9/100");
    QTest::newRow("If-Range date mismatch")
        << H{range("bytes=0-9"), ifRange("Sun, 06 Nov 1994 08:49:36 GMT")} << get << 200 << -1 << -1
        << QByteArray();
    QTest::newRow("If-Range garbage")
        << H{range("bytes=0-9"), ifRange("whenever")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("If-Range mismatch skips 416")
        << H{range("bytes=500-"), ifRange("\"old\"")} << get << 200 << -1 << -1 << QByteArray();
    // RFC 9110 §14.2: Range is defined for GET only.
    QTest::newRow("HEAD ignores Range")
        << H{range("bytes=0-9")} << QByteArrayLiteral("HEAD") << 200 << -1 << -1 << QByteArray();
}

void tst_StaticFileRanges::ranges()
{
    QFETCH(FakeExchange::Headers, headers);
    QFETCH(QByteArray, method);
    QFETCH(int, status);
    QFETCH(int, first);
    QFETCH(int, last);
    QFETCH(QByteArray, contentRange);

    StaticFileApp app(options());
    const auto ex = get(app, "/letters.txt", headers, method);
    QCOMPARE(ex->status(), status);
    QCOMPARE(ex->header("Content-Range"), contentRange);
    QCOMPARE(ex->protocolErrors(), QStringList());
    const bool head = method == "HEAD";
    if (status == 206) {
        QCOMPARE(ex->body(), m_letters.mid(first, last - first + 1));
        QCOMPARE(ex->contentLength(), qint64(last - first + 1));
        QCOMPARE(ex->header("Content-Type"), QByteArrayLiteral("text/plain; charset=utf-8"));
        QVERIFY(!ex->header("ETag").isEmpty());
    } else if (status == 200) {
        QCOMPARE(ex->body(), head ? QByteArray() : m_letters);
        QCOMPARE(ex->contentLength(), qint64(100));
    } else {
        QVERIFY(ex->sendFileCalls() == 0);
    }
}

void tst_StaticFileRanges::multipart()
{
    StaticFileApp app(options());
    const auto ex = get(app, "/letters.txt", {{"Range", "bytes=0-4, 50-54,-3"}});
    QCOMPARE(ex->status(), 206);
    QVERIFY(ex->finished());
    QCOMPARE(ex->protocolErrors(), QStringList());
    const QByteArray type = ex->header("Content-Type");
    QVERIFY2(type.startsWith("multipart/byteranges; boundary="), type.constData());
    const QByteArray boundary = type.mid(type.indexOf('=') + 1);
    QVERIFY(boundary.size() >= 16);
    QVERIFY(ex->header("Content-Range").isNull());
    QCOMPARE(ex->contentLength(), qint64(ex->body().size()));

    QList<Part> parts;
    QVERIFY2(parseMultipart(ex->body(), boundary, parts), ex->body().constData());
    QCOMPARE(parts.size(), 3);
    const QList<QPair<int, int>> expected = {{0, 4}, {50, 54}, {97, 99}};
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(parts[i].contentType, QByteArrayLiteral("text/plain; charset=utf-8"));
        QCOMPARE(parts[i].contentRange, "bytes " + QByteArray::number(expected[i].first) + '-' +
                                            QByteArray::number(expected[i].second) + "/100");
        QCOMPARE(parts[i].data,
                 m_letters.mid(expected[i].first, expected[i].second - expected[i].first + 1));
    }

    // Two requests get different boundaries.
    const auto again = get(app, "/letters.txt", {{"Range", "bytes=0-1,3-4"}});
    QVERIFY(again->header("Content-Type") != type);
}

void tst_StaticFileRanges::multipartBackpressure()
{
    StaticFileApp app(options());
    const qint64 size = m_big.size();
    auto ex = std::make_unique<FakeExchange>(
        "GET", "/big.bin", FakeExchange::Headers{{"Range", "bytes=0-199999,1000000-1299999,-100"}});
    ex->setHighWaterMark(100 * 1024);
    ex->setPaths({}, "/big.bin");
    QCOMPARE(app.handle(*ex), Pipeline::Outcome::Answered);
    // Back-pressure stopped the app early; it resumes only from the writable handler.
    QVERIFY(!ex->finished());
    QVERIFY(ex->hasWritableHandler());
    QVERIFY(ex->body().size() < 300 * 1024);
    const int rounds = ex->drainUntilFinished();
    QVERIFY2(rounds > 3, QByteArray::number(rounds));
    QVERIFY(ex->finished());
    QCOMPARE(ex->protocolErrors(), QStringList());

    const QByteArray type = ex->header("Content-Type");
    QList<Part> parts;
    QVERIFY(parseMultipart(ex->body(), type.mid(type.indexOf('=') + 1), parts));
    QCOMPARE(parts.size(), 3);
    QCOMPARE(parts[0].data, m_big.mid(0, 200000));
    QCOMPARE(parts[1].data, m_big.mid(1000000, 300000));
    QCOMPARE(parts[2].data, m_big.mid(size - 100));
    QCOMPARE(parts[2].contentRange, "bytes " + QByteArray::number(size - 100) + '-' +
                                        QByteArray::number(size - 1) + '/' +
                                        QByteArray::number(size));
}

void tst_StaticFileRanges::multipartAbortReleasesFile()
{
    const int before = openFdCount();
    {
        StaticFileApp app(options());
        auto ex = std::make_unique<FakeExchange>(
            "GET", "/big.bin", FakeExchange::Headers{{"Range", "bytes=0-999999,2000000-"}});
        ex->setHighWaterMark(1024);
        ex->setPaths({}, "/big.bin");
        app.handle(*ex);
        QVERIFY(!ex->finished());
        QCOMPARE(openFdCount(), before + 1); // the file, held across event-loop turns
        ex->simulateClientAbort();
        QCOMPARE(openFdCount(), before);
        ex->drain(); // a late writable event after the abort must do nothing
        QVERIFY(!ex->finished());
        // And an exchange destroyed mid-stream (the engine's last word) also releases the file.
        auto dropped = std::make_unique<FakeExchange>(
            "GET", "/big.bin", FakeExchange::Headers{{"Range", "bytes=0-9,20-"}});
        dropped->setHighWaterMark(1024);
        dropped->setPaths({}, "/big.bin");
        app.handle(*dropped);
        QCOMPARE(openFdCount(), before + 1);
    }
    QCOMPARE(openFdCount(), before);
}

void tst_StaticFileRanges::bigFile()
{
    StaticFileApp app(options());
    const auto ex = get(app, "/big.bin");
    QCOMPARE(ex->status(), 200);
    QCOMPARE(ex->sendFileCalls(), 1);
    QCOMPARE(ex->contentLength(), qint64(m_big.size()));
    QVERIFY(ex->body() == m_big);
    QCOMPARE(ex->header("Content-Type"), QByteArrayLiteral("application/octet-stream"));

    const auto head = get(app, "/big.bin", {}, "HEAD");
    QCOMPARE(head->status(), 200);
    QCOMPARE(head->contentLength(), qint64(m_big.size()));
    QVERIFY(head->body().isEmpty());

    const auto tail = get(app, "/big.bin", {{"Range", "bytes=-1048576"}});
    QCOMPARE(tail->status(), 206);
    QVERIFY(tail->body() == m_big.right(1048576));
}

QTEST_GUILESS_MAIN(tst_StaticFileRanges)
#include "tst_staticfileranges.moc"
