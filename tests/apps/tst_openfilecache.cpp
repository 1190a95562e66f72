#include "staticfixture.h"

#include "apps/staticfiles/openfilecache.h"

#include <QTemporaryDir>

#include <fcntl.h>

using namespace Berth;
using namespace Berth::Tests;

// The static app's open-file cache (open_file_cache), with an injected clock: hits, revalidation
// after `valid`, changed / deleted / renamed-over files, negative entries, the LRU bound and the
// fds it holds; and the security checks of tst_staticfileapp, served twice from a cache.
class tst_OpenFileCache : public QObject, protected StaticFixture
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void hitServesRememberedFile();
    void revalidatedAfterValid();
    void deletedFileBecomes404();
    void replacedByRename();
    void negativeEntries();
    void escapingSymlinkRefusedAfterCaching();
    void lruBound();
    void fdsClosedOnEvictionAndDestruction();
    void metadataOnlyPastTheFdBudget();
    void conditionalRangeHeadFromCache();
    void directoriesAndIndex();
    void securityChecksStillHold_data();
    void securityChecksStillHold();
    void cacheContainer();

private:
    StaticFileApp::Options cached(const QString &root, qsizetype entries = 100);
    void write(const QString &name, const QByteArray &content, qint64 mtime = fixedMtime);
    QString site(const QString &name) const { return m_site->path() + u'/' + name; }

    std::int64_t m_now = 1000000; // the injected clock, in ms
    std::unique_ptr<QTemporaryDir> m_site;
};

void tst_OpenFileCache::initTestCase()
{
    setUpFixture();
}

void tst_OpenFileCache::init()
{
    m_site = std::make_unique<QTemporaryDir>();
    QVERIFY(m_site->isValid());
}

StaticFileApp::Options tst_OpenFileCache::cached(const QString &root, qsizetype entries)
{
    StaticFileApp::Options o;
    o.root = root;
    o.openFileCache = entries;
    o.openFileCacheValidMs = 1000;
    o.clock = [this] { return m_now; };
    return o;
}

void tst_OpenFileCache::write(const QString &name, const QByteArray &content, qint64 mtime)
{
    QFile file(site(name));
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    QCOMPARE(file.write(content), content.size());
    file.close();
    const timeval times[2] = {{time_t(mtime), 0}, {time_t(mtime), 0}};
    QVERIFY(::utimes(QFile::encodeName(site(name)).constData(), times) == 0);
}

void tst_OpenFileCache::hitServesRememberedFile()
{
    write(QStringLiteral("a.txt"), "first");
    StaticFileApp app(cached(m_site->path()));
    const auto one = get(app, "/a.txt");
    QCOMPARE(one->status(), 200);
    QCOMPARE(one->body(), QByteArrayLiteral("first"));
    QCOMPARE(app.openFileCache()->size(), 1);

    // Changed in place, same size, same mtime second: within `valid` the cached fd, size and
    // validators answer; the bytes come from the (same) inode.
    write(QStringLiteral("a.txt"), "FIRST");
    m_now += 999;
    const auto two = get(app, "/a.txt");
    QCOMPARE(two->status(), 200);
    QCOMPARE(two->header("ETag"), one->header("ETag"));
    QCOMPARE(two->header("Last-Modified"), one->header("Last-Modified"));
    QCOMPARE(two->header("Content-Type"), QByteArrayLiteral("text/plain; charset=utf-8"));
    QCOMPARE(two->body(), QByteArrayLiteral("FIRST"));
    QVERIFY(two->protocolErrors().isEmpty());
}

void tst_OpenFileCache::revalidatedAfterValid()
{
    write(QStringLiteral("a.txt"), "old");
    StaticFileApp app(cached(m_site->path()));
    const QByteArray oldTag = get(app, "/a.txt")->header("ETag");

    write(QStringLiteral("a.txt"), "newer!", fixedMtime + 60);
    m_now += 500;
    QCOMPARE(get(app, "/a.txt")->header("ETag"), oldTag); // still trusted
    m_now += 500;                                         // `valid` has passed
    const auto after = get(app, "/a.txt");
    QCOMPARE(after->status(), 200);
    QCOMPARE(after->body(), QByteArrayLiteral("newer!"));
    QCOMPARE(after->contentLength(), 6);
    QVERIFY(after->header("ETag") != oldTag);
    QCOMPARE(after->header("ETag"), Apps::Validators::forFile(fixedMtime + 60, 6).entityTag);
}

