// LogSink: lines from many threads reach the file whole, a sink that stops taking data (a pipe
// nobody reads) never blocks the threads that log, drops and counts what does not fit, reports
// the loss once it moves again, and reopen() switches files (logrotate).
#include "log/logsink.h"
#include "log/requestlogline.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include <atomic>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

using namespace Berth;
using Log::LogSink;

namespace {

QByteArray fileText(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// A field of /proc/self/task/TID/status ("voluntary_ctxt_switches", "State") of the process's
// one sink writer thread ("berth-log"); empty when there is not exactly one.
QByteArray writerStatus(QByteArrayView field)
{
    QByteArray value;
    int writers = 0;
    const QDir tasks(QStringLiteral("/proc/self/task"));
    for (const QString &tid : tasks.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        if (fileText(tasks.filePath(tid + QStringLiteral("/comm"))).trimmed() != "berth-log")
            continue;
        ++writers;
        for (const QByteArray &line :
             fileText(tasks.filePath(tid + QStringLiteral("/status"))).split('\n')) {
            if (line.startsWith(field) && line.indexOf(':') == field.size())
                value = line.mid(line.indexOf(':') + 1).trimmed();
        }
    }
    return writers == 1 ? value : QByteArray();
}

// Voluntary context switches (sleeps) of the writer thread; -1 when there is not exactly one.
qint64 writerSleeps()
{
    const QByteArray value = writerStatus("voluntary_ctxt_switches");
    return value.isEmpty() ? -1 : value.toLongLong();
}

// The writer has parked and is asleep in that wait: parked is published just before the
// wait, so only the thread's state tells that it got there (rather than being preempted
// between the two, to block a moment later and count one more sleep).
bool writerAsleepParked(const LogSink &sink)
{
    return sink.isWriterParked() && writerStatus("State").startsWith('S');
}

} // namespace

class tst_LogSink : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void linesFromManyThreadsArriveWhole();
    void stalledPipeNeverBlocksTheCaller();
    void reopenSwitchesFiles();
    void whenWrittenCallsBackOnceOnDisk();
    void endedThreadsLinesStayCounted();
    void formattedLinesKeepTheirOrderAcrossBlocks();
    void formattedLineIsBoundedByWhatItWrote();
    void anIdleWriterSleepsUntilTheNextLine();
};

void tst_LogSink::linesFromManyThreadsArriveWhole()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("x.log"));
    QSet<QByteArray> expected;
    {
        LogSink sink(path);
        QVERIFY(sink.open());
        std::vector<std::unique_ptr<QThread>> threads;
        for (int t = 0; t < 4; ++t) {
            for (int i = 0; i < 500; ++i)
                expected.insert("thread " + QByteArray::number(t) + " line " +
                                QByteArray::number(i) + ' ' + QByteArray(100, 'a' + t));
            threads.emplace_back(QThread::create([&sink, t] {
                for (int i = 0; i < 500; ++i)
                    sink.append("thread " + QByteArray::number(t) + " line " +
                                QByteArray::number(i) + ' ' + QByteArray(100, 'a' + t));
            }));
            threads.back()->start();
        }
        for (auto &thread : threads)
            QVERIFY(thread->wait());
        QVERIFY(sink.sync());
        QCOMPARE(sink.droppedLines(), 0);
        QFile file(path);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QList<QByteArray> lines = file.readAll().split('\n');
        QCOMPARE(lines.size(), 2001); // the last newline leaves an empty tail
        QCOMPARE(QSet<QByteArray>(lines.begin(), lines.end() - 1), expected);
    }
}

