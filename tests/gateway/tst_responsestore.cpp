#include "apps/proxy/cache/responsestore.h"
#include "runtime/sharedregion.h"

#include <QTest>

#include <sys/wait.h>
#include <unistd.h>

using namespace Berth::Gateway::Cache;
using Berth::Core::SharedRegion;

namespace {

StoredResponse response(const QByteArray &body, qint64 nowMs, qint64 freshMs = 60000)
{
    StoredResponse r;
    r.status = 200;
    r.fields = "Content-Type: text/plain\r\n";
    r.body = body;
    r.storedAtMs = nowMs;
    r.freshMs = freshMs;
    return r;
}

} // namespace

class TestResponseStore : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { SharedRegion::becomeInstance(); }
    void cleanup() { SharedRegion::removeInstanceRegions(); }

    void storesAndFindsByKey()
    {
        auto store = ResponseStore::local(64 * 1024);
        const Key key = Key::of("a /x");
        StoredResponse out;
        QCOMPARE(store->lookup(key, 1000, &out), ResponseStore::Lookup::Miss);
        QVERIFY(store->store(key, Key::of("/x"), response("hello", 1000), 1000));
        QCOMPARE(store->lookup(key, 2000, &out), ResponseStore::Lookup::Hit);
        QCOMPARE(out.body, QByteArray("hello"));
        QCOMPARE(out.fields, QByteArray("Content-Type: text/plain\r\n"));
        QCOMPARE(out.ageMs(2000), 1000);
        QVERIFY(out.fresh(2000));
        QVERIFY(!out.fresh(61000));
        QCOMPARE(store->lookup(Key::of("a /y"), 2000, &out), ResponseStore::Lookup::Miss);
    }

    void claimMakesOthersWait()
    {
        auto store = ResponseStore::local(64 * 1024);
        const Key key = Key::of("a /c");
        StoredResponse out;
        bool claimed = false;
        QCOMPARE(store->lookup(key, 1000, &out, 500, &claimed), ResponseStore::Lookup::Miss);
        QVERIFY(claimed);
        // This process holds the claim: a second lookup sees it pending until the deadline.
        QCOMPARE(store->lookup(key, 1100, &out, 500, &claimed), ResponseStore::Lookup::Pending);
        QVERIFY(!claimed);
        QCOMPARE(store->lookup(key, 1600, &out, 500, &claimed), ResponseStore::Lookup::Miss);
        QVERIFY(claimed); // the first claim expired: this one takes over
        store->release(key);
        QCOMPARE(store->lookup(key, 1700, &out), ResponseStore::Lookup::Miss);
        QVERIFY(store->store(key, key, response("x", 1700), 1700));
        QCOMPARE(store->lookup(key, 1800, &out, 500, &claimed), ResponseStore::Lookup::Hit);
        QVERIFY(!claimed); // fresh: nothing to fetch
        // Stale: a hit, and the caller is the one that refreshes it.
        QCOMPARE(store->lookup(key, 90000, &out, 500, &claimed), ResponseStore::Lookup::Hit);
        QVERIFY(claimed);
    }

    void purgeRemovesEveryVariant()
    {
        auto store = ResponseStore::local(64 * 1024);
        const Key tag = Key::of("/p");
        QVERIFY(store->store(Key::of("v1"), tag, response("1", 0), 0));
        QVERIFY(store->store(Key::of("v2"), tag, response("2", 0), 0));
        QVERIFY(store->store(Key::of("other"), Key::of("/q"), response("3", 0), 0));
        QCOMPARE(store->purge(tag), 2);
        StoredResponse out;
        QCOMPARE(store->lookup(Key::of("v1"), 1, &out), ResponseStore::Lookup::Miss);
        QCOMPARE(store->lookup(Key::of("other"), 1, &out), ResponseStore::Lookup::Hit);
        QCOMPARE(store->purge(tag), 0);
    }

    void ringEvictsOldestButKeepsWhatIsRead()
    {
        auto store = ResponseStore::local(64 * 1024);
        const QByteArray body(10000, 'b');
        const Key hot = Key::of("hot");
        QVERIFY(store->store(hot, hot, response(body, 0), 0));
        StoredResponse out;
        for (int i = 0; i < 12; ++i) { // 120K through a 64K ring
            const Key key = Key::of(QByteArray::number(i));
            QVERIFY(store->store(key, key, response(body, 0), 0));
            QCOMPARE(store->lookup(hot, 1, &out), ResponseStore::Lookup::Hit); // read: kept
        }
        QCOMPARE(store->lookup(Key::of("0"), 1, &out), ResponseStore::Lookup::Miss); // evicted
        QCOMPARE(store->lookup(Key::of("11"), 1, &out), ResponseStore::Lookup::Hit);
        QCOMPARE(out.body, body);
        QVERIFY(store->counters().bytes <= 64 * 1024);
        QVERIFY(!store->store(Key::of("huge"), hot, response(QByteArray(40000, 'h'), 0), 0));
    }

    void refreshKeepsTheBody()
    {
        auto store = ResponseStore::local(64 * 1024);
        const Key key = Key::of("r");
        QVERIFY(store->store(key, key, response("body", 0, 0), 0));
        StoredResponse updated = response(QByteArray(), 5000, 60000);
        updated.fields = "ETag: \"2\"\r\n";
        QVERIFY(store->refresh(key, updated, 5000));
        StoredResponse out;
        QCOMPARE(store->lookup(key, 6000, &out), ResponseStore::Lookup::Hit);
        QCOMPARE(out.body, QByteArray("body"));
        QCOMPARE(out.fields, QByteArray("ETag: \"2\"\r\n"));
        QVERIFY(out.fresh(6000));
    }

    void sharedWithAForkedProcessAndSurvivesADeadLockHolder()
    {
        QString error;
        auto store = ResponseStore::open(QStringLiteral("@t"), 64 * 1024, &error);
        QVERIFY2(store, qPrintable(error));
        const pid_t pid = ::fork();
        if (pid == 0) {
            QString childError;
            auto mine = ResponseStore::open(QStringLiteral("@t"), 64 * 1024, &childError);
            if (!mine || !mine->store(Key::of("k"), Key::of("k"), response("child", 0), 0))
                ::_exit(2);
            // Dies holding the lock, as a worker killed mid-update would: the lock word is the
            // region's first field (header 64 bytes, 64 entries of 128 bytes, then the ring).
            auto raw = SharedRegion::open(QStringLiteral("cache.t.65536"),
                                          64 + 64 * 128 + 64 * 1024, {}, &childError);
            if (!raw)
                ::_exit(3);
            static_cast<std::atomic<qint32> *>(raw->data())->store(qint32(::getpid()));
            ::_exit(0);
        }
        QVERIFY(pid > 0);
        int status = 0;
        QCOMPARE(::waitpid(pid, &status, 0), pid);
        QCOMPARE(WEXITSTATUS(status), 0);
        StoredResponse out;
        QCOMPARE(store->lookup(Key::of("k"), 1, &out), ResponseStore::Lookup::Hit);
        QCOMPARE(out.body, QByteArray("child"));
    }
};

QTEST_GUILESS_MAIN(TestResponseStore)
#include "tst_responsestore.moc"