void tst_OpenFileCache::deletedFileBecomes404()
{
    write(QStringLiteral("gone.txt"), "here");
    StaticFileApp app(cached(m_site->path()));
    QCOMPARE(get(app, "/gone.txt")->status(), 200);
    QVERIFY(QFile::remove(site(QStringLiteral("gone.txt"))));
    // As nginx: the open fd still reads the unlinked file until the entry is looked up again.
    QCOMPARE(get(app, "/gone.txt")->body(), QByteArrayLiteral("here"));
    m_now += 1000;
    QCOMPARE(get(app, "/gone.txt")->status(), 404);
    QCOMPARE(app.openFileCache()->size(), 1); // now a negative entry
}

void tst_OpenFileCache::replacedByRename()
{
    write(QStringLiteral("v.txt"), "version 1");
    StaticFileApp app(cached(m_site->path()));
    QCOMPARE(get(app, "/v.txt")->body(), QByteArrayLiteral("version 1"));

    // A deploy writes the new file aside and renames it over the old one: a new inode, with
    // the same size and mtime, so only the inode tells them apart.
    write(QStringLiteral(".v.tmp"), "version 2");
    QVERIFY(::rename(QFile::encodeName(site(QStringLiteral(".v.tmp"))).constData(),
                     QFile::encodeName(site(QStringLiteral("v.txt"))).constData()) == 0);
    QCOMPARE(get(app, "/v.txt")->body(), QByteArrayLiteral("version 1")); // the old inode
    m_now += 1000;
    QCOMPARE(get(app, "/v.txt")->body(), QByteArrayLiteral("version 2"));
}

void tst_OpenFileCache::negativeEntries()
{
    StaticFileApp app(cached(m_site->path()));
    QCOMPARE(get(app, "/late.txt")->status(), 404);
    write(QStringLiteral("late.txt"), "late");
    QCOMPARE(get(app, "/late.txt")->status(), 404); // remembered as missing
    m_now += 1000;
    QCOMPARE(get(app, "/late.txt")->body(), QByteArrayLiteral("late"));

    // Paths the checks refuse never reach the cache.
    QCOMPARE(get(app, "/.env")->status(), 404);
    QCOMPARE(get(app, "/../x")->status(), 404);
    QCOMPARE(app.openFileCache()->size(), 1);

    // A path too long to be a key is looked up each time, never stored.
    const QByteArray longName = '/' + QByteArray(Apps::OpenFileCache::MaxKeyLength, 'x');
    QCOMPARE(get(app, longName)->status(), 404);
    QCOMPARE(app.openFileCache()->size(), 1);
}

void tst_OpenFileCache::escapingSymlinkRefusedAfterCaching()
{
    QTemporaryDir outside;
    QVERIFY(outside.isValid());
    QFile secretFile(outside.path() + QStringLiteral("/secret.txt"));
    QVERIFY(secretFile.open(QIODevice::WriteOnly));
    secretFile.write(secret);
    secretFile.close();

    write(QStringLiteral("page.txt"), "public");
    QVERIFY(QDir().mkpath(site(QStringLiteral("dir"))));
    write(QStringLiteral("dir/in.txt"), "inside");
    StaticFileApp app(cached(m_site->path()));
    QCOMPARE(get(app, "/page.txt")->body(), QByteArrayLiteral("public"));
    QCOMPARE(get(app, "/dir/in.txt")->body(), QByteArrayLiteral("inside"));

    // The file, then a directory on the path, swapped for symlinks leaving the root.
    QVERIFY(QFile::remove(site(QStringLiteral("page.txt"))));
    QVERIFY(QFile::link(secretFile.fileName(), site(QStringLiteral("page.txt"))));
    QVERIFY(QDir(site(QStringLiteral("dir"))).removeRecursively());
    QVERIFY(QFile::link(outside.path(), site(QStringLiteral("dir"))));
    QVERIFY(QFile::copy(secretFile.fileName(), outside.path() + QStringLiteral("/in.txt")));
    m_now += 1000;
    const QByteArray paths[] = {QByteArrayLiteral("/page.txt"), QByteArrayLiteral("/dir/in.txt")};
    for (const QByteArray &path : paths) {
        const auto ex = get(app, path);
        QCOMPARE(ex->status(), 404);
        QVERIFY(!ex->body().contains("SECRET"));
        m_now += 10;
        QCOMPARE(get(app, path)->status(), 404); // and the cached answer is the same
    }
}