void tst_LogSink::stalledPipeNeverBlocksTheCaller()
{
    int fds[2];
    QCOMPARE(::pipe2(fds, O_CLOEXEC), 0);
    std::atomic<qint64> reported{0};
    // The pipe is full before the sink starts: no write of the writer can complete until the
    // reader below starts, however the threads are scheduled (a first batch that fit would
    // report the losses early).
    QCOMPARE(::fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    for (const int piece : {4096, 1}) {
        const QByteArray filler(piece, 'f');
        while (::write(fds[1], filler.constData(), size_t(piece)) == piece) {
        }
    }
    {
        // The path of the pipe's write end: what stderr is when a supervisor stops reading it.
        LogSink sink(QStringLiteral("/proc/self/fd/%1").arg(fds[1]));
        QVERIFY(sink.open());
        sink.setDropReporter([&reported](const LogSink &, qint64 n) { reported += n; });
        const QByteArray line(1000, 'x');
        QElapsedTimer timer;
        timer.start();
        // Far more than the pipe (64 KiB) and the sink's buffer (1 MiB) hold.
        for (int i = 0; i < 3000; ++i)
            sink.append(line);
        QVERIFY2(timer.elapsed() < 1000, qPrintable(QString::number(timer.elapsed())));
        QTRY_VERIFY(sink.droppedLines() > 0);
        // sync() gives up at once on a writer stuck in a write, rather than stalling too.
        timer.restart();
        QVERIFY(!sink.sync(5000));
        QVERIFY2(timer.elapsed() < 1000, qPrintable(QString::number(timer.elapsed())));
        QCOMPARE(reported.load(), 0);

        // Someone reads again: the writer moves, and says how many lines were lost.
        std::atomic<bool> reading{true};
        std::unique_ptr<QThread> reader(QThread::create([&] {
            char buffer[65536];
            ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
            while (reading) {
                if (::read(fds[0], buffer, sizeof(buffer)) <= 0)
                    QThread::msleep(5);
            }
        }));
        reader->start();
        QTRY_COMPARE(reported.load(), sink.droppedLines());
        QVERIFY(sink.sync());
        sink.append("after");
        QVERIFY(sink.sync());
        reading = false;
        reader->wait();
    }
    ::close(fds[0]);
    ::close(fds[1]);
}

void tst_LogSink::reopenSwitchesFiles()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("r.log"));
    LogSink sink(path);
    QVERIFY(sink.open());
    sink.append("before");
    QVERIFY(sink.sync());
    QVERIFY(QFile::rename(path, path + QStringLiteral(".1"))); // logrotate
    sink.append("still old");
    QVERIFY(sink.sync());
    QVERIFY(sink.reopen());
    sink.append("after");
    QVERIFY(sink.sync());
    QFile old(path + QStringLiteral(".1"));
    QVERIFY(old.open(QIODevice::ReadOnly));
    QCOMPARE(old.readAll(), QByteArray("before\nstill old\n"));
    QFile fresh(path);
    QVERIFY(fresh.open(QIODevice::ReadOnly));
    QCOMPARE(fresh.readAll(), QByteArray("after\n"));
}

void tst_LogSink::whenWrittenCallsBackOnceOnDisk()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("w.log"));
    LogSink sink(path);
    QVERIFY(sink.open());
    sink.append("record");
    std::atomic<bool> called{false};
    QByteArray seen;
    sink.whenWritten([&] {
        QFile file(path);
        if (file.open(QIODevice::ReadOnly))
            seen = file.readAll();
        called = true;
    });
    QTRY_VERIFY(called.load());
    QCOMPARE(seen, QByteArray("record\n")); // on disk when the callback ran
    // Nothing pending: at once.
    bool now = false;
    sink.whenWritten([&now] { now = true; });
    QVERIFY(now);
}

void tst_LogSink::endedThreadsLinesStayCounted()
{
    // Each thread counts its own lines (no shared counter per line); the count of a thread
    // that ended stays when its buffer goes, so sync() and whenWritten() still wait for all.
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("e.log"));
    LogSink sink(path);
    QVERIFY(sink.open());
    for (int round = 0; round < 3; ++round) {
        std::unique_ptr<QThread> thread(QThread::create([&sink] {
            for (int i = 0; i < 100; ++i)
                sink.append("from a thread");
        }));
        thread->start();
        QVERIFY(thread->wait());
        QVERIFY(sink.sync()); // the ended thread's buffer is collected and dropped
    }
    sink.append("last");
    std::atomic<int> lines{0};
    sink.whenWritten([&] {
        QFile file(path);
        if (file.open(QIODevice::ReadOnly))
            lines = int(file.readAll().count('\n'));
    });
    QTRY_COMPARE(lines.load(), 301);
    QVERIFY(sink.sync());
}

