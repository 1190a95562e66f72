// The cron agent's runner (services/cron/cronrunner): real /bin/sh jobs, a fake clock moved by
// the test (runDue() after each move), the log lines it writes and the signals it emits:
// schedule, overlap skip/queue/allow, max_runtime killing the process group, the output limit,
// the clean environment and the cluster claimer.
#include "services/cron/cronrunner.h"

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>

using namespace Berth;
using namespace Berth::Services;
using namespace Qt::StringLiterals;

namespace {

Cron::Job job(const QString &line)
{
    Cron::ParseError error;
    std::optional<Cron::Job> parsed = Cron::parseLine(line, {}, &error);
    if (!parsed)
        qFatal("%s", qPrintable(error.message));
    parsed->file = u"t.conf"_s;
    parsed->line = 7;
    return *parsed;
}

struct Harness
{
    explicit Harness(const QString &line, CronOptions options = {})
    {
        options.zone = QTimeZone::utc();
        if (options.environment.isEmpty())
            options.environment = cronEnvironment({});
        runner = std::make_unique<CronRunner>(QList<Cron::Job>{job(line)}, options,
                                              [this](const QByteArray &l) { log.append(l); });
        runner->setClock([this] { return now; });
    }
    // Moves the clock to the next minute the job is due and runs it.
    void nextMinute()
    {
        now = runner->nextRun(0);
        runner->runDue();
    }
    QList<QByteArray> lines(const QByteArray &event) const
    {
        QList<QByteArray> found;
        for (const QByteArray &l : log) {
            if (l.split(' ').value(1) == event)
                found.append(l);
        }
        return found;
    }

    QDateTime now = QDateTime::fromString(u"2026-01-01T12:00:30Z"_s, Qt::ISODate);
    QList<QByteArray> log;
    std::unique_ptr<CronRunner> runner;
};

// Alive and not a zombie (an orphan's zombie lingers where pid 1 does not reap).
bool running(pid_t pid)
{
    QFile stat(u"/proc/%1/stat"_s.arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return false;
    const QByteArray text = stat.readAll();
    const qsizetype paren = text.lastIndexOf(')');
    return paren > 0 && text.mid(paren + 2, 1) != "Z";
}

} // namespace

class TstCronRunner : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void runsAtItsTimeAndLogs();
    void overlapSkip();
    void overlapQueue();
    void overlapAllow();
    void maxRuntimeKillsTheProcessGroup();
    void outputIsBounded();
    void environmentIsClean();
    void claimerDecides();
    void jitterDelaysTheStart();
    void stopTerminatesRunningJobs();
    void runNowOutsideTheSchedule();
};

void TstCronRunner::runsAtItsTimeAndLogs()
{
    Harness h(u"* * * * * echo hello; exit 4"_s);
    QSignalSpy finished(h.runner.get(), &CronRunner::jobFinished);
    h.runner->start(false);
    QCOMPARE(h.runner->nextRun(0), QDateTime::fromString(u"2026-01-01T12:01:00Z"_s, Qt::ISODate));
    h.runner->runDue(); // not due yet
    QCOMPARE(h.runner->runningCount(), 0);
    h.nextMinute();
    QCOMPARE(h.runner->nextRun(0), QDateTime::fromString(u"2026-01-01T12:02:00Z"_s, Qt::ISODate));
    QTRY_COMPARE(finished.size(), 1);
    QCOMPARE(finished[0][1].toBool(), true); // exit 4 is a failure
    QCOMPARE(h.lines("start").size(), 1);
    QVERIFY2(h.lines("start")[0].startsWith("2026-01-01T12:01:00+00:00 start t.conf:7 pid "),
             h.lines("start")[0].constData());
    QVERIFY(h.lines("start")[0].endsWith(": echo hello; exit 4"));
    QVERIFY(h.lines("output").value(0).endsWith(": hello"));
    QVERIFY(h.lines("exit").value(0).contains(" status 4 duration "));
}

void TstCronRunner::overlapSkip()
{
    Harness h(u"* * * * * sleep 30"_s);
    QSignalSpy skipped(h.runner.get(), &CronRunner::jobSkipped);
    h.runner->start(false);
    h.nextMinute();
    QCOMPARE(h.runner->runningCount(), 1);
    h.nextMinute();
    QCOMPARE(skipped.size(), 1);
    QCOMPARE(h.runner->runningCount(), 1);
    QVERIFY(h.lines("skip").value(0).endsWith("t.conf:7 still running (overlap = skip)"));
    QSignalSpy idle(h.runner.get(), &CronRunner::idle);
    h.runner->stop(0);
    QTRY_COMPARE(idle.size(), 1);
}

