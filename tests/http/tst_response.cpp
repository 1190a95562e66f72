// Http::Response: field order and replacement, interned common text, and what it notes for the
// HTTP/1 codec (field bytes, whether any field may need filtering).
#include "http/response.h"

#include <QtTest>

using namespace Berth;

class TestResponse : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void setReplacesEveryCaseAndKeepsOrder();
    void headerLookupIgnoresCase();
    void commonTextIsShared();
    void fieldBytesFollowEveryChange();
    void cleanFieldsNeedNoFiltering();
    void framingOrUnsafeFieldsNeedFiltering_data();
    void framingOrUnsafeFieldsNeedFiltering();
    void safeFieldTextAtEveryPosition();
    void framingFieldNames();
    void clearForgetsEverything();
};

namespace {

QByteArray names(const Http::Response &response)
{
    QByteArrayList list;
    for (const auto &[name, value] : response.headers())
        list << name + '=' + value;
    return list.join(',');
}

qsizetype countedBytes(const Http::Response &response)
{
    qsizetype bytes = 0;
    for (const auto &[name, value] : response.headers())
        bytes += name.size() + value.size();
    return bytes;
}

} // namespace

void TestResponse::setReplacesEveryCaseAndKeepsOrder()
{
    Http::Response response;
    response.addHeader("Vary", "Accept-Encoding");
    response.addHeader("content-type", "a");
    response.addHeader("X-Keep", "1");
    response.addHeader("CONTENT-TYPE", "b");
    response.setHeader("Content-Type", "text/plain; charset=utf-8");
    QCOMPARE(names(response),
             QByteArray("Vary=Accept-Encoding,X-Keep=1,Content-Type=text/plain; charset=utf-8"));
    response.setSharedHeader("x-keep", QByteArray("2"));
    QCOMPARE(names(response),
             QByteArray("Vary=Accept-Encoding,Content-Type=text/plain; charset=utf-8,x-keep=2"));
    response.removeHeader("VARY");
    response.removeHeader("X-Absent"); // nothing to remove: nothing changes
    QCOMPARE(names(response), QByteArray("Content-Type=text/plain; charset=utf-8,x-keep=2"));
}

void TestResponse::headerLookupIgnoresCase()
{
    Http::Response response;
    response.addHeader("ETag", "\"1\"");
    response.addHeader("etag", "\"2\"");
    QCOMPARE(response.header("ETAG"), QByteArrayView("\"1\""));
    QVERIFY(response.header("ETa").isNull());
    QVERIFY(response.header("X-None").isNull());
}

void TestResponse::commonTextIsShared()
{
    // Two responses built from common text point at the same static bytes (nothing was
    // allocated); other text is copied, and a view's bytes may change after the call.
    Http::Response a;
    Http::Response b;
    QByteArray name = "Cache-Control";
    QByteArray value = "no-store";
    a.setHeader(name, value);
    b.setHeader("Cache-Control", "no-store");
    QCOMPARE(a.headers()[0].first.constData(), b.headers()[0].first.constData());
    QCOMPARE(a.headers()[0].second.constData(), b.headers()[0].second.constData());
    QVERIFY(a.headers()[0].first.constData() != name.constData());
    a.addHeader("X-Own", "no-store!");
    b.addHeader("X-Own", "no-store!");
    QVERIFY(a.headers()[1].first.constData() != b.headers()[1].first.constData());
    name[0] = 'X';
    QCOMPARE(a.headers()[0].first, QByteArray("Cache-Control"));
    // The same length as a common name but other bytes: not mistaken for it.
    a.addHeader("Content-Typo", "text/plain; charset=utf-9");
    QCOMPARE(a.header("Content-Typo"), QByteArrayView("text/plain; charset=utf-9"));
    // A shared value is kept as it is.
    const QByteArray shared = QByteArray("max-age=") + QByteArray::number(60);
    a.addSharedHeader("Cache-Control", shared);
    QCOMPARE(a.headers().back().second.constData(), shared.constData());
}

