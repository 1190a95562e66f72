#include "http/httpdate.h"

#include <QDateTime>
#include <QLocale>
#include <QRandomGenerator>
#include <QTest>
#include <QTimeZone>

#include <thread>

using namespace Berth::Http;

class tst_HttpDate : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void format_data();
    void format();
    void formatMatchesQDateTime();
    void parse_data();
    void parse();
    void roundTrip();
    void rfc850TwoDigitYear();
    void dateCacheFormatsOncePerSecond();
    void dateCacheNow();
    void dateCacheIsPerThread();
};

void tst_HttpDate::format_data()
{
    QTest::addColumn<qint64>("seconds");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("epoch") << qint64(0) << QByteArrayLiteral("Thu, 01 Jan 1970 00:00:00 GMT");
    QTest::newRow("rfc example") << qint64(784111777)
                                 << QByteArrayLiteral("Sun, 06 Nov 1994 08:49:37 GMT");
    QTest::newRow("leap day 2000")
        << qint64(951782400) << QByteArrayLiteral("Tue, 29 Feb 2000 00:00:00 GMT");
    QTest::newRow("leap day 2024")
        << qint64(1709164800) << QByteArrayLiteral("Thu, 29 Feb 2024 00:00:00 GMT");
    QTest::newRow("2100 is not leap")
        << qint64(4107542400) << QByteArrayLiteral("Mon, 01 Mar 2100 00:00:00 GMT");
    QTest::newRow("past 2^31") << qint64(2147483648)
                               << QByteArrayLiteral("Tue, 19 Jan 2038 03:14:08 GMT");
    QTest::newRow("before epoch") << qint64(-1)
                                  << QByteArrayLiteral("Wed, 31 Dec 1969 23:59:59 GMT");
    QTest::newRow("last representable")
        << qint64(253402300799) << QByteArrayLiteral("Fri, 31 Dec 9999 23:59:59 GMT");
    QTest::newRow("clamped high") << std::numeric_limits<qint64>::max()
                                  << QByteArrayLiteral("Fri, 31 Dec 9999 23:59:59 GMT");
    QTest::newRow("clamped low") << std::numeric_limits<qint64>::min()
                                 << QByteArrayLiteral("Sat, 01 Jan 0000 00:00:00 GMT");
}

void tst_HttpDate::format()
{
    QFETCH(qint64, seconds);
    QFETCH(QByteArray, expected);
    QCOMPARE(formatHttpDate(seconds), expected);
}

void tst_HttpDate::formatMatchesQDateTime()
{
    // An independent implementation over a wide spread of instants (1970..2200).
    QRandomGenerator random(42);
    const QLocale c = QLocale::c();
    for (int i = 0; i < 20000; ++i) {
        const qint64 seconds = qint64(random.bounded(7258118400.0));
        const QDateTime dt = QDateTime::fromSecsSinceEpoch(seconds, QTimeZone::utc());
        const QString expected = c.toString(dt, QStringLiteral("ddd, dd MMM yyyy hh:mm:ss 'GMT'"));
        QCOMPARE(formatHttpDate(seconds), expected.toLatin1());
    }
}

void tst_HttpDate::parse_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<qint64>("expected");

    const qint64 example = 784111777;
    QTest::newRow("imf-fixdate") << QByteArrayLiteral("Sun, 06 Nov 1994 08:49:37 GMT") << true
                                 << example;
    QTest::newRow("rfc850") << QByteArrayLiteral("Sunday, 06-Nov-94 08:49:37 GMT") << true
                            << example;
    QTest::newRow("asctime padded day")
        << QByteArrayLiteral("Sun Nov  6 08:49:37 1994") << true << example;
    QTest::newRow("asctime two-digit day")
        << QByteArrayLiteral("Wed Nov 16 08:49:37 1994") << true << example + 10 * 86400;
    QTest::newRow("surrounding whitespace")
        << QByteArrayLiteral("  Sun, 06 Nov 1994 08:49:37 GMT\t") << true << example;
    QTest::newRow("epoch") << QByteArrayLiteral("Thu, 01 Jan 1970 00:00:00 GMT") << true
                           << qint64(0);
    QTest::newRow("leap day") << QByteArrayLiteral("Thu, 29 Feb 2024 12:00:00 GMT") << true
                              << qint64(1709208000);
    QTest::newRow("before epoch") << QByteArrayLiteral("Wed, 31 Dec 1969 23:59:59 GMT") << true
                                  << qint64(-1);
    QTest::newRow("leap second rolls over")
        << QByteArrayLiteral("Sun, 06 Nov 1994 08:49:60 GMT") << true << example + 23;
    // The weekday is not cross-checked (nginx and Apache don't either): the date decides.
    QTest::newRow("wrong weekday")
        << QByteArrayLiteral("Mon, 06 Nov 1994 08:49:37 GMT") << true << example;

    QTest::newRow("empty") << QByteArray() << false << qint64(0);
    QTest::newRow("garbage") << QByteArrayLiteral("yesterday") << false << qint64(0);
    QTest::newRow("number") << QByteArrayLiteral("784111777") << false << qint64(0);
    QTest::newRow("not GMT") << QByteArrayLiteral("Sun, 06 Nov 1994 08:49:37 UTC") << false
                             << qint64(0);
    QTest::newRow("lower-case names")
        << QByteArrayLiteral("sun, 06 nov 1994 08:49:37 GMT") << false << qint64(0);
    QTest::newRow("one-digit day")
        << QByteArrayLiteral("Sun, 6 Nov 1994 08:49:37 GMT") << false << qint64(0);
    QTest::newRow("31 February") << QByteArrayLiteral("Sun, 31 Feb 1994 08:49:37 GMT") << false
                                 << qint64(0);
    QTest::newRow("29 Feb 1900") << QByteArrayLiteral("Thu, 29 Feb 1900 00:00:00 GMT") << false
                                 << qint64(0);
    QTest::newRow("day zero") << QByteArrayLiteral("Sun, 00 Nov 1994 08:49:37 GMT") << false
                              << qint64(0);
    QTest::newRow("hour 24") << QByteArrayLiteral("Sun, 06 Nov 1994 24:00:00 GMT") << false
                             << qint64(0);
    QTest::newRow("minute 60") << QByteArrayLiteral("Sun, 06 Nov 1994 08:60:00 GMT") << false
                               << qint64(0);
    QTest::newRow("bad month") << QByteArrayLiteral("Sun, 06 Noe 1994 08:49:37 GMT") << false
                               << qint64(0);
    QTest::newRow("signs in digits")
        << QByteArrayLiteral("Sun, +6 Nov 1994 08:49:37 GMT") << false << qint64(0);
    QTest::newRow("trailing junk")
        << QByteArrayLiteral("Sun, 06 Nov 1994 08:49:37 GMTx") << false << qint64(0);
    QTest::newRow("rfc850 short day name")
        << QByteArrayLiteral("Sun, 06-Nov-94 08:49:37 GMT") << false << qint64(0);
    QTest::newRow("rfc850 four-digit year")
        << QByteArrayLiteral("Sunday, 06-Nov-1994 08:49:37 GMT") << false << qint64(0);
    QTest::newRow("asctime with GMT")
        << QByteArrayLiteral("Sun Nov  6 08:49:37 1994 GMT") << false << qint64(0);
    QTest::newRow("asctime unpadded")
        << QByteArrayLiteral("Sun Nov 6 08:49:37 1994") << false << qint64(0);
    QTest::newRow("NUL inside") << QByteArray("Sun, 06 Nov 1994 08:49:37 G\0T", 29) << false
                                << qint64(0);
    QTest::newRow("very long") << QByteArray(4096, 'x') << false << qint64(0);
}

