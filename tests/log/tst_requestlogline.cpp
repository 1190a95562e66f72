// request.log line format: Skitai's fields, one token each, the user agent quoted.
#include "log/requestlogline.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QtTest>

#include <algorithm>
#include <cstring>
#include <limits>

#include <sys/mman.h>
#include <unistd.h>

using namespace Berth;

class TestRequestLogLine : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void fields();
    void emptyFieldsAreDashes();
    void hostileValuesStayInTheirColumn();
    void nonAsciiIsEscapedLikeNginx();
    void utcTimeIsIsoWithMilliseconds();
    void combinedIsApacheFormat();
    void combinedIpv6AndMissingValues();
    void jsonIsTypedAndOneLine();
    void jsonEscapesUnicodeAndInvalidUtf8();
    void worstCaseEscapingFitsAndAppends();
    void everyByteAtEveryOffsetMatchesTheBytewiseRule();
    void numbersAtDigitBoundaries();
    void everyLengthMatchesTheBytewiseRule();
    void fieldsAgainstUnmappedMemoryAreReadExactly();
    void writesStayWithinMaxBytes();
};

// The one-byte-at-a-time rule (nginx's): printable ASCII but '"' and '\\' stands for itself, a
// space only where allowed (the quoted user agent); anything else is \xHH.
static QByteArray bytewise(QByteArrayView value, bool spaceAllowed)
{
    QByteArray out;
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        const bool plain = u == ' ' ? spaceAllowed : u > ' ' && u < 0x7f && c != '"' && c != '\\';
        out += plain ? QByteArray(1, c)
                     : "\\x" + QByteArray::number(u, 16).rightJustified(2, '0').toUpper();
    }
    return out;
}

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

void TestRequestLogLine::utcTimeIsIsoWithMilliseconds()
{
    Log::RequestLogRecord r = sample();
    r.startedAtMsecs =
        QDateTime(QDate(2026, 11, 21), QTime(20, 5, 6, 42), Qt::UTC).toMSecsSinceEpoch();
    const QByteArray line =
        Log::formatRequestLogLine(r, Log::RequestLogFormat::Skitai, Log::LogTime::Utc);
    QVERIFY2(line.startsWith("2026-11-21 20:05:06.042Z 127.0.0.1:51234 "), line.constData());
    QCOMPARE(line.split(' ').size(), 17);
    QCOMPARE(Log::formatLogTimestamp(r.startedAtMsecs + 1, Log::LogTime::Utc),
             QByteArray("2026-11-21 20:05:06.043Z"));
}

void TestRequestLogLine::combinedIsApacheFormat()
{
    Log::RequestLogRecord r = sample();
    r.startedAtMsecs = QDateTime(QDate(2026, 11, 21), QTime(20, 5, 6), Qt::UTC).toMSecsSinceEpoch();
    r.referer = "https://example.org/from";
    QCOMPARE(Log::formatRequestLogLine(r, Log::RequestLogFormat::Combined, Log::LogTime::Utc),
             QByteArray("127.0.0.1 - alice [21/Nov/2026:20:05:06 +0000] \"GET /a?b=1 HTTP/1.1\" "
                        "200 532 \"https://example.org/from\" \"curl/7.88.1\""));
    // Local time carries the local offset, as Apache writes it.
    const QByteArray local = Log::formatRequestLogLine(r, Log::RequestLogFormat::Combined);
    QVERIFY2(QRegularExpression(QStringLiteral(R"(\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\])"))
                 .match(QString::fromLatin1(local))
                 .hasMatch(),
             local.constData());
}

void TestRequestLogLine::combinedIpv6AndMissingValues()
{
    Log::RequestLogRecord r = sample();
    r.client = "::1:40000";
    r.user = {};
    r.method = {};
    r.url = {};
    r.version = {};
    r.bytesSent = 0;
    r.userAgent = "a\"b";
    const QByteArray line =
        Log::formatRequestLogLine(r, Log::RequestLogFormat::Combined, Log::LogTime::Utc);
    QVERIFY2(line.startsWith("::1 - - ["), line.constData());
    QVERIFY2(line.endsWith("] \"-\" 200 - \"-\" \"a\\x22b\""), line.constData());
}

