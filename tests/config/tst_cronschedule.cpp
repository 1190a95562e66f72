// The crontab parser and next run times (common/cron): a table of expressions and the times
// they run after a given instant, across DST changes in Europe/Berlin and America/New_York and
// across Feb 29; and a table of invalid lines with the field and column they are blamed on.
#include "cron/crontab.h"

#include <QTest>

using namespace Berth::Cron;
using namespace Qt::StringLiterals;

class TstCronSchedule : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void nextTimes_data();
    void nextTimes();
    void errors_data();
    void errors();
    void specials_data();
    void specials();
    void secondsOnlyWhenAllowed();
    void commandKeptVerbatim();
    void rebootNeverRunsOnSchedule();
    void impossibleDateHasNoNextTime();
};

void TstCronSchedule::nextTimes_data()
{
    QTest::addColumn<QString>("line");
    QTest::addColumn<QString>("zone");
    QTest::addColumn<QString>("after");
    QTest::addColumn<QStringList>("expected");

    QTest::newRow("every 15 minutes")
        << u"*/15 * * * * x"_s << u"UTC"_s << u"2026-01-01T00:07:00Z"_s
        << QStringList{u"2026-01-01T00:15:00Z"_s, u"2026-01-01T00:30:00Z"_s,
                       u"2026-01-01T00:45:00Z"_s};
    QTest::newRow("strictly after") << u"0 * * * * x"_s << u"UTC"_s << u"2026-01-01T05:00:00Z"_s
                                    << QStringList{u"2026-01-01T06:00:00Z"_s};
    QTest::newRow("skitai a/step")
        << u"9 2/12 * * * x"_s << u"UTC"_s << u"2026-01-01T00:00:00Z"_s
        << QStringList{u"2026-01-01T02:09:00Z"_s, u"2026-01-01T14:09:00Z"_s,
                       u"2026-01-02T02:09:00Z"_s};
    QTest::newRow("lists ranges steps")
        << u"0,30 8-10/2 * * * x"_s << u"UTC"_s << u"2026-01-01T08:15:00Z"_s
        << QStringList{u"2026-01-01T08:30:00Z"_s, u"2026-01-01T10:00:00Z"_s,
                       u"2026-01-01T10:30:00Z"_s, u"2026-01-02T08:00:00Z"_s};
    QTest::newRow("names") << u"0 9 * JAN,jul mon-fri x"_s << u"UTC"_s << u"2026-01-29T10:00:00Z"_s
                           << QStringList{u"2026-01-30T09:00:00Z"_s, u"2026-07-01T09:00:00Z"_s};
    QTest::newRow("7 is sunday") << u"0 0 * * 7 x"_s << u"UTC"_s << u"2026-03-02T00:00:00Z"_s
                                 << QStringList{u"2026-03-08T00:00:00Z"_s,
                                                u"2026-03-15T00:00:00Z"_s};
    QTest::newRow("feb 29") << u"0 0 29 2 * x"_s << u"UTC"_s << u"2025-03-01T00:00:00Z"_s
                            << QStringList{u"2028-02-29T00:00:00Z"_s, u"2032-02-29T00:00:00Z"_s};
    // Both days restricted: either matches (Mondays of February, and the 29th).
    QTest::newRow("dom or dow") << u"0 0 29 2 mon x"_s << u"UTC"_s << u"2028-02-20T00:00:00Z"_s
                                << QStringList{u"2028-02-21T00:00:00Z"_s, u"2028-02-28T00:00:00Z"_s,
                                               u"2028-02-29T00:00:00Z"_s,
                                               u"2029-02-05T00:00:00Z"_s};
    // A star in either day field: both must match (cronie's DOM_STAR/DOW_STAR).
    QTest::newRow("dom and dow with star")
        << u"0 0 */10 * mon x"_s << u"UTC"_s << u"2026-01-01T00:00:00Z"_s
        << QStringList{u"2026-05-11T00:00:00Z"_s};
    QTest::newRow("berlin zone") << u"0 9 * * * x"_s << u"Europe/Berlin"_s
                                 << u"2026-01-01T00:00:00Z"_s
                                 << QStringList{u"2026-01-01T09:00:00+01:00"_s};

    // Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
    QTest::newRow("berlin skipped fixed")
        << u"30 2 * * * x"_s << u"Europe/Berlin"_s << u"2026-03-28T12:00:00+01:00"_s
        << QStringList{u"2026-03-29T03:00:00+02:00"_s, u"2026-03-30T02:30:00+02:00"_s};
    QTest::newRow("berlin skipped twice runs once")
        << u"0,30 2 * * * x"_s << u"Europe/Berlin"_s << u"2026-03-29T01:59:00+01:00"_s
        << QStringList{u"2026-03-29T03:00:00+02:00"_s, u"2026-03-30T02:00:00+02:00"_s};
    QTest::newRow("berlin skipped wildcard")
        << u"*/30 * * * * x"_s << u"Europe/Berlin"_s << u"2026-03-29T01:15:00+01:00"_s
        << QStringList{u"2026-03-29T01:30:00+01:00"_s, u"2026-03-29T03:00:00+02:00"_s,
                       u"2026-03-29T03:30:00+02:00"_s};
    QTest::newRow("berlin repeated fixed")
        << u"30 2 * * * x"_s << u"Europe/Berlin"_s << u"2026-10-25T00:00:00+02:00"_s
        << QStringList{u"2026-10-25T02:30:00+02:00"_s, u"2026-10-26T02:30:00+01:00"_s};
    QTest::newRow("berlin repeated wildcard")
        << u"*/30 * * * * x"_s << u"Europe/Berlin"_s << u"2026-10-25T01:45:00+02:00"_s
        << QStringList{u"2026-10-25T02:00:00+02:00"_s, u"2026-10-25T02:30:00+02:00"_s,
                       u"2026-10-25T02:00:00+01:00"_s, u"2026-10-25T02:30:00+01:00"_s,
                       u"2026-10-25T03:00:00+01:00"_s};
    QTest::newRow("berlin repeated hour star")
        << u"15 * * * * x"_s << u"Europe/Berlin"_s << u"2026-10-25T02:20:00+02:00"_s
        << QStringList{u"2026-10-25T02:15:00+01:00"_s, u"2026-10-25T03:15:00+01:00"_s};

    // America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
    QTest::newRow("new york skipped fixed")
        << u"15 2 * * * x"_s << u"America/New_York"_s << u"2026-03-07T12:00:00-05:00"_s
        << QStringList{u"2026-03-08T03:00:00-04:00"_s, u"2026-03-09T02:15:00-04:00"_s};
    QTest::newRow("new york repeated fixed")
        << u"30 1 * * * x"_s << u"America/New_York"_s << u"2026-10-31T12:00:00-04:00"_s
        << QStringList{u"2026-11-01T01:30:00-04:00"_s, u"2026-11-02T01:30:00-05:00"_s};
    QTest::newRow("new york repeated wildcard")
        << u"0 * * * * x"_s << u"America/New_York"_s << u"2026-11-01T00:30:00-04:00"_s
        << QStringList{u"2026-11-01T01:00:00-04:00"_s, u"2026-11-01T01:00:00-05:00"_s,
                       u"2026-11-01T02:00:00-05:00"_s};
    QTest::newRow("new york fixed not in gap")
        << u"0 3 * * * x"_s << u"America/New_York"_s << u"2026-03-08T01:59:00-05:00"_s
        << QStringList{u"2026-03-08T03:00:00-04:00"_s, u"2026-03-09T03:00:00-04:00"_s};
}

