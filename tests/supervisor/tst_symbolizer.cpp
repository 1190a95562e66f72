// The master's side of crash reports: raw "berth frame" lines parsed, symbolised with libdw
// from the module file (demangled name, file:line), found back in a log another process writes
// into too, and refused when the file on disk holds another build.
#include "runtime/crashreport.h"
#include "supervisor/symbolizer.h"

#include <QTemporaryDir>
#include <QtTest>

namespace Berth::Test {
// Out of line and not inlined: the frame to symbolise.
[[gnu::noinline]] int symbolizerTarget(int value)
{
    asm volatile("" ::: "memory");
    return value * 3 + 1;
}
} // namespace Berth::Test

using namespace Berth;

class TestSymbolizer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parsesFrameLines();
    void symbolisesAFunctionOfThisExecutable();
    void refusesAnotherBuild();
    void readsTheLastBlockOfAProcess();
};

void TestSymbolizer::parsesFrameLines()
{
    const QList<Core::RawFrame> frames = Core::parseFrames({
        "berth crash pid=12 tid=12 signal=11 SIGSEGV",
        "berth frame 0 0x55550000123a 0x123a 0011aabb /opt/berth/berthd (deleted)",
        "berth frame 1 0x7f0000000010 ? - ?",
        "berth frame x 0x1 0x1 - /bad",
        "berth crash end",
    });
    QCOMPARE(frames.size(), 2);
    QCOMPARE(frames[0].index, 0);
    QCOMPARE(frames[0].address, std::uintptr_t(0x55550000123a));
    QCOMPARE(frames[0].offset, quint64(0x123a));
    QCOMPARE(frames[0].buildId, QByteArray("0011aabb"));
    QCOMPARE(frames[0].module, QStringLiteral("/opt/berth/berthd (deleted)"));
    QVERIFY(frames[0].resolved);
    QCOMPARE(frames[1].index, 1);
    QVERIFY(!frames[1].resolved);
}

void TestSymbolizer::symbolisesAFunctionOfThisExecutable()
{
    QCOMPARE(Test::symbolizerTarget(2), 7);
    const Core::LoadedModule self = Core::loadedModules().value(0);
    QVERIFY(self.path[0] != '\0');
    QVERIFY2(self.buildId[0] != '\0', "linked without a build-id");
    Core::RawFrame frame;
    frame.index = 0;
    frame.resolved = true;
    frame.address = reinterpret_cast<std::uintptr_t>(&Test::symbolizerTarget) + 4;
    frame.offset = frame.address - self.bias;
    frame.module = QString::fromLocal8Bit(self.path);
    frame.buildId = self.buildId;
    Supervisor::Symbolizer symbolizer;
    const QString line = symbolizer.describe(frame);
    QVERIFY2(line.startsWith(QStringLiteral("#0 Berth::Test::symbolizerTarget(int) at ")),
             qPrintable(line));
    QVERIFY2(line.contains(QStringLiteral("tst_symbolizer.cpp:")), qPrintable(line));
    // Not a return address past the end: the same with index > 0 (looked up at offset - 1).
    frame.index = 1;
    frame.offset += 1;
    QVERIFY2(symbolizer.describe(frame).contains(QStringLiteral("symbolizerTarget(int)")),
             qPrintable(symbolizer.describe(frame)));
}

void TestSymbolizer::refusesAnotherBuild()
{
    const Core::LoadedModule self = Core::loadedModules().value(0);
    Core::RawFrame frame;
    frame.resolved = true;
    frame.offset = reinterpret_cast<std::uintptr_t>(&Test::symbolizerTarget) - self.bias;
    frame.module = QString::fromLocal8Bit(self.path);
    frame.buildId = "00112233445566778899aabbccddeeff00112233";
    Supervisor::Symbolizer symbolizer;
    const QString line = symbolizer.describe(frame);
    QVERIFY2(line.contains(QStringLiteral("another build")), qPrintable(line));
    QVERIFY2(!line.contains(QStringLiteral("symbolizerTarget")), qPrintable(line));
    // Told where that build lives (the master's kept fd), it reads that file instead.
    symbolizer.addFile(frame.buildId, QStringLiteral("/nonexistent/berthd"));
    QVERIFY(!symbolizer.describe(frame).contains(QStringLiteral("symbolizerTarget")));
}

void TestSymbolizer::readsTheLastBlockOfAProcess()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("server.log"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("2026 [info] something\n"
               "berth crash pid=7 tid=7 signal=6 SIGABRT\n"
               "berth frame 0 0x1 0x1 - /old\n"
               "berth crash end\n"
               "berth crash pid=77 tid=78 signal=11 SIGSEGV\n"
               "berth crash pid=7 tid=9 signal=11 SIGSEGV\n"
               "berth request GET /x txn t client c\n"
               "2026 [info] another process wrote this meanwhile\n"
               "berth frame 0 0x2 0x2 - /new\n"
               "berth crash end\n"
               "berth frame 0 0x3 0x3 - /after\n");
    file.close();
    const QList<QByteArray> block =
        Supervisor::readLastBlock(path, "berth crash pid=7 ", "berth crash end");
    QCOMPARE(block, (QList<QByteArray>{"berth crash pid=7 tid=9 signal=11 SIGSEGV",
                                       "berth request GET /x txn t client c",
                                       "berth frame 0 0x2 0x2 - /new", "berth crash end"}));
    QVERIFY(Supervisor::readLastBlock(path, "berth crash pid=8 ", "berth crash end").isEmpty());
    QVERIFY(
        Supervisor::readLastBlock(dir.filePath(QStringLiteral("none")), "berth", "end").isEmpty());
}

QTEST_GUILESS_MAIN(TestSymbolizer)
#include "tst_symbolizer.moc"
