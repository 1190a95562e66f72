// TicketKeyRing: rotation driven by an injected clock (the first tick only starts the clock,
// nothing before the interval, then next -> current -> previous -> gone), lookups by key name
// (current, previous/next, unknown), two openers of the shared region seeing one ring, and
// readers racing a rotating writer never seeing a torn key.
#include "runtime/sharedregion.h"
#include "runtime/ticketkeys.h"

#include <QTest>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

using Berth::Core::SharedRegion;
using Berth::Core::TicketKeyRing;

namespace {

bool sameKey(const TicketKeyRing::Key &a, const TicketKeyRing::Key &b)
{
    return std::memcmp(&a, &b, sizeof(a)) == 0;
}

} // namespace

class TestTicketKeys : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { SharedRegion::becomeInstance(); }
    void cleanup() { SharedRegion::removeInstanceRegions(); }

    void startsWithThreeDistinctKeys()
    {
        auto ring = TicketKeyRing::createLocal();
        TicketKeyRing::Keys keys;
        QVERIFY(ring->read(&keys));
        QCOMPARE(keys.generation, std::uint64_t(0));
        QVERIFY(!sameKey(keys.current, keys.previous));
        QVERIFY(!sameKey(keys.current, keys.next));
        QVERIFY(!sameKey(keys.previous, keys.next));
        QVERIFY(keys.current.aesKey != keys.current.hmacKey);
    }

    void rotatesOnTheInjectedClock()
    {
        auto ring = TicketKeyRing::createLocal();
        const std::int64_t interval = 3'600'000;
        TicketKeyRing::Keys before;
        QVERIFY(ring->read(&before));
        QVERIFY(!ring->rotateIfDue(1'000, interval)); // first tick: the clock starts here
        QVERIFY(!ring->rotateIfDue(1'000 + interval - 1, interval));
        TicketKeyRing::Keys unchanged;
        QVERIFY(ring->read(&unchanged));
        QVERIFY(sameKey(unchanged.current, before.current));

        QVERIFY(ring->rotateIfDue(1'000 + interval, interval));
        TicketKeyRing::Keys after;
        QVERIFY(ring->read(&after));
        QCOMPARE(after.generation, before.generation + 1);
        QVERIFY(sameKey(after.current, before.next));
        QVERIFY(sameKey(after.previous, before.current));
        QVERIFY(!sameKey(after.next, before.previous)); // a fresh key, not a recycled one
        QVERIFY(!sameKey(after.next, before.current));
        // The interval counts from the last rotation, not from the first tick.
        QVERIFY(!ring->rotateIfDue(1'000 + 2 * interval - 1, interval));
        QVERIFY(ring->rotateIfDue(1'000 + 2 * interval, interval));
    }

    void findsCurrentAndOlderKeysByName()
    {
        auto ring = TicketKeyRing::createLocal();
        TicketKeyRing::Keys first;
        QVERIFY(ring->read(&first));
        TicketKeyRing::Key found;
        QCOMPARE(ring->find(first.current.name.data(), &found), TicketKeyRing::Match::Current);
        QVERIFY(sameKey(found, first.current));
        QCOMPARE(ring->find(first.next.name.data(), &found), TicketKeyRing::Match::Other);
        QVERIFY(sameKey(found, first.next));

        // A ticket made under first.current still decrypts after one rotation (as "previous":
        // decrypt and renew), and no longer after two: the client gets a full handshake.
        ring->rotate(10);
        QCOMPARE(ring->find(first.current.name.data(), &found), TicketKeyRing::Match::Other);
        QVERIFY(sameKey(found, first.current));
        ring->rotate(20);
        QCOMPARE(ring->find(first.current.name.data(), &found), TicketKeyRing::Match::None);

        const std::uint8_t unknown[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
        QCOMPARE(ring->find(unknown, &found), TicketKeyRing::Match::None);
    }

    void sharedRegionIsOneRingForEveryOpener()
    {
        QString error;
        auto a = TicketKeyRing::openShared(&error);
        QVERIFY2(a, qPrintable(error));
        auto b = TicketKeyRing::openShared(&error); // another worker of the same server
        QVERIFY2(b, qPrintable(error));
        TicketKeyRing::Keys fromA;
        TicketKeyRing::Keys fromB;
        QVERIFY(a->read(&fromA));
        QVERIFY(b->read(&fromB));
        QVERIFY(sameKey(fromA.current, fromB.current));
        a->rotate(5); // the master rotates; the worker sees it
        QVERIFY(b->read(&fromB));
        QCOMPARE(fromB.generation, fromA.generation + 1);
        QVERIFY(sameKey(fromB.previous, fromA.current));
        // A region that outlives its openers (a reload's new workers) keeps the keys.
        a.reset();
        b.reset();
        auto c = TicketKeyRing::openShared(&error);
        QVERIFY2(c, qPrintable(error));
        TicketKeyRing::Keys fromC;
        QVERIFY(c->read(&fromC));
        QVERIFY(sameKey(fromC.previous, fromA.current));
    }

    void readersNeverSeeATornKey()
    {
        // A reader racing the writer must see, for each generation, exactly the keys the writer
        // installed for it: never the words of two different keys mixed (the seqlock).
        auto ring = TicketKeyRing::createLocal();
        constexpr int Rotations = 20000;
        std::vector<TicketKeyRing::Keys> installed(Rotations + 1);
        QVERIFY(ring->read(&installed[0]));
        std::vector<TicketKeyRing::Keys> seen;
        seen.reserve(200000);
        std::atomic<bool> stop{false};
        std::atomic<bool> reading{false};
        std::thread reader([&] {
            while (!stop.load(std::memory_order_relaxed) && seen.size() < seen.capacity()) {
                TicketKeyRing::Keys keys;
                if (ring->read(&keys))
                    seen.push_back(keys);
                reading.store(true, std::memory_order_relaxed);
            }
        });
        // The rotations take ~20 ms: a reader scheduled later would race nothing.
        while (!reading.load(std::memory_order_relaxed))
            std::this_thread::yield();
        for (int i = 1; i <= Rotations; ++i) {
            ring->rotate(i);
            QVERIFY(ring->read(&installed[std::size_t(i)])); // the writer's own, uncontended view
        }
        stop = true;
        reader.join();
        QVERIFY(!seen.empty());
        for (const TicketKeyRing::Keys &keys : seen) {
            QVERIFY(keys.generation <= std::uint64_t(Rotations));
            const TicketKeyRing::Keys &expected = installed[std::size_t(keys.generation)];
            QVERIFY(sameKey(keys.current, expected.current));
            QVERIFY(sameKey(keys.previous, expected.previous));
            QVERIFY(sameKey(keys.next, expected.next));
        }
    }
};

QTEST_GUILESS_MAIN(TestTicketKeys)
#include "tst_ticketkeys.moc"