void tst_OpenFileCache::lruBound()
{
    for (const char *name : {"1.txt", "2.txt", "3.txt"})
        write(QLatin1String(name), name);
    StaticFileApp app(cached(m_site->path(), 2));
    QCOMPARE(get(app, "/1.txt")->status(), 200);
    QCOMPARE(get(app, "/2.txt")->status(), 200);
    QCOMPARE(get(app, "/1.txt")->status(), 200); // 1 is now the most recently used
    QCOMPARE(get(app, "/3.txt")->status(), 200); // evicts 2
    QCOMPARE(app.openFileCache()->size(), 2);

    // 1 is still cached (a change is not seen), 2 was evicted (looked up afresh).
    write(QStringLiteral("1.txt"), "ONE", fixedMtime + 1);
    write(QStringLiteral("2.txt"), "TWO", fixedMtime + 1);
    QCOMPARE(get(app, "/1.txt")->header("ETag"),
             Apps::Validators::forFile(fixedMtime, 5).entityTag);
    QCOMPARE(get(app, "/2.txt")->body(), QByteArrayLiteral("TWO"));
    QCOMPARE(app.openFileCache()->size(), 2);
}

void tst_OpenFileCache::fdsClosedOnEvictionAndDestruction()
{
    for (int i = 0; i < 5; ++i)
        write(QStringLiteral("f%1.txt").arg(i), "x");
    const int before = openFdCount();
    {
        StaticFileApp app(cached(m_site->path(), 3));
        const int withApp = openFdCount(); // the root directory it opened
        for (int i = 0; i < 5; ++i) {
            const auto ex = get(app, QByteArrayLiteral("/f") + QByteArray::number(i) + ".txt");
            QCOMPARE(ex->status(), 200);
            QVERIFY(ex->protocolErrors().isEmpty()); // the fd it was given was its own
        }
        QCOMPARE(app.openFileCache()->size(), 3);
        QCOMPARE(openFdCount(), withApp + 3); // one per cached file, the evicted ones closed
        QCOMPARE(get(app, "/missing")->status(), 404); // evicts one more file
        QCOMPARE(openFdCount(), withApp + 2);
        m_now += 1000;
        QCOMPARE(get(app, "/f4.txt")->status(), 200); // revalidated: the old fd is closed
        QCOMPARE(openFdCount(), withApp + 2);
    }
    QCOMPARE(openFdCount(), before);
}