void TestResponse::fieldBytesFollowEveryChange()
{
    Http::Response response;
    QCOMPARE(response.fieldBytes(), 0);
    response.addHeader("Content-Type", "application/json");
    response.addHeader("X-Custom", "value");
    response.addSharedHeader("X-Shared", QByteArray("shared value"));
    QCOMPARE(response.fieldBytes(), countedBytes(response));
    response.setHeader("x-custom", "other, longer value");
    QCOMPARE(response.fieldBytes(), countedBytes(response));
    response.setSharedHeader("X-SHARED", QByteArray("s"));
    QCOMPARE(response.fieldBytes(), countedBytes(response));
    response.removeHeader("content-type");
    QCOMPARE(response.fieldBytes(), countedBytes(response));
    response.addHeader("", "");
    QCOMPARE(response.fieldBytes(), countedBytes(response));
}

void TestResponse::cleanFieldsNeedNoFiltering()
{
    Http::Response response;
    response.setHeader("Cache-Control", "no-store");
    response.addHeader("X-Anything", "with\ttab and UTF-8 \xc3\xa9, 24 bytes or more of it");
    response.addSharedHeader("Location", QByteArray("/a/b?c=d"));
    response.addHeader("Servers", "not Server");
    QVERIFY(!response.mayNeedFiltering());
}

void TestResponse::framingOrUnsafeFieldsNeedFiltering_data()
{
    QTest::addColumn<QByteArray>("name");
    QTest::addColumn<QByteArray>("value");
    QTest::addColumn<bool>("shared");
    for (const char *name : {"Content-Length", "transfer-encoding", "CONNECTION", "Date", "server"})
        QTest::addRow("%s", name) << QByteArray(name) << QByteArray("1") << false;
    QTest::addRow("cr-in-value") << QByteArray("X-A") << QByteArray("a\rb") << false;
    QTest::addRow("lf-in-long-value") << QByteArray("X-A") << QByteArray(40, 'a') + '\n' << false;
    QTest::addRow("nul-in-value") << QByteArray("X-A") << QByteArray("ab\0cd", 5) << false;
    QTest::addRow("lf-in-name") << QByteArray("X-\nA") << QByteArray("1") << false;
    QTest::addRow("lf-in-shared") << QByteArray("X-A") << QByteArray("a\nb") << true;
}

void TestResponse::framingOrUnsafeFieldsNeedFiltering()
{
    QFETCH(QByteArray, name);
    QFETCH(QByteArray, value);
    QFETCH(bool, shared);
    Http::Response response;
    response.setHeader("Content-Type", "text/html; charset=utf-8");
    QVERIFY(!response.mayNeedFiltering());
    if (shared)
        response.addSharedHeader(name, value);
    else
        response.addHeader(name, value);
    QVERIFY(response.mayNeedFiltering());
    response.removeHeader(name); // stays set: a stale true only costs the codec its check
    QVERIFY(response.mayNeedFiltering());
}

void TestResponse::safeFieldTextAtEveryPosition()
{
    // Every byte value at every position of texts up to three words long: the word-at-a-time
    // screen must agree with a plain scan, high bytes (UTF-8) and HTAB included.
    for (int size = 1; size <= 24; ++size) {
        for (int at = 0; at < size; ++at) {
            for (int byte = 0; byte < 256; ++byte) {
                QByteArray text(size, 'a');
                text[at] = char(byte);
                const bool expected = byte != '\r' && byte != '\n' && byte != 0;
                if (Http::isSafeFieldText(text) != expected)
                    QFAIL(qPrintable(
                        QStringLiteral("size %1 at %2 byte %3").arg(size).arg(at).arg(byte)));
            }
        }
    }
    QVERIFY(Http::isSafeFieldText(QByteArrayView()));
    QVERIFY(Http::isSafeFieldText(QByteArray(100, char(0xff))));
}

void TestResponse::framingFieldNames()
{
    for (const char *name : {"content-length", "Transfer-Encoding", "connection", "DATE", "Server"})
        QVERIFY2(Http::isFramingFieldName(name), name);
    for (const char *name : {"Content-Type", "Dates", "Serve", "Connection2", "Keep-Alive", ""})
        QVERIFY2(!Http::isFramingFieldName(name), name);
}

void TestResponse::clearForgetsEverything()
{
    Http::Response response;
    response.status = 404;
    response.addHeader("Server", "x");
    response.clear();
    QCOMPARE(response.status, 200);
    QVERIFY(response.headers().empty());
    QCOMPARE(response.fieldBytes(), 0);
    QVERIFY(!response.mayNeedFiltering());
}

QTEST_GUILESS_MAIN(TestResponse)
#include "tst_response.moc"
