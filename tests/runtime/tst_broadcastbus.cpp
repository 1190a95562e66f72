// BroadcastBus and its wire format: frames split and joined at any byte, oversized frames
// refused before they are buffered, local delivery to every subscriber's own thread (never
// inside publish), delivery of what the master's end sends, publish writing frames to the
// channel, the capped backlog when the master doesn't read, and a closed channel falling back to
// in-process delivery.
#include "runtime/broadcastbus.h"
#include "runtime/buswire.h"

#include <QThread>
#include <QtEndian>
#include <QtTest>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace Berth;
using Core::BroadcastBus;
namespace BusWire = Core::BusWire;

class tst_BroadcastBus : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void wireRoundTripAtEverySplit();
    void wireRefusesOversized();
    void localDeliveryToEverySubscriberOnItsThread();
    void unsubscribeStopsDelivery();
    void receivesFramesFromTheMaster();
    void publishWritesAFrame();
    void backlogIsCappedWhenTheMasterDoesNotRead();
    void closedChannelFallsBackToLocalDelivery();
    void tooLargeIsRefused();

private:
    static QByteArray readAll(int fd, qsizetype want);
};

QByteArray tst_BroadcastBus::readAll(int fd, qsizetype want)
{
    QByteArray got;
    QDeadlineTimer deadline(5000);
    while (got.size() < want && !deadline.hasExpired()) {
        char buffer[65536];
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0)
            got.append(buffer, n);
        else
            QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
    }
    return got;
}

void tst_BroadcastBus::wireRoundTripAtEverySplit()
{
    const QByteArray stream = BusWire::encode("chat", "hello") + BusWire::encode("", "") +
                              BusWire::encode("t", QByteArray(300, 'x'));
    for (qsizetype split = 0; split <= stream.size(); ++split) {
        BusWire::Decoder decoder;
        QList<QByteArray> topics;
        QList<QByteArray> payloads;
        QByteArray frame;
        QByteArray topic;
        QByteArray payload;
        for (QByteArrayView part :
             {QByteArrayView(stream).first(split), QByteArrayView(stream).sliced(split)}) {
            decoder.append(part);
            while (decoder.next(&frame, &topic, &payload) == BusWire::Decoder::Result::Frame) {
                topics.append(topic);
                payloads.append(payload);
            }
        }
        QCOMPARE(topics, (QList<QByteArray>{"chat", "", "t"}));
        QCOMPARE(payloads, (QList<QByteArray>{"hello", "", QByteArray(300, 'x')}));
        QCOMPARE(decoder.buffered(), 0);
    }
}

void tst_BroadcastBus::wireRefusesOversized()
{
    QVERIFY(BusWire::encode(QByteArray(256, 't'), "x").isEmpty());
    QVERIFY(BusWire::encode("t", QByteArray(BusWire::MaxPayloadBytes + 1, 'x')).isEmpty());
    QVERIFY(!BusWire::encode("t", QByteArray(BusWire::MaxPayloadBytes, 'x')).isEmpty());

    // A header announcing 4 GiB is an error at once, not a reason to buffer.
    BusWire::Decoder decoder;
    char header[5];
    qToBigEndian(quint32(0xFFFFFFF0), header);
    header[4] = 1;
    decoder.append(QByteArrayView(header, 5));
    QByteArray frame;
    QCOMPARE(decoder.next(&frame), BusWire::Decoder::Result::Error);
    // A topic longer than the frame is malformed.
    BusWire::Decoder second;
    qToBigEndian(quint32(2), header);
    header[4] = 9;
    second.append(QByteArrayView(header, 5));
    QCOMPARE(second.next(&frame), BusWire::Decoder::Result::Error);
}

void tst_BroadcastBus::localDeliveryToEverySubscriberOnItsThread()
{
    BroadcastBus bus;
    QThread worker;
    QObject workerContext;
    workerContext.moveToThread(&worker);
    worker.start();
    QObject mainContext;
    std::atomic<QThread *> workerSaw{nullptr};
    QList<QByteArray> mainGot;
    QList<QByteArray> otherTopicGot;
    bus.subscribe("room", &workerContext,
                  [&](const QByteArray &) { workerSaw.store(QThread::currentThread()); });
    bus.subscribe("room", &mainContext, [&](const QByteArray &p) { mainGot.append(p); });
    bus.subscribe("other", &mainContext, [&](const QByteArray &p) { otherTopicGot.append(p); });

    QCOMPARE(bus.publish("room", "hi"), BroadcastBus::PublishResult::Sent);
    QVERIFY(mainGot.isEmpty()); // queued, never inside publish()
    QTRY_COMPARE(mainGot, QList<QByteArray>{"hi"});
    QTRY_COMPARE(workerSaw.load(), &worker);
    QVERIFY(otherTopicGot.isEmpty());
    QVERIFY(!bus.hasChannel());
    QCOMPARE(bus.published(), 1u);
    worker.quit();
    worker.wait();
}

