#include "runtime/sharedregion.h"

#include <QTest>

#include <atomic>
#include <cstdint>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

using Berth::Core::SharedRegion;

// Every test runs as its own instance (a fake master pid that exists: this process's), so
// nothing is left in /dev/shm and parallel test runs do not meet.
class TestSharedRegion : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { SharedRegion::becomeInstance(); }
    void cleanup() { SharedRegion::removeInstanceRegions(); }

    void createsOnceAndInitialisesOnce()
    {
        int initialised = 0;
        const auto init = [&](void *data, std::size_t bytes) {
            ++initialised;
            QCOMPARE(bytes, std::size_t(128)); // rounded up to a cache line multiple
            static_cast<std::uint32_t *>(data)[0] = 42;
        };
        QString error;
        const auto first = SharedRegion::open(QStringLiteral("t.once"), 100, init, &error);
        QVERIFY2(first, qPrintable(error));
        const auto second = SharedRegion::open(QStringLiteral("t.once"), 100, init, &error);
        QVERIFY2(second, qPrintable(error));
        QCOMPARE(initialised, 1);
        QCOMPARE(second->size(), std::size_t(128));
        QCOMPARE(reinterpret_cast<std::uintptr_t>(first->data()) % SharedRegion::Alignment, 0u);
        QCOMPARE(static_cast<std::uint32_t *>(second->data())[0], 42u);
        // Two mappings of one object: a write through one is seen through the other.
        static_cast<std::uint32_t *>(first->data())[1] = 7;
        QCOMPARE(static_cast<std::uint32_t *>(second->data())[1], 7u);
    }

    void sharedWithAForkedProcess()
    {
        QString error;
        const auto region = SharedRegion::open(QStringLiteral("t.fork"), 64, {}, &error);
        QVERIFY2(region, qPrintable(error));
        auto *counter = static_cast<std::atomic<std::int64_t> *>(region->data());
        const pid_t pid = ::fork();
        if (pid == 0) {
            // The child opens the region by name, as a re-executed worker would.
            QString childError;
            const auto mine = SharedRegion::open(QStringLiteral("t.fork"), 64, {}, &childError);
            if (!mine)
                ::_exit(2);
            auto *c = static_cast<std::atomic<std::int64_t> *>(mine->data());
            for (int i = 0; i < 1000; ++i)
                c->fetch_add(1, std::memory_order_relaxed);
            ::_exit(0);
        }
        QVERIFY(pid > 0);
        for (int i = 0; i < 1000; ++i)
            counter->fetch_add(1, std::memory_order_relaxed);
        int status = 0;
        QCOMPARE(::waitpid(pid, &status, 0), pid);
        QVERIFY(WIFEXITED(status));
        QCOMPARE(WEXITSTATUS(status), 0);
        QCOMPARE(counter->load(), 2000);
    }

    void anotherSizeIsRefused()
    {
        QString error;
        const auto region = SharedRegion::open(QStringLiteral("t.size"), 64, {}, &error);
        QVERIFY2(region, qPrintable(error));
        QVERIFY(!SharedRegion::open(QStringLiteral("t.size"), 4096, {}, &error));
        QVERIFY2(error.contains(QStringLiteral("t.size")), qPrintable(error));
    }

    void badNamesAndSizesAreRefused()
    {
        QString error;
        QVERIFY(!SharedRegion::open(QStringLiteral("../etc"), 64, {}, &error));
        QVERIFY(!SharedRegion::open(QStringLiteral("a/b"), 64, {}, &error));
        QVERIFY(!SharedRegion::open(QString(), 64, {}, &error));
        QVERIFY(!SharedRegion::open(QStringLiteral("t.zero"), 0, {}, &error));
    }

    void removedWithTheInstance()
    {
        QString error;
        auto region = SharedRegion::open(QStringLiteral("t.gone"), 64, {}, &error);
        QVERIFY2(region, qPrintable(error));
        static_cast<std::uint32_t *>(region->data())[0] = 9;
        SharedRegion::removeInstanceRegions();
        // The old mapping stays valid; a new open makes a fresh, zeroed region.
        QCOMPARE(static_cast<std::uint32_t *>(region->data())[0], 9u);
        const auto fresh = SharedRegion::open(QStringLiteral("t.gone"), 64, {}, &error);
        QVERIFY2(fresh, qPrintable(error));
        QCOMPARE(static_cast<std::uint32_t *>(fresh->data())[0], 0u);
    }

    void staleRegionsOfDeadInstancesGo()
    {
        // A child becomes an instance, creates a region and exits without removing it.
        const pid_t pid = ::fork();
        if (pid == 0) {
            SharedRegion::becomeInstance();
            QString childError;
            const auto mine = SharedRegion::open(QStringLiteral("t.stale"), 64, {}, &childError);
            ::_exit(mine ? 0 : 2);
        }
        QVERIFY(pid > 0);
        int status = 0;
        QCOMPARE(::waitpid(pid, &status, 0), pid);
        QCOMPARE(WEXITSTATUS(status), 0);
        const QByteArray object = "/berth." + QByteArray::number(pid) + ".t.stale";
        int fd = ::shm_open(object.constData(), O_RDONLY, 0);
        QVERIFY(fd >= 0);
        ::close(fd);
        SharedRegion::removeStaleRegions();
        fd = ::shm_open(object.constData(), O_RDONLY, 0);
        QCOMPARE(fd, -1);
        // This live instance's regions are not stale.
        QString error;
        const auto live = SharedRegion::open(QStringLiteral("t.live"), 64, {}, &error);
        QVERIFY(live);
        SharedRegion::removeStaleRegions();
        const QByteArray mine = "/berth." + SharedRegion::instanceId().toLatin1() + ".t.live";
        fd = ::shm_open(mine.constData(), O_RDONLY, 0);
        QVERIFY(fd >= 0);
        ::close(fd);
    }
};

QTEST_GUILESS_MAIN(TestSharedRegion)
#include "tst_sharedregion.moc"