void TstCronRunner::overlapQueue()
{
    CronOptions options;
    options.overlap = CronOptions::Overlap::Queue;
    QTemporaryDir dir;
    const QString fifo = dir.filePath(u"go"_s);
    QVERIFY(QProcess::execute(u"mkfifo"_s, {fifo}) == 0);
    // Each run waits until the test writes a line into the fifo.
    Harness h(u"* * * * * read x < %1"_s.arg(fifo), options);
    QSignalSpy started(h.runner.get(), &CronRunner::jobStarted);
    QSignalSpy skipped(h.runner.get(), &CronRunner::jobSkipped);
    h.runner->start(false);
    h.nextMinute();
    h.nextMinute(); // queued
    h.nextMinute(); // one is queued already: skipped
    QCOMPARE(started.size(), 1);
    QCOMPARE(skipped.size(), 1);
    QCOMPARE(h.lines("queue").size(), 1);
    auto release = [&] {
        QFile f(fifo);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("x\n");
    };
    release();
    QTRY_COMPARE(started.size(), 2); // the queued run, once the first ended
    release();
    QTRY_COMPARE(h.runner->runningCount(), 0);
    QCOMPARE(started.size(), 2);
}

void TstCronRunner::overlapAllow()
{
    CronOptions options;
    options.overlap = CronOptions::Overlap::Allow;
    Harness h(u"* * * * * sleep 30"_s, options);
    h.runner->start(false);
    h.nextMinute();
    h.nextMinute();
    QCOMPARE(h.runner->runningCount(), 2);
    QVERIFY(h.lines("skip").isEmpty());
    QSignalSpy idle(h.runner.get(), &CronRunner::idle);
    h.runner->stop(0);
    QTRY_COMPARE(idle.size(), 1);
}

void TstCronRunner::maxRuntimeKillsTheProcessGroup()
{
    CronOptions options;
    options.maxRuntimeMs = 1000; // outlasts sh starting `sleep` and writing its pid
    QTemporaryDir dir;
    const QString pidFile = dir.filePath(u"bg.pid"_s);
    Harness h(u"* * * * * sleep 30 & echo $! > %1; wait"_s.arg(pidFile), options);
    QSignalSpy finished(h.runner.get(), &CronRunner::jobFinished);
    h.runner->start(false);
    h.nextMinute();
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 5000);
    QCOMPARE(finished[0][1].toBool(), true);
    QVERIFY(h.lines("kill").value(0).contains("max_runtime 1s exceeded"));
    QVERIFY(h.lines("exit").value(0).contains(" signal 9 "));
    // The background sleep was in the job's group: gone too.
    QFile f(pidFile);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const pid_t background = pid_t(f.readAll().trimmed().toLongLong());
    QVERIFY(background > 0);
    QTRY_VERIFY(!running(background));
}

void TstCronRunner::outputIsBounded()
{
    CronOptions options;
    options.outputLimit = 10;
    Harness h(u"* * * * * printf 'aaaaaaaaaabbbbbbbbbb'"_s, options);
    QSignalSpy finished(h.runner.get(), &CronRunner::jobFinished);
    h.runner->start(false);
    h.nextMinute();
    QTRY_COMPARE(finished.size(), 1);
    const QList<QByteArray> output = h.lines("output");
    QCOMPARE(output.size(), 2);
    QVERIFY(output[0].endsWith(": aaaaaaaaaa"));
    QVERIFY(output[1].endsWith(": 10 more bytes over output_limit dropped"));
}

void TstCronRunner::environmentIsClean()
{
    qputenv("BERTH_TST_LEAK", "leaked");
    CronOptions options;
    QStringList errors;
    options.environment = cronEnvironment({u"FOO=bar baz"_s, u"PATH=/bin"_s, u"BAD"_s}, &errors);
    QCOMPARE(errors, QStringList{u"'BAD' is not NAME=value"_s});
    Harness h(u"* * * * * echo \"[$BERTH_TST_LEAK][$FOO][$PATH][$SHELL]\""_s, options);
    QSignalSpy finished(h.runner.get(), &CronRunner::jobFinished);
    h.runner->start(false);
    h.nextMinute();
    QTRY_COMPARE(finished.size(), 1);
    QVERIFY2(h.lines("output").value(0).endsWith(": [][bar baz][/bin][/bin/sh]"),
             h.lines("output").value(0).constData());
}