void TstCronSchedule::nextTimes()
{
    QFETCH(QString, line);
    QFETCH(QString, zone);
    QFETCH(QString, after);
    QFETCH(QStringList, expected);

    ParseError error;
    const std::optional<Job> job = parseLine(line, {}, &error);
    QVERIFY2(job, qPrintable(error.message));
    const QTimeZone tz(zone.toUtf8());
    QVERIFY(tz.isValid());
    const QDateTime start = QDateTime::fromString(after, Qt::ISODate);
    QVERIFY(start.isValid());
    const QList<QDateTime> times = job->when.nextTimes(start, tz, int(expected.size()));
    QCOMPARE(times.size(), expected.size());
    for (qsizetype i = 0; i < times.size(); ++i) {
        const QDateTime want = QDateTime::fromString(expected[i], Qt::ISODate);
        QVERIFY2(times[i] == want, qPrintable(u"#%1: got %2, want %3"_s.arg(i).arg(
                                       times[i].toString(Qt::ISODate), expected[i])));
        // The offset shown is the zone's at that instant (the repeated hour has two).
        QCOMPARE(times[i].offsetFromUtc(), want.offsetFromUtc());
    }
}

void TstCronSchedule::errors_data()
{
    QTest::addColumn<QString>("line");
    QTest::addColumn<QString>("field");
    QTest::addColumn<int>("column");

    QTest::newRow("minute out of range") << u"61 * * * * x"_s << u"minute"_s << 1;
    QTest::newRow("hour out of range") << u"* 24 * * * x"_s << u"hour"_s << 3;
    QTest::newRow("day zero") << u"* * 0 * * x"_s << u"day of month"_s << 5;
    QTest::newRow("unknown month") << u"* * * foo * x"_s << u"month"_s << 7;
    QTest::newRow("weekday 8") << u"* * * * 8 x"_s << u"day of week"_s << 9;
    QTest::newRow("bad step") << u"*/0 * * * * x"_s << u"minute"_s << 3;
    QTest::newRow("backwards") << u"5-1 * * * * x"_s << u"minute"_s << 1;
    QTest::newRow("empty element") << u"1,,2 * * * * x"_s << u"minute"_s << 3;
    QTest::newRow("open range") << u"0 0 * * mon- x"_s << u"day of week"_s << 13;
    QTest::newRow("name in minutes") << u"jan * * * * x"_s << u"minute"_s << 1;
    QTest::newRow("missing fields") << u"* * *"_s << u"month"_s << 6;
    QTest::newRow("no command") << u"* * * * *"_s << u"command"_s << 10;
    QTest::newRow("no command after word") << u"@daily"_s << u"command"_s << 7;
    QTest::newRow("unknown word") << u"@fortnightly x"_s << u"schedule"_s << 1;
    QTest::newRow("seconds not allowed") << u"@seconds * * * * * * x"_s << u"schedule"_s << 1;
    QTest::newRow("tab separated") << u"*\t*\t32 * * x"_s << u"day of month"_s << 5;
}

