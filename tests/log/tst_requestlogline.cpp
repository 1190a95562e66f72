// request.log line format: Skitai's fields, one token each, the user agent quoted.
#include "log/requestlogline.h"

#include <QDateTime>
#include <QtTest>

using namespace Berth;

class TestRequestLogLine : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void fields();
    void emptyFieldsAreDashes();
    void hostileValuesStayInTheirColumn();
    void nonAsciiIsEscapedLikeNginx();
};

static Log::RequestLogRecord sample()
{
    Log::RequestLogRecord r;
    r.startedAtMsecs = QDateTime(QDate(2026, 11, 21), QTime(20, 5, 6)).toMSecsSinceEpoch();
    r.client = "127.0.0.1:51234";
    r.server = "example:8080";
    r.method = "GET";
    r.url = "/a?b=1";
    r.version = "HTTP/1.1";
    r.status = 200;
    r.bytesReceived = 78;
    r.bytesSent = 532;
    r.globalTxn = "abcd-1";
    r.localTxn = "C1-R1";
    r.user = "alice";
    r.token = "tok";
    r.userAgent = "curl/7.88.1";
    r.handlingMicros = 1400;
    r.sendingMicros = 200;
    return r;
}

void TestRequestLogLine::fields()
{
    QCOMPARE(Log::formatRequestLogLine(sample()),
             QByteArray("2026.11.21 20:05:06 127.0.0.1:51234 example:8080 GET /a?b=1 HTTP/1.1 200 "
                        "78 532 abcd-1 C1-R1 alice tok \"curl/7.88.1\" 1ms 0ms"));
}

void TestRequestLogLine::emptyFieldsAreDashes()
{
    Log::RequestLogRecord r = sample();
    r.user = {};
    r.token = {};
    r.method = {};
    r.url = {};
    r.version = {};
    const QList<QByteArray> fields = Log::formatRequestLogLine(r).split(' ');
    QCOMPARE(fields.size(), 17);
    QCOMPARE(fields[4], QByteArray("-"));
    QCOMPARE(fields[5], QByteArray("-"));
    QCOMPARE(fields[6], QByteArray("-"));
    QCOMPARE(fields[12], QByteArray("-"));
    QCOMPARE(fields[13], QByteArray("-"));
}

void TestRequestLogLine::hostileValuesStayInTheirColumn()
{
    Log::RequestLogRecord r = sample();
    r.user = "bob smith";
    r.userAgent = "evil\" 500 \\\r\nx";
    const QByteArray line = Log::formatRequestLogLine(r);
    QVERIFY(!line.contains('\n'));
    QVERIFY(!line.contains('\r'));
    QVERIFY(line.contains(" bob\\x20smith "));
    QVERIFY(line.contains("\"evil\\x22 500 \\x5C\\x0D\\x0Ax\""));
}

void TestRequestLogLine::nonAsciiIsEscapedLikeNginx()
{
    Log::RequestLogRecord r = sample();
    // NEL (C2 85), U+2028 (E2 80 A8), an invalid UTF-8 byte, DEL and a NUL.
    r.userAgent = QByteArrayView("a\xC2\x85"
                                 "b\xE2\x80\xA8"
                                 "c\xFF\x7F\0d",
                                 12);
    r.url = "/caf\xC3\xA9?q=\"x\"";
    r.user = "\xE2\x80\xA8";
    const QByteArray line = Log::formatRequestLogLine(r);
    for (char c : line) {
        const auto u = static_cast<unsigned char>(c);
        QVERIFY2(u >= 0x20 && u < 0x7f, line.constData());
    }
    QVERIFY(line.contains(" /caf\\xC3\\xA9?q=\\x22x\\x22 "));
    QVERIFY(line.contains(" \\xE2\\x80\\xA8 tok "));
    QVERIFY(line.contains("\"a\\xC2\\x85b\\xE2\\x80\\xA8c\\xFF\\x7F\\x00d\""));
    QCOMPARE(line.split(' ').size(), 17);
}

QTEST_GUILESS_MAIN(TestRequestLogLine)
#include "tst_requestlogline.moc"