void tst_OpenFileCache::metadataOnlyPastTheFdBudget()
{
    write(QStringLiteral("a.txt"), "alpha");
    write(QStringLiteral("b.txt"), "bravo");
    const qint64 kept = Apps::OpenFileCache::cachedFds();
    Apps::OpenFileCache::setFdBudget(kept + 1);
    {
        StaticFileApp app(cached(m_site->path()));
        const int withApp = openFdCount();
        QCOMPARE(get(app, "/a.txt")->body(), QByteArrayLiteral("alpha")); // keeps its fd
        QCOMPARE(get(app, "/b.txt")->body(), QByteArrayLiteral("bravo")); // metadata only
        QCOMPARE(app.openFileCache()->size(), 2);
        QCOMPARE(Apps::OpenFileCache::cachedFds(), kept + 1);
        QCOMPARE(openFdCount(), withApp + 1);

        // Served again: reopened by path, accepted as the same inode, closed by the exchange.
        const auto again = get(app, "/b.txt");
        QCOMPARE(again->body(), QByteArrayLiteral("bravo"));
        QVERIFY(again->protocolErrors().isEmpty());
        QCOMPARE(get(app, "/b.txt", {}, "HEAD")->contentLength(), 5);
        QCOMPARE(openFdCount(), withApp + 1);

        // Renamed over within `valid`: the reopened file is another inode, so the path is
        // looked up afresh at once rather than served with the old validators.
        write(QStringLiteral(".b.tmp"), "BRAVO!", fixedMtime + 5);
        QVERIFY(::rename(QFile::encodeName(site(QStringLiteral(".b.tmp"))).constData(),
                         QFile::encodeName(site(QStringLiteral("b.txt"))).constData()) == 0);
        const auto renamed = get(app, "/b.txt");
        QCOMPARE(renamed->body(), QByteArrayLiteral("BRAVO!"));
        QCOMPARE(renamed->header("ETag"), Apps::Validators::forFile(fixedMtime + 5, 6).entityTag);

        // Deleted: nothing left to reopen, so 404 at once.
        QVERIFY(QFile::remove(site(QStringLiteral("b.txt"))));
        QCOMPARE(get(app, "/b.txt")->status(), 404);
        QCOMPARE(openFdCount(), withApp + 1);
    }
    QCOMPARE(Apps::OpenFileCache::cachedFds(), kept);
    Apps::OpenFileCache::setFdBudget(-1);
}

void tst_OpenFileCache::conditionalRangeHeadFromCache()
{
    write(QStringLiteral("l.txt"), m_letters);
    StaticFileApp::Options o = cached(m_site->path());
    o.cacheControl = QByteArrayLiteral("max-age=60");
    StaticFileApp app(o);
    const auto first = get(app, "/l.txt");
    const QByteArray tag = first->header("ETag");
    for (int round = 0; round < 2; ++round) {
        const auto notModified = get(app, "/l.txt", {{"If-None-Match", tag}});
        QCOMPARE(notModified->status(), 304);
        QCOMPARE(notModified->header("ETag"), tag);
        QCOMPARE(notModified->header("Cache-Control"), QByteArrayLiteral("max-age=60"));
        QCOMPARE(get(app, "/l.txt", {{"If-Match", "\"other\""}})->status(), 412);
        const auto range = get(app, "/l.txt", {{"Range", "bytes=2-4"}});
        QCOMPARE(range->status(), 206);
        QCOMPARE(range->body(), m_letters.mid(2, 3));
        QCOMPARE(range->header("Content-Range"), QByteArrayLiteral("bytes 2-4/100"));
        const auto multi = get(app, "/l.txt", {{"Range", "bytes=0-0,5-5"}});
        QCOMPARE(multi->status(), 206);
        multi->drainUntilFinished();
        QVERIFY(multi->body().contains("Content-Range: bytes 5-5/100"));
        QCOMPARE(get(app, "/l.txt", {{"Range", "bytes=500-"}})->status(), 416);
        const auto head = get(app, "/l.txt", {}, "HEAD");
        QCOMPARE(head->status(), 200);
        QCOMPARE(head->contentLength(), 100);
        QVERIFY(head->body().isEmpty());
        QCOMPARE(head->header("ETag"), tag);
        QCOMPARE(head->sendFileCalls(), 0);
    }
    QCOMPARE(app.openFileCache()->size(), 1);
}

void tst_OpenFileCache::directoriesAndIndex()
{
    QVERIFY(QDir().mkpath(site(QStringLiteral("docs"))));
    StaticFileApp app(cached(m_site->path()));
    for (int round = 0; round < 2; ++round) {
        const auto redirect = get(app, "/docs", {}, "GET", "/m", "a=1");
        QCOMPARE(redirect->status(), 301);
        QCOMPARE(redirect->header("Location"), QByteArrayLiteral("/m/docs/?a=1"));
        QCOMPARE(get(app, "/docs/")->status(), 404); // no index, no listing
    }
    write(QStringLiteral("docs/index.html"), "<p>docs</p>");
    m_now += 1000;
    const auto index = get(app, "/docs/");
    QCOMPARE(index->status(), 200);
    QCOMPARE(index->body(), QByteArrayLiteral("<p>docs</p>"));
    QCOMPARE(index->header("Content-Type"), QByteArrayLiteral("text/html; charset=utf-8"));
}