void TstCronSchedule::errors()
{
    QFETCH(QString, line);
    QFETCH(QString, field);
    QFETCH(int, column);

    ParseError error;
    QVERIFY(!parseLine(line, {}, &error));
    QCOMPARE(error.field, field);
    QCOMPARE(error.column, column);
    QVERIFY2(error.message.startsWith(field + u": "_s), qPrintable(error.message));
}

void TstCronSchedule::specials_data()
{
    QTest::addColumn<QString>("line");
    QTest::addColumn<QString>("next");

    // After 2026-01-01T12:34:00Z (a Thursday).
    QTest::newRow("yearly") << u"@yearly x"_s << u"2027-01-01T00:00:00Z"_s;
    QTest::newRow("annually") << u"@ANNUALLY x"_s << u"2027-01-01T00:00:00Z"_s;
    QTest::newRow("monthly") << u"@monthly x"_s << u"2026-02-01T00:00:00Z"_s;
    QTest::newRow("weekly") << u"@weekly x"_s << u"2026-01-04T00:00:00Z"_s;
    QTest::newRow("daily") << u"@daily x"_s << u"2026-01-02T00:00:00Z"_s;
    QTest::newRow("midnight") << u"@midnight x"_s << u"2026-01-02T00:00:00Z"_s;
    QTest::newRow("hourly") << u"@hourly x"_s << u"2026-01-01T13:00:00Z"_s;
}

void TstCronSchedule::specials()
{
    QFETCH(QString, line);
    QFETCH(QString, next);
    ParseError error;
    const std::optional<Job> job = parseLine(line, {}, &error);
    QVERIFY2(job, qPrintable(error.message));
    QCOMPARE(job->command, u"x"_s);
    QCOMPARE(job->when.next(QDateTime::fromString(u"2026-01-01T12:34:00Z"_s, Qt::ISODate),
                            QTimeZone::utc()),
             QDateTime::fromString(next, Qt::ISODate));
}

void TstCronSchedule::secondsOnlyWhenAllowed()
{
    LineOptions options;
    options.allowSeconds = true;
    ParseError error;
    const std::optional<Job> job = parseLine(u"@seconds */2 * * * * * echo hi"_s, options, &error);
    QVERIFY2(job, qPrintable(error.message));
    QCOMPARE(job->command, u"echo hi"_s);
    QCOMPARE(job->schedule, u"@seconds */2 * * * * *"_s);
    const QDateTime start = QDateTime::fromString(u"2026-01-01T00:00:01Z"_s, Qt::ISODate);
    QCOMPARE(job->when.next(start, QTimeZone::utc()), start.addSecs(1));
    QVERIFY(!parseLine(u"@seconds 60 * * * * * x"_s, options, &error));
    QCOMPARE(error.field, u"second"_s);
    QCOMPARE(error.column, 10);
}

void TstCronSchedule::commandKeptVerbatim()
{
    ParseError error;
    const std::optional<Job> job =
        parseLine(u"  */2  */2 * * *   /home/apps/monitor.py  > /tmp/m.log 2>&1 "_s, {}, &error);
    QVERIFY2(job, qPrintable(error.message));
    QCOMPARE(job->schedule, u"*/2 */2 * * *"_s);
    QCOMPARE(job->command, u"/home/apps/monitor.py  > /tmp/m.log 2>&1"_s);
}

void TstCronSchedule::rebootNeverRunsOnSchedule()
{
    ParseError error;
    const std::optional<Job> job = parseLine(u"@reboot /bin/true"_s, {}, &error);
    QVERIFY(job);
    QVERIFY(job->when.isReboot());
    QVERIFY(!job->when.next(QDateTime::currentDateTimeUtc(), QTimeZone::utc()).isValid());
}

void TstCronSchedule::impossibleDateHasNoNextTime()
{
    ParseError error;
    const std::optional<Job> job = parseLine(u"0 0 30 2 * x"_s, {}, &error);
    QVERIFY(job);
    QVERIFY(!job->when.next(QDateTime::currentDateTimeUtc(), QTimeZone::utc()).isValid());
}

QTEST_APPLESS_MAIN(TstCronSchedule)
#include "tst_cronschedule.moc"