void TestRequestLogLine::jsonIsTypedAndOneLine()
{
    Log::RequestLogRecord r = sample();
    r.token = {};
    r.startedAtMsecs =
        QDateTime(QDate(2026, 11, 21), QTime(20, 5, 6, 7), Qt::UTC).toMSecsSinceEpoch();
    const QByteArray line =
        Log::formatRequestLogLine(r, Log::RequestLogFormat::Json, Log::LogTime::Utc);
    QJsonParseError error;
    const QJsonObject o = QJsonDocument::fromJson(line, &error).object();
    QCOMPARE(error.error, QJsonParseError::NoError);
    QCOMPARE(o.value(QLatin1String("time")).toString(), QStringLiteral("2026-11-21T20:05:06.007Z"));
    QCOMPARE(o.value(QLatin1String("client")).toString(), QStringLiteral("127.0.0.1:51234"));
    QCOMPARE(o.value(QLatin1String("server")).toString(), QStringLiteral("example:8080"));
    QCOMPARE(o.value(QLatin1String("method")).toString(), QStringLiteral("GET"));
    QCOMPARE(o.value(QLatin1String("url")).toString(), QStringLiteral("/a?b=1"));
    QCOMPARE(o.value(QLatin1String("version")).toString(), QStringLiteral("HTTP/1.1"));
    QCOMPARE(o.value(QLatin1String("status")).toInt(), 200);
    QCOMPARE(o.value(QLatin1String("bytes_received")).toInt(), 78);
    QCOMPARE(o.value(QLatin1String("bytes_sent")).toInt(), 532);
    QCOMPARE(o.value(QLatin1String("txn")).toString(), QStringLiteral("abcd-1"));
    QCOMPARE(o.value(QLatin1String("local_txn")).toString(), QStringLiteral("C1-R1"));
    QCOMPARE(o.value(QLatin1String("user")).toString(), QStringLiteral("alice"));
    QVERIFY(o.value(QLatin1String("token")).isNull());
    QVERIFY(o.value(QLatin1String("referer")).isNull());
    QCOMPARE(o.value(QLatin1String("user_agent")).toString(), QStringLiteral("curl/7.88.1"));
    QCOMPARE(o.value(QLatin1String("handling_us")).toInt(), 1400);
    QCOMPARE(o.value(QLatin1String("sending_us")).toInt(), 200);
    QCOMPARE(o.size(), 17);
}

void TestRequestLogLine::jsonEscapesUnicodeAndInvalidUtf8()
{
    Log::RequestLogRecord r = sample();
    // é, U+2028, an emoji (surrogate pair), an invalid byte, a truncated sequence, CR LF, quote.
    r.userAgent = "\xC3\xA9\xE2\x80\xA8\xF0\x9F\x98\x80\xFF\xE2\x80\r\n\"\\";
    const QByteArray line = Log::formatRequestLogLine(r, Log::RequestLogFormat::Json);
    for (char c : line) {
        const auto u = static_cast<unsigned char>(c);
        QVERIFY2(u >= 0x20 && u < 0x7f, line.constData());
    }
    QJsonParseError error;
    const QJsonObject o = QJsonDocument::fromJson(line, &error).object();
    QCOMPARE(error.error, QJsonParseError::NoError);
    QCOMPARE(o.value(QLatin1String("user_agent")).toString(),
             QString::fromUtf8("\xC3\xA9\xE2\x80\xA8\xF0\x9F\x98\x80") + QChar(0xfffd) +
                 QChar(0xfffd) + QChar(0xfffd) + QStringLiteral("\r\n\"\\"));
}

// The formatter writes into space it sizes for the worst case (every byte escaped): fields made
// only of bytes that expand the most must come out whole, appended after what the buffer held.
void TestRequestLogLine::worstCaseEscapingFitsAndAppends()
{
    const QByteArray controls(3000, '\x01');
    const QByteArray invalid(3000, '\xFF');
    Log::RequestLogRecord r = sample();
    r.client = r.server = r.method = r.url = r.version = r.globalTxn = r.localTxn = r.user =
        r.token = r.referer = controls;
    r.userAgent = invalid;
    r.status = 999;
    r.bytesReceived = r.bytesSent = std::numeric_limits<qint64>::max();
    for (const auto format : {Log::RequestLogFormat::Skitai, Log::RequestLogFormat::Combined,
                              Log::RequestLogFormat::Json}) {
        QByteArray line("kept:");
        Log::appendRequestLogLine(line, r, format);
        QVERIFY(line.startsWith("kept:"));
        QCOMPARE(line.sliced(5), Log::formatRequestLogLine(r, format));
        if (format == Log::RequestLogFormat::Json) {
            // \u0001 for each control byte, \ufffd for each invalid one: 6 bytes each.
            QVERIFY(
                line.contains("\"user_agent\":\"" + QByteArray("\\ufffd").repeated(3000) + '"'));
            QVERIFY(line.contains("\"url\":\"" + QByteArray("\\u0001").repeated(3000) + '"'));
        } else {
            QVERIFY(line.contains(' ' + QByteArray("\\x01").repeated(3000) + ' '));
        }
        QVERIFY(line.contains("9223372036854775807"));
    }
}