void tst_HttpDate::parse()
{
    QFETCH(QByteArray, text);
    QFETCH(bool, valid);
    QFETCH(qint64, expected);
    const std::optional<qint64> parsed = parseHttpDate(text);
    QCOMPARE(parsed.has_value(), valid);
    if (valid)
        QCOMPARE(*parsed, expected);
}

void tst_HttpDate::roundTrip()
{
    QRandomGenerator random(7);
    for (int i = 0; i < 20000; ++i) {
        const qint64 seconds = qint64(random.bounded(253402300799.0));
        const auto parsed = parseHttpDate(formatHttpDate(seconds));
        QVERIFY(parsed);
        QCOMPARE(*parsed, seconds);
    }
}

void tst_HttpDate::rfc850TwoDigitYear()
{
    // RFC 9110 §5.6.7: more than 50 years in the future means the previous century.
    const int year = QDateTime::currentDateTimeUtc().date().year();
    const int soon = (year + 10) % 100;
    const int farAhead = (year + 60) % 100;
    auto parseYear = [](int twoDigits) {
        const QByteArray text = QByteArrayLiteral("Monday, 01-Jan-") +
                                QByteArray::number(twoDigits).rightJustified(2, '0') +
                                QByteArrayLiteral(" 00:00:00 GMT");
        const auto parsed = parseHttpDate(text);
        return parsed ? QDateTime::fromSecsSinceEpoch(*parsed, QTimeZone::utc()).date().year() : -1;
    };
    QCOMPARE(parseYear(soon), year + 10);
    QCOMPARE(parseYear(farAhead), year + 60 - 100);
    QCOMPARE(parseYear(year % 100), year);
}

void tst_HttpDate::dateCacheFormatsOncePerSecond()
{
    const QByteArrayView first = DateCache::at(784111777);
    QCOMPARE(first, QByteArrayView("Sun, 06 Nov 1994 08:49:37 GMT"));
    // The same second is served from the cache: same buffer, same bytes.
    const QByteArrayView again = DateCache::at(784111777);
    QCOMPARE(again.data(), first.data());
    QCOMPARE(again, first);
    const QByteArrayView next = DateCache::at(784111778);
    QCOMPARE(next, QByteArrayView("Sun, 06 Nov 1994 08:49:38 GMT"));
}

void tst_HttpDate::dateCacheNow()
{
    const qint64 before = QDateTime::currentSecsSinceEpoch();
    const QByteArray now = DateCache::now().toByteArray();
    const qint64 after = QDateTime::currentSecsSinceEpoch();
    QCOMPARE(now.size(), 29);
    const auto parsed = parseHttpDate(now);
    QVERIFY(parsed);
    // The coarse clock may lag the precise one by a tick.
    QVERIFY2(*parsed >= before - 1 && *parsed <= after, now.constData());
    QVERIFY(qAbs(DateCache::currentSeconds() - after) <= 1);
}

void tst_HttpDate::dateCacheIsPerThread()
{
    const QByteArrayView here = DateCache::at(0);
    QByteArray there;
    const char *thereBuffer = nullptr;
    std::thread thread([&] {
        const QByteArrayView view = DateCache::at(86400);
        there = view.toByteArray();
        thereBuffer = view.data();
    });
    thread.join();
    QVERIFY(thereBuffer != here.data());
    QCOMPARE(there, QByteArrayLiteral("Fri, 02 Jan 1970 00:00:00 GMT"));
    // The other thread's second did not disturb this thread's entry.
    QCOMPARE(here, QByteArrayView("Thu, 01 Jan 1970 00:00:00 GMT"));
}

QTEST_APPLESS_MAIN(tst_HttpDate)
#include "tst_httpdate.moc"