// Lines formatted in place (request.log) and copied ones share a thread's blocks: a line that
// does not fit starts a new block (the full one is set aside, not copied), and the file gets
// every line whole and in the order appended.
void tst_LogSink::formattedLinesKeepTheirOrderAcrossBlocks()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("f.log"));
    QByteArray expected;
    {
        LogSink sink(path);
        QVERIFY(sink.open());
        Log::RequestLogRecord record;
        record.client = "127.0.0.1:5000";
        record.server = "example:80";
        record.method = "GET";
        record.version = "HTTP/1.1";
        record.status = 200;
        QByteArray url;
        for (int i = 0; i < 1500; ++i) {
            // Room for up to 6 bytes per field byte is asked for: blocks fill long before
            // their bytes do, so lines keep starting new ones (some larger than a block). In
            // all well below what a thread may hold: nothing is dropped.
            url = '/' + QByteArray(i % 100 == 0 ? 3000 : (i * 37) % 300, char('a' + i % 26));
            record.url = url;
            record.bytesSent = i;
            Log::appendRequestLogLine(sink, record, Log::RequestLogFormat::Skitai,
                                      Log::LogTime::Utc);
            expected += Log::formatRequestLogLine(record, Log::RequestLogFormat::Skitai,
                                                  Log::LogTime::Utc) +
                        '\n';
            if (i % 3 == 0) {
                const QByteArray plain = "plain " + QByteArray::number(i);
                sink.append(plain);
                expected += plain + '\n';
            }
        }
        QVERIFY(sink.sync());
        QCOMPARE(sink.droppedLines(), 0);
    }
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray written = file.readAll();
    QCOMPARE(written.size(), expected.size());
    QVERIFY(written == expected);
}

// The bound on what a thread holds applies to the line as written, not to the room asked for.
void tst_LogSink::formattedLineIsBoundedByWhatItWrote()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("b.log"));
    {
        LogSink sink(path);
        QVERIFY(sink.open());
        const auto writeCount = [](char *out, const void *context) {
            const qsizetype n = *static_cast<const qsizetype *>(context);
            std::memset(out, 'z', size_t(n));
            return out + n;
        };
        qsizetype small = 5;
        sink.appendFormatted(2 * LogSink::MaxPendingBytes, writeCount, &small);
        qsizetype whole = LogSink::MaxPendingBytes; // and its newline: one byte too many
        sink.appendFormatted(whole, writeCount, &whole);
        QCOMPARE(sink.droppedLines(), 1);
        QVERIFY(sink.sync());
    }
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll(), QByteArray("zzzzz\n"));
}

void tst_LogSink::anIdleWriterSleepsUntilTheNextLine()
{
    // An idle server must not wake ten times a second per log: once an interval passes without
    // a line the writer sleeps with no deadline, and the next line still reaches the file within
    // an interval, without anyone calling flush().
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("idle.log"));
    LogSink sink(path);
    QVERIFY(sink.open());
    sink.append("first");
    QTRY_COMPARE(fileText(path), QByteArray("first\n"));
    QTRY_VERIFY(writerAsleepParked(sink));
    const qint64 before = writerSleeps();
    const quint64 rounds = sink.writerRounds();
    QVERIFY(before >= 0);
    QTest::qWait(450); // four write intervals and more
    QCOMPARE(writerSleeps(), before);
    QCOMPARE(sink.writerRounds(), rounds);
    QVERIFY(sink.isWriterParked());
    sink.append("second");
    QTRY_COMPARE_WITH_TIMEOUT(fileText(path), QByteArray("first\nsecond\n"), 1000);
}

QTEST_GUILESS_MAIN(tst_LogSink)
#include "tst_logsink.moc"