// The formatter scans eight bytes at a time: each byte value, at each offset of a field long
// enough for two words and a tail, must come out exactly as the one-byte-at-a-time rule says.
void TestRequestLogLine::everyByteAtEveryOffsetMatchesTheBytewiseRule()
{
    const auto expected = [](const QByteArray &value, bool spaceAllowed) {
        QByteArray out;
        for (char c : value) {
            const auto u = static_cast<unsigned char>(c);
            const bool plain =
                u == ' ' ? spaceAllowed : u > ' ' && u < 0x7f && c != '"' && c != '\\';
            out += plain ? QByteArray(1, c)
                         : "\\x" + QByteArray::number(u, 16).rightJustified(2, '0').toUpper();
        }
        return out;
    };
    Log::RequestLogRecord r = sample();
    for (int byte = 0; byte < 256; ++byte) {
        for (int offset = 0; offset < 19; ++offset) {
            QByteArray value(19, 'a');
            value[offset] = char(byte);
            r.url = value;
            r.userAgent = value;
            const QByteArray line = Log::formatRequestLogLine(r);
            const QByteArray want = ' ' + expected(value, false) + " HTTP/1.1 ";
            QVERIFY2(line.contains(want), line.constData());
            QVERIFY2(line.contains(" \"" + expected(value, true) + "\" 1ms"), line.constData());
            if (byte >= 0x20 && byte < 0x7f && byte != '"' && byte != '\\') {
                const QByteArray json = Log::formatRequestLogLine(r, Log::RequestLogFormat::Json);
                QVERIFY2(json.contains("\"url\":\"" + value + '"'), json.constData());
            }
        }
    }
}

// Small numbers take a shorter path than large ones: both must print every value as decimal.
void TestRequestLogLine::numbersAtDigitBoundaries()
{
    const QList<qint64> values = {
        0,      1,    9,      10,    99,        100,
        999,    1000, 9999,   10000, 99999,     100000,
        123456, -1,   -99999, 4096,  1LL << 40, std::numeric_limits<qint64>::max()};
    Log::RequestLogRecord r = sample();
    for (qint64 value : values) {
        r.bytesReceived = value;
        r.bytesSent = value;
        r.status = int(std::clamp<qint64>(value, -100000, 100000));
        r.handlingMicros = value >= 0 && value < 1000000000 ? value * 1000 : 0;
        const QList<QByteArray> fields = Log::formatRequestLogLine(r).split(' ');
        QCOMPARE(fields.size(), 17);
        QCOMPARE(fields[7], QByteArray::number(r.status));
        QCOMPARE(fields[8], QByteArray::number(value));
        QCOMPARE(fields[9], QByteArray::number(value));
        QCOMPARE(fields[15], QByteArray::number(r.handlingMicros / 1000) + "ms");
    }
}

// Fields are copied and checked in whole words whatever their length (1-3 bytes, 4-7, 8-15, 16
// and more take different paths): every length, with a byte that needs escaping (or none) at
// every offset, must come out as the one-byte rule says, in every format.
void TestRequestLogLine::everyLengthMatchesTheBytewiseRule()
{
    const QByteArray probes("\x00\x1f\x20\x21\x22\x5c\x7e\x7f\x80\xff", 10);
    const auto plainFiller = [](int i) { // varied printable bytes, none to escape
        const char c = char('!' + (i * 7) % 90);
        return c == '"' || c == '\\' ? 'b' : c;
    };
    Log::RequestLogRecord r = sample();
    for (int length = 0; length <= 40; ++length) {
        for (int offset = -1; offset < length; ++offset) {
            for (const char probe : offset < 0 ? QByteArray("a") : probes) {
                QByteArray value(length, 'a');
                for (int i = 0; i < length; ++i)
                    value[i] = plainFiller(i);
                if (offset >= 0)
                    value[offset] = probe;
                r.url = value;
                r.userAgent = value;
                r.globalTxn = value;
                const QByteArray line = Log::formatRequestLogLine(r);
                const QByteArray url = value.isEmpty() ? "-" : bytewise(value, false);
                QVERIFY2(line.contains(" GET " + url + " HTTP/1.1 200 "), line.constData());
                QVERIFY2(line.contains(' ' + url + " C1-R1 "), line.constData());
                QVERIFY2(line.contains(" \"" + bytewise(value, true) + "\" 1ms"), line.constData());
                const QByteArray combined =
                    Log::formatRequestLogLine(r, Log::RequestLogFormat::Combined);
                QVERIFY2(combined.contains(" \"GET " + bytewise(value, false) + " HTTP/1.1\" "),
                         combined.constData());
                const QByteArray json = Log::formatRequestLogLine(r, Log::RequestLogFormat::Json);
                QJsonParseError error;
                const QJsonObject o = QJsonDocument::fromJson(json, &error).object();
                QVERIFY2(error.error == QJsonParseError::NoError, json.constData());
                const auto u = static_cast<unsigned char>(probe);
                if (offset < 0 || u < 0x80) {
                    const QJsonValue want =
                        value.isEmpty() ? QJsonValue() : QJsonValue(QString::fromLatin1(value));
                    QCOMPARE(o.value(QLatin1String("url")), want);
                    QCOMPARE(o.value(QLatin1String("user_agent")), want);
                } else {
                    QCOMPARE(o.value(QLatin1String("url")).toString().count(QChar(0xfffd)), 1);
                }
            }
        }
    }
}

