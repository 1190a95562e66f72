// BroadcastRelay, the master's half of the broadcast bus, driven through the children's ends of
// its socketpairs: a frame reaches every other child of the same group and no one else, a child
// that never reads has its queue capped (dropped and counted) while the others keep receiving,
// a malformed frame costs the sender its channel, a closed channel leaves the rest working;
// control requests reach one child and their answers stay with the master.
#include "runtime/buswire.h"
#include "supervisor/broadcastrelay.h"

#include <QSignalSpy>
#include <QtTest>

#include <sys/socket.h>
#include <unistd.h>

using namespace Berth;
using Supervisor::BroadcastRelay;
namespace BusWire = Core::BusWire;

class tst_BroadcastRelay : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void relaysToTheOtherChildrenOfTheGroup();
    void slowChildIsCappedAndTheOthersKeepReceiving();
    void malformedFrameClosesTheSender();
    void closedChildLeavesTheOthersWorking();
    void controlFramesGoToOneChildAndAnswersToTheMaster();

private:
    static void writeAll(int fd, const QByteArray &bytes);
    static QByteArray readFor(int fd, qsizetype want, int ms = 5000);
};

void tst_BroadcastRelay::writeAll(int fd, const QByteArray &bytes)
{
    qsizetype sent = 0;
    QDeadlineTimer deadline(5000);
    while (sent < bytes.size() && !deadline.hasExpired()) {
        const ssize_t n =
            ::send(fd, bytes.constData() + sent, size_t(bytes.size() - sent), MSG_DONTWAIT);
        if (n > 0)
            sent += n;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
    }
    QCOMPARE(sent, bytes.size());
}

QByteArray tst_BroadcastRelay::readFor(int fd, qsizetype want, int ms)
{
    QByteArray got;
    QDeadlineTimer deadline(ms);
    while (got.size() < want && !deadline.hasExpired()) {
        char buffer[65536];
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0)
            got.append(buffer, n);
        else
            QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
    }
    return got;
}

void tst_BroadcastRelay::relaysToTheOtherChildrenOfTheGroup()
{
    BroadcastRelay relay;
    QString error;
    const auto a = relay.open(QStringLiteral("http:http"), &error);
    const auto b = relay.open(QStringLiteral("http:http"), &error);
    const auto c = relay.open(QStringLiteral("http:http"), &error);
    const auto other = relay.open(QStringLiteral("berth.ticker:t1"), &error);
    QVERIFY(a && b && c && other);
    QCOMPARE(relay.peerCount(), 4);

    const QByteArray frame = BusWire::encode("berth/chat", "hello");
    writeAll(a->childFd, frame);
    QCOMPARE(readFor(b->childFd, frame.size()), frame);
    QCOMPARE(readFor(c->childFd, frame.size()), frame);
    // Neither back to the sender (it delivered locally itself) nor to another group.
    QCOMPARE(readFor(a->childFd, 1, 100), QByteArray());
    QCOMPARE(readFor(other->childFd, 1, 100), QByteArray());
    QCOMPARE(relay.relayed(), 2u);

    for (const auto &ch : {a, b, c, other})
        ::close(ch->childFd);
}

void tst_BroadcastRelay::slowChildIsCappedAndTheOthersKeepReceiving()
{
    BroadcastRelay relay(256 * 1024);
    QString error;
    const auto sender = relay.open(QStringLiteral("g"), &error);
    const auto reader = relay.open(QStringLiteral("g"), &error);
    const auto stuck = relay.open(QStringLiteral("g"), &error);
    QVERIFY(sender && reader && stuck);
    const QByteArray frame = BusWire::encode("t", QByteArray(32 * 1024, 'm'));
    const int count = 100; // 3.2 MB: far beyond the socket buffer plus the cap
    QByteArray received;
    for (int i = 0; i < count; ++i) {
        writeAll(sender->childFd, frame);
        received += readFor(reader->childFd, frame.size() * (i + 1) - received.size());
    }
    // The reading child got every frame, whole and in order; the stuck one cost the master at
    // most the cap and the drops are counted.
    QCOMPARE(received, frame.repeated(count));
    QVERIFY(relay.dropped() > 0);
    QVERIFY(relay.queuedBytes(stuck->id) <= 256 * 1024);
    // The stuck child, reading at last, gets whole frames only (never a torn one).
    const QByteArray late = readFor(stuck->childFd, 1 << 30, 300);
    QVERIFY(!late.isEmpty());
    QCOMPARE(late.size() % frame.size(), 0);
    for (const auto &ch : {sender, reader, stuck})
        ::close(ch->childFd);
}