void tst_OpenFileCache::securityChecksStillHold_data()
{
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<int>("status");
    QTest::addColumn<bool>("follow");
    QTest::newRow("in-root symlink") << QByteArrayLiteral("/link-in") << 200 << false;
    QTest::newRow("absolute in-root") << QByteArrayLiteral("/link-abs-in") << 200 << false;
    QTest::newRow("escaping symlink") << QByteArrayLiteral("/link-out") << 404 << false;
    QTest::newRow("absolute escaping") << QByteArrayLiteral("/link-abs-out") << 404 << false;
    QTest::newRow("escaping directory")
        << QByteArrayLiteral("/linkdir-out/secret.txt") << 404 << false;
    QTest::newRow("prefix sibling") << QByteArrayLiteral("/link-prefix") << 404 << false;
    QTest::newRow("loop") << QByteArrayLiteral("/link-loop") << 404 << false;
    QTest::newRow("etc") << QByteArrayLiteral("/link-etc/passwd") << 404 << false;
    QTest::newRow("escaping index") << QByteArrayLiteral("/index-escape/") << 404 << false;
    QTest::newRow("fifo") << QByteArrayLiteral("/fifo") << 404 << false;
    QTest::newRow("dotfile") << QByteArrayLiteral("/.secret") << 404 << false;
    QTest::newRow("followed") << QByteArrayLiteral("/link-out") << 200 << true;
}

void tst_OpenFileCache::securityChecksStillHold()
{
    QFETCH(QByteArray, path);
    QFETCH(int, status);
    QFETCH(bool, follow);
    StaticFileApp::Options o = options(false, follow);
    o.openFileCache = 10;
    o.clock = [this] { return m_now; };
    StaticFileApp app(o);
    for (int round = 0; round < 3; ++round) { // a miss, a hit, a revalidation
        const auto ex = get(app, path);
        QCOMPARE(ex->status(), status);
        if (!follow)
            QVERIFY(!ex->body().contains("SECRET"));
        m_now += round == 1 ? 1000 : 1;
    }
}

void tst_OpenFileCache::cacheContainer()
{
    Apps::OpenFileCache cache(2, 100, [this] { return m_now; });
    using State = Apps::OpenFileCache::State;
    State state;
    QVERIFY(!cache.find("/a", state));
    QCOMPARE(state, State::Missing);

    Apps::OpenFileEntry entry;
    entry.checkedMs = m_now;
    QCOMPARE(cache.store("/a", std::move(entry)).status, 404);
    QVERIFY(cache.find("/a", state));
    QCOMPARE(state, State::Fresh);
    m_now += 99;
    cache.find("/a", state);
    QCOMPARE(state, State::Fresh);
    m_now += 1;
    cache.find("/a", state);
    QCOMPARE(state, State::Stale);
    m_now -= 200; // a clock that went back is not trusted either
    cache.find("/a", state);
    QCOMPARE(state, State::Stale);

    // An fd given to the cache is closed when its entry is replaced or removed.
    const int before = openFdCount();
    Apps::OpenFileEntry file;
    file.kind = Apps::OpenFileEntry::Kind::File;
    file.fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    QVERIFY(file.fd >= 0);
    cache.store("/f", std::move(file));
    QCOMPARE(openFdCount(), before + 1);
    cache.store("/f", Apps::OpenFileEntry{});
    QCOMPARE(openFdCount(), before);
    cache.remove("/f");
    cache.remove("/never");
    QCOMPARE(cache.size(), 1);
}

QTEST_GUILESS_MAIN(tst_OpenFileCache)
#include "tst_openfilecache.moc"