void tst_BroadcastBus::unsubscribeStopsDelivery()
{
    BroadcastBus bus;
    QObject context;
    int calls = 0;
    const auto id = bus.subscribe("room", &context, [&](const QByteArray &) { ++calls; });
    bus.publish("room", "one");
    // Unsubscribed after the publish but before the event ran: the handler must not run.
    bus.unsubscribe(id);
    QCoreApplication::processEvents();
    QCOMPARE(calls, 0);

    // A context deleted with a delivery pending drops it.
    {
        QObject gone;
        bus.subscribe("room", &gone, [&](const QByteArray &) { ++calls; });
        bus.publish("room", "two");
    }
    QCoreApplication::processEvents();
    QCOMPARE(calls, 0);
}

void tst_BroadcastBus::receivesFramesFromTheMaster()
{
    int pair[2];
    QCOMPARE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    BroadcastBus bus(pair[0]);
    QVERIFY(bus.hasChannel());
    QObject context;
    QList<QByteArray> got;
    bus.subscribe("room", &context, [&](const QByteArray &p) { got.append(p); });
    const QByteArray frames = BusWire::encode("room", "a") + BusWire::encode("elsewhere", "b") +
                              BusWire::encode("room", QByteArray(200'000, 'c'));
    // Written in two uneven pieces: the bus reassembles across reads.
    QCOMPARE(::write(pair[1], frames.constData(), 7), 7);
    QCoreApplication::processEvents();
    qsizetype sent = 7;
    while (sent < frames.size()) {
        const ssize_t n =
            ::send(pair[1], frames.constData() + sent, size_t(frames.size() - sent), MSG_DONTWAIT);
        if (n > 0)
            sent += n;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
    }
    QTRY_COMPARE(got.size(), 2);
    QCOMPARE(got[0], QByteArray("a"));
    QCOMPARE(got[1], QByteArray(200'000, 'c'));
    QCOMPARE(bus.received(), 3u);
    ::close(pair[1]);
}

void tst_BroadcastBus::publishWritesAFrame()
{
    int pair[2];
    QCOMPARE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    BroadcastBus bus(pair[0]);
    QObject context;
    QList<QByteArray> local;
    bus.subscribe("room", &context, [&](const QByteArray &p) { local.append(p); });
    QCOMPARE(bus.publish("room", "hello"), BroadcastBus::PublishResult::Sent);
    const QByteArray expected = BusWire::encode("room", "hello");
    QCOMPARE(readAll(pair[1], expected.size()), expected);
    QTRY_COMPARE(local, QList<QByteArray>{"hello"}); // the publishing process gets it too

    // Bigger than the socket buffer: the rest goes out as the master reads.
    const QByteArray big(BusWire::MaxPayloadBytes, 'z');
    QCOMPARE(bus.publish("room", big), BroadcastBus::PublishResult::Sent);
    const QByteArray bigFrame = BusWire::encode("room", big);
    QCOMPARE(readAll(pair[1], bigFrame.size()), bigFrame);
    ::close(pair[1]);
}

void tst_BroadcastBus::backlogIsCappedWhenTheMasterDoesNotRead()
{
    int pair[2];
    QCOMPARE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    BroadcastBus bus(pair[0], 512 * 1024);
    const QByteArray payload(64 * 1024, 'p');
    int sent = 0;
    BroadcastBus::PublishResult result = BroadcastBus::PublishResult::Sent;
    // The master's end never reads: the socket buffer fills, then the backlog, then refusals.
    for (int i = 0; i < 200 && result == BroadcastBus::PublishResult::Sent; ++i) {
        result = bus.publish("room", payload);
        sent += result == BroadcastBus::PublishResult::Sent ? 1 : 0;
    }
    QCOMPARE(result, BroadcastBus::PublishResult::Backlogged);
    QVERIFY(sent < 200);
    QCOMPARE(bus.refused(), 1u);
    // Once the master reads everything, publishing works again and nothing was lost or torn.
    const QByteArray frame = BusWire::encode("room", payload);
    QCOMPARE(readAll(pair[1], frame.size() * sent), frame.repeated(sent));
    QCOMPARE(bus.publish("room", payload), BroadcastBus::PublishResult::Sent);
    ::close(pair[1]);
}

void tst_BroadcastBus::closedChannelFallsBackToLocalDelivery()
{
    int pair[2];
    QCOMPARE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    BroadcastBus bus(pair[0]);
    ::close(pair[1]); // the master is gone
    QTRY_VERIFY(!bus.hasChannel());
    QObject context;
    QList<QByteArray> got;
    bus.subscribe("room", &context, [&](const QByteArray &p) { got.append(p); });
    QCOMPARE(bus.publish("room", "still here"), BroadcastBus::PublishResult::Sent);
    QTRY_COMPARE(got, QList<QByteArray>{"still here"});
}

void tst_BroadcastBus::tooLargeIsRefused()
{
    BroadcastBus bus;
    QObject context;
    int calls = 0;
    bus.subscribe("room", &context, [&](const QByteArray &) { ++calls; });
    QCOMPARE(bus.publish("room", QByteArray(BusWire::MaxPayloadBytes + 1, 'x')),
             BroadcastBus::PublishResult::TooLarge);
    QCoreApplication::processEvents();
    QCOMPARE(calls, 0);
    QCOMPARE(bus.refused(), 1u);
}

QTEST_GUILESS_MAIN(tst_BroadcastBus)
#include "tst_broadcastbus.moc"