// A field may end at the end of readable memory (a view into a request's buffer): the word-wise
// copy must never read a byte before or after it. Values are put flush against pages that are
// not mapped; a stray read would crash the test.
void TestRequestLogLine::fieldsAgainstUnmappedMemoryAreReadExactly()
{
    const auto page = size_t(::sysconf(_SC_PAGESIZE));
    void *mapped =
        ::mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    QVERIFY(mapped != MAP_FAILED);
    char *base = static_cast<char *>(mapped);
    QCOMPARE(::mprotect(base, page, PROT_NONE), 0);
    QCOMPARE(::mprotect(base + 2 * page, page, PROT_NONE), 0);
    char *first = base + page;   // readable from here...
    char *end = base + 2 * page; // ...to here
    Log::RequestLogRecord r = sample();
    for (int length = 1; length <= 40; ++length) {
        for (const bool dirty : {false, true}) {
            QByteArray value(length, 'x');
            if (dirty)
                value[length - 1] = '"';
            // At the end of the readable page, then at its start.
            for (char *at : {end - length, first}) {
                std::memcpy(at, value.constData(), size_t(length));
                const QByteArrayView field(at, length);
                r.url = field;
                r.userAgent = field;
                r.client = field;
                for (const auto format :
                     {Log::RequestLogFormat::Skitai, Log::RequestLogFormat::Combined,
                      Log::RequestLogFormat::Json}) {
                    const QByteArray line = Log::formatRequestLogLine(r, format);
                    QVERIFY(line.contains(format == Log::RequestLogFormat::Json
                                              ? QByteArray(value).replace("\"", "\\u0022")
                                              : bytewise(value, false)));
                }
            }
        }
    }
    ::munmap(mapped, 3 * page);
}

// writeRequestLogLine() may write past the end of the line (whole words, a whole timestamp), but
// never past the room maxRequestLogLineBytes() promised.
void TestRequestLogLine::writesStayWithinMaxBytes()
{
    Log::RequestLogRecord r = sample();
    const QByteArray invalid(3, '\xFF');
    QList<Log::RequestLogRecord> records{r};
    r.userAgent = {};
    r.user = r.token = {};
    records.append(r);
    r.client = r.server = r.method = r.url = r.version = r.globalTxn = r.localTxn = {};
    records.append(r);
    r.userAgent = invalid;
    records.append(r);
    for (const Log::RequestLogRecord &record : records) {
        for (const auto format : {Log::RequestLogFormat::Skitai, Log::RequestLogFormat::Combined,
                                  Log::RequestLogFormat::Json}) {
            for (const auto time : {Log::LogTime::Local, Log::LogTime::Utc}) {
                const qsizetype room = Log::maxRequestLogLineBytes(record);
                QByteArray buffer(room + 64, '\xAA');
                char *end = Log::writeRequestLogLine(buffer.data(), record, format, time);
                QVERIFY(end > buffer.data() && end <= buffer.data() + room);
                QCOMPARE(QByteArray(buffer.data(), end - buffer.data()),
                         Log::formatRequestLogLine(record, format, time));
                QCOMPARE(buffer.sliced(room), QByteArray(64, '\xAA'));
            }
        }
    }
}

QTEST_GUILESS_MAIN(TestRequestLogLine)
#include "tst_requestlogline.moc"