void TstCronRunner::claimerDecides()
{
    Harness h(u"* * * * * true"_s);
    QList<QDateTime> slots;
    bool answer = false;
    h.runner->setSlotClaimer(
        [&](const Cron::Job &, const QDateTime &slot, std::function<void(bool)> done) {
            slots.append(slot);
            done(answer);
        });
    QSignalSpy started(h.runner.get(), &CronRunner::jobStarted);
    h.runner->start(false);
    h.nextMinute();
    QTRY_COMPARE(h.lines("elsewhere").size(), 1);
    QCOMPARE(started.size(), 0);
    answer = true;
    h.nextMinute();
    QTRY_COMPARE(started.size(), 1);
    QCOMPARE(slots,
             (QList<QDateTime>{QDateTime::fromString(u"2026-01-01T12:01:00Z"_s, Qt::ISODate),
                               QDateTime::fromString(u"2026-01-01T12:02:00Z"_s, Qt::ISODate)}));
}

void TstCronRunner::jitterDelaysTheStart()
{
    CronOptions options;
    options.jitterMs = 150;
    Harness h(u"* * * * * true"_s, options);
    QSignalSpy started(h.runner.get(), &CronRunner::jobStarted);
    h.runner->start(false);
    // The delay is random in [0, 150] ms and always goes through the event loop: never
    // started inside runDue().
    for (int i = 1; i <= 3; ++i) {
        QTRY_COMPARE(h.runner->runningCount(), 0); // no overlap skip
        h.nextMinute();
        QCOMPARE(started.size(), i - 1);
        QTRY_COMPARE_WITH_TIMEOUT(started.size(), i, 2000);
    }
}

void TstCronRunner::stopTerminatesRunningJobs()
{
    Harness h(u"* * * * * sleep 30"_s);
    h.runner->start(false);
    h.nextMinute();
    QSignalSpy idle(h.runner.get(), &CronRunner::idle);
    h.runner->stop(5000); // TERM reaches the sleep at once
    QTRY_COMPARE_WITH_TIMEOUT(idle.size(), 1, 3000);
    QVERIFY(h.lines("exit").value(0).contains(" signal 15 "));
}

void TstCronRunner::runNowOutsideTheSchedule()
{
    // Due only on 1 January at midnight: a run now is the admin API's, not the schedule's.
    Harness h(u"0 0 1 1 * sleep 30"_s);
    QSignalSpy started(h.runner.get(), &CronRunner::jobStarted);
    h.runner->start(false);
    const QDateTime next = h.runner->nextRun(0);
    QString why;
    qint64 pid = 0;
    QVERIFY2(h.runner->runNow(0, &why, &pid), qPrintable(why));
    QVERIFY(pid > 0 && running(pid_t(pid)));
    QCOMPARE(started.size(), 1);
    QCOMPARE(h.runner->runningCount(), 1);
    QCOMPARE(h.runner->nextRun(0), next); // the schedule is untouched
    QCOMPARE(h.lines("manual").size(), 1);
    QVERIFY(h.lines("start").value(0).contains(" pid " + QByteArray::number(pid) + ": "));
    // overlap = skip (the default): not twice at once.
    qint64 second = 0;
    QVERIFY(!h.runner->runNow(0, &why, &second));
    QVERIFY2(why.startsWith(u"still running (pid %1)"_s.arg(pid)), qPrintable(why));
    QCOMPARE(h.runner->runningCount(), 1);
    // A stopping runner starts nothing.
    QSignalSpy idle(h.runner.get(), &CronRunner::idle);
    h.runner->stop(5000);
    QVERIFY(!h.runner->runNow(0, &why, &second));
    QCOMPARE(why, u"the cron agent is stopping"_s);
    QTRY_COMPARE_WITH_TIMEOUT(idle.size(), 1, 3000);
}

QTEST_GUILESS_MAIN(TstCronRunner)
#include "tst_cronrunner.moc"
