// The buffers an event-loop thread lends its exchanges: enough kept for a thread whose exchanges
// wait on an app (64 proxied requests in flight), bounded in bytes.
#include "engine/threadbuffers.h"

#include <QTest>

#include <cstring>
#include <vector>

using namespace Berth::Engine;

class tst_ThreadBuffers : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void aBurstOfExchangesGetsItsBuffersBack();
    void keptBytesAreBounded();
    void sharedBuffersAreNotKept();
    void setSizeActsAsResize();
};

void tst_ThreadBuffers::aBurstOfExchangesGetsItsBuffersBack()
{
    // 64 exchanges end in one batch and give their buffers back; the next 64 take them all.
    std::vector<QByteArray> buffers(64);
    std::vector<std::vector<Berth::Http::HeaderField>> fields(64);
    for (size_t i = 0; i < buffers.size(); ++i) {
        buffers[i].reserve(2048);
        fields[i].reserve(16);
    }
    for (size_t i = 0; i < buffers.size(); ++i) {
        ThreadBuffers::giveBytes(buffers[i]);
        ThreadBuffers::giveFields(fields[i]);
        QCOMPARE(buffers[i].capacity(), 0);
    }
    for (int i = 0; i < 64; ++i) {
        QVERIFY(ThreadBuffers::takeBytes().capacity() >= 2048);
        QVERIFY(ThreadBuffers::takeFields().capacity() >= 16);
    }
    QCOMPARE(ThreadBuffers::takeBytes().capacity(), 0);
    QCOMPARE(ThreadBuffers::takeFields().capacity(), size_t(0));
}

void tst_ThreadBuffers::keptBytesAreBounded()
{
    // 100 buffers of 32 KiB: only 1 MiB of them is kept.
    std::vector<QByteArray> buffers(100);
    for (QByteArray &b : buffers) {
        b.reserve(32 * 1024);
        ThreadBuffers::giveBytes(b);
    }
    int kept = 0;
    while (ThreadBuffers::takeBytes().capacity() > 0)
        ++kept;
    QVERIFY(kept >= 30);
    QVERIFY(kept <= 32);
}

void tst_ThreadBuffers::sharedBuffersAreNotKept()
{
    QByteArray buffer(100, 'x');
    const QByteArray copy = buffer;
    ThreadBuffers::giveBytes(buffer);
    QVERIFY(buffer.isNull());
    QCOMPARE(ThreadBuffers::takeBytes().capacity(), 0);
}

void tst_ThreadBuffers::setSizeActsAsResize()
{
    // In place on a buffer of its own with the room: the capacity stays, the bytes before the
    // new end stay, and a NUL follows them (as QByteArray promises).
    QByteArray buffer;
    buffer.reserve(100);
    const char *storage = buffer.constData();
    ThreadBuffers::setSize(buffer, 50);
    std::memset(buffer.data(), 'a', 50);
    ThreadBuffers::setSize(buffer, 20);
    QCOMPARE(buffer.size(), 20);
    QCOMPARE(buffer.constData(), storage);
    QCOMPARE(buffer.constData()[20], '\0');
    QCOMPARE(buffer, QByteArray(20, 'a'));
    ThreadBuffers::setSize(buffer, 0);
    QVERIFY(buffer.isEmpty());
    QCOMPARE(buffer.constData(), storage);
    QVERIFY(buffer.capacity() >= 100);

    // Shared: the other copy keeps its bytes (resize detaches).
    buffer = QByteArray("shared text");
    const QByteArray copy = buffer;
    ThreadBuffers::setSize(buffer, 6);
    QCOMPARE(buffer, QByteArray("shared"));
    QCOMPARE(copy, QByteArray("shared text"));

    // Beyond the room, and on a null buffer: grows as resize() does, contents kept.
    ThreadBuffers::setSize(buffer, 4096);
    QCOMPARE(buffer.size(), 4096);
    QVERIFY(buffer.startsWith("shared"));
    QByteArray null;
    ThreadBuffers::setSize(null, 3);
    QCOMPARE(null.size(), 3);
    QCOMPARE(null.constData()[3], '\0');
}

QTEST_GUILESS_MAIN(tst_ThreadBuffers)
#include "tst_threadbuffers.moc"