void tst_BroadcastRelay::malformedFrameClosesTheSender()
{
    BroadcastRelay relay;
    QString error;
    const auto bad = relay.open(QStringLiteral("g"), &error);
    const auto good = relay.open(QStringLiteral("g"), &error);
    QVERIFY(bad && good);
    writeAll(bad->childFd, QByteArray("\xff\xff\xff\xff\x01", 5));
    QTRY_COMPARE(relay.peerCount(), 1);
    char byte;
    QTRY_COMPARE(::recv(bad->childFd, &byte, 1, MSG_DONTWAIT), ssize_t(0)); // EOF: closed
    QCOMPARE(readFor(good->childFd, 1, 100), QByteArray());
    ::close(bad->childFd);
    ::close(good->childFd);
}

void tst_BroadcastRelay::closedChildLeavesTheOthersWorking()
{
    BroadcastRelay relay;
    QString error;
    const auto a = relay.open(QStringLiteral("g"), &error);
    const auto b = relay.open(QStringLiteral("g"), &error);
    const auto dead = relay.open(QStringLiteral("g"), &error);
    QVERIFY(a && b && dead);
    ::close(dead->childFd); // the child died: EOF on the master's end
    QTRY_COMPARE(relay.peerCount(), 2);
    relay.close(dead->id); // the reaper closes it again: harmless
    // A restarted child gets a fresh pair and joins.
    const auto fresh = relay.open(QStringLiteral("g"), &error);
    QVERIFY(fresh);
    const QByteArray frame = BusWire::encode("t", "after");
    writeAll(a->childFd, frame);
    QCOMPARE(readFor(b->childFd, frame.size()), frame);
    QCOMPARE(readFor(fresh->childFd, frame.size()), frame);
    for (const auto &ch : {a, b, fresh})
        ::close(ch->childFd);
}

void tst_BroadcastRelay::controlFramesGoToOneChildAndAnswersToTheMaster()
{
    BroadcastRelay relay;
    QString error;
    const auto a = relay.open(QStringLiteral("daemon:q"), &error);
    const auto b = relay.open(QStringLiteral("daemon:q"), &error);
    QVERIFY(a && b);
    QSignalSpy answers(&relay, &BroadcastRelay::controlAnswer);

    // The master asks b alone.
    const QByteArray request = BusWire::encode(BusWire::ControlRequestTopic, "7\nstop");
    QVERIFY(relay.sendTo(b->id, request));
    QCOMPARE(readFor(b->childFd, request.size()), request);
    QCOMPARE(readFor(a->childFd, 1, 100), QByteArray());

    // b's answer is the master's, not relayed to a.
    writeAll(b->childFd, BusWire::encode(BusWire::ControlAnswerTopic, "7\nOK\nq.1: STOPPED"));
    QVERIFY(answers.wait(2000) || answers.size() == 1);
    QCOMPARE(answers.size(), 1);
    QCOMPARE(answers[0][0].toInt(), b->id);
    QCOMPARE(answers[0][1].toByteArray(), QByteArray("7\nOK\nq.1: STOPPED"));
    QCOMPARE(readFor(a->childFd, 1, 100), QByteArray());

    // Only the master asks: a child "request" goes nowhere.
    writeAll(a->childFd, request);
    QCOMPARE(readFor(b->childFd, 1, 100), QByteArray());
    QCOMPARE(relay.relayed(), 0u);
    QVERIFY(!relay.sendTo(12345, request));

    for (const auto &ch : {a, b})
        ::close(ch->childFd);
}

QTEST_GUILESS_MAIN(tst_BroadcastRelay)
#include "tst_broadcastrelay.moc"
