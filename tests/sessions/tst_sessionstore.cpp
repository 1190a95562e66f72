// SqlSessionStore and SessionManager on a real SQLite file, with an injected clock and token
// source: creation, lazy persistence, loading, idle expiry, purging, id rotation, destruction.

#include "sessions/session.h"
#include "sessions/sessionmanager.h"
#include "sessions/sqlsessionstore.h"
#include "sessionsync.h"

#include "runtime/offloadpool.h"

#include <QFile>
#include <QSemaphore>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth;
using namespace Berth::Sessions;
using Berth::Tests::loadSync;
using Berth::Tests::openSync;
using Berth::Tests::purgeSync;
using Berth::Tests::saveSync;
using namespace Qt::StringLiterals;

namespace {

constexpr qint64 Start = 1'700'000'000'000; // ms since the epoch
constexpr qint64 Timeout = 60'000;

// Counts rows of berth_sessions through its own connection (as another node would).
int rowCount(const QString &path)
{
    const QString name = u"count"_s;
    int rows = -1;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, name);
        db.setDatabaseName(path);
        if (db.open()) {
            QSqlQuery query(db);
            if (query.exec(u"SELECT COUNT(*) FROM berth_sessions"_s) && query.next())
                rows = query.value(0).toInt();
        }
    }
    QSqlDatabase::removeDatabase(name);
    return rows;
}

} // namespace

class tst_SessionStore : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void newSessionIsStoredOnlyWhenUsed();
    void loadFindsValuesAndToken();
    void valuesRoundTripAsJson();
    void idleSessionExpires();
    void touchKeepsSessionAlive();
    void purgeDeletesExpiredOnly();
    void purgeRunsAtMostOncePerInterval();
    void establishRotatesIdAndToken();
    void establishOnNewSessionStoresIt();
    void destroyDeletesRow();
    void malformedIdsAreRefused_data();
    void malformedIdsAreRefused();
    void storeKeyIsHashNotId();
    void sharedFileSeenByTwoManagers();
    void fileIsPrivate();
    void parseLocation_data();
    void parseLocation();
    void loadWaitsOffTheCallingThread();

private:
    std::unique_ptr<SessionManager> makeManager(qint64 timeout = Timeout);

    std::unique_ptr<Core::OffloadPool> m_pool;
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_path;
    qint64 m_now = Start;
    int m_tokenCounter = 0;
};

void tst_SessionStore::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_path = m_dir->filePath(u"sub/sessions.db"_s);
    m_now = Start;
    m_tokenCounter = 0;
    m_pool = std::make_unique<Core::OffloadPool>(Core::OffloadSettings{1, 64});
}

void tst_SessionStore::cleanup()
{
    m_pool.reset();
    m_dir.reset();
}

std::unique_ptr<SessionManager> tst_SessionStore::makeManager(qint64 timeout)
{
    StoreLocation location;
    location.path = m_path;
    auto manager = std::make_unique<SessionManager>(
        // One offload thread: background writes (touch, delete) land in the order they were
        // made, before the next call's query, so the tests see them deterministically.
        std::make_unique<SqlSessionStore>(location, 0, QByteArray("store test secret, 32 bytes.."),
                                          Crypto::AppCipher::Clock(), m_pool.get()),
        timeout, 10'000, [this] { return m_now; },
        [this] {
            // Predictable but well-formed tokens: 43 base64url characters.
            return QByteArray::number(++m_tokenCounter).rightJustified(43, 'T');
        });
    QString error;
    if (!openSync(*manager, &error))
        qWarning() << error;
    return manager;
}

void tst_SessionStore::newSessionIsStoredOnlyWhenUsed()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(session->isNew());
    QVERIFY(!session->isPersisted());
    QCOMPARE(session->id().size(), 43);
    QCOMPARE(rowCount(m_path), 0);
    int cookies = 0;
    session->setCookieHandler([&](const Session &) { ++cookies; });
    const QByteArray token = session->csrfToken();
    QVERIFY(!token.isEmpty());
    QVERIFY(token != session->id());
    // The token went out: the next save stores the session, and only then is the cookie sent.
    QVERIFY(!session->isPersisted());
    QCOMPARE(cookies, 0);
    QVERIFY(session->isDirty());
    QVERIFY(saveSync(*session));
    QVERIFY(session->isPersisted());
    QCOMPARE(cookies, 1);
    QCOMPARE(rowCount(m_path), 1);
    // Further use does not announce the cookie again.
    QVERIFY(session->setValue(u"a"_s, 1));
    QVERIFY(saveSync(*session));
    QCOMPARE(cookies, 1);
}

void tst_SessionStore::loadFindsValuesAndToken()
{
    auto manager = makeManager();
    std::unique_ptr<Session> first = manager->create();
    QVERIFY(first->setValue(u"name"_s, u"Ada"_s));
    const QByteArray id = first->id();
    const QByteArray token = first->csrfToken();
    QVERIFY(saveSync(*first));
    first.reset();

    m_now += 1000;
    std::unique_ptr<Session> again = loadSync(*manager, id);
    QVERIFY(again);
    QVERIFY(!again->isNew());
    QCOMPARE(again->value(u"name"_s).toString(), u"Ada"_s);
    QCOMPARE(again->csrfToken(), token);
    QCOMPARE(again->created(), Start);
    QVERIFY(!loadSync(*manager, QByteArray(43, 'x')));
}

void tst_SessionStore::valuesRoundTripAsJson()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVariantMap nested{{u"k"_s, u"v"_s}};
    QVERIFY(session->setValue(u"s"_s, u"<b>\"é\"</b>"_s));
    QVERIFY(session->setValue(u"n"_s, 42));
    QVERIFY(session->setValue(u"b"_s, true));
    QVERIFY(session->setValue(u"l"_s, QVariantList{1, u"two"_s}));
    QVERIFY(session->setValue(u"m"_s, nested));
    QVERIFY(session->setValue(u"gone"_s, 1));
    QVERIFY(session->remove(u"gone"_s));
    QVERIFY(session->isDirty()); // in memory until saved
    QVERIFY(saveSync(*session));
    QVERIFY(!session->isDirty());
    std::unique_ptr<Session> again = loadSync(*manager, session->id());
    QVERIFY(again);
    QCOMPARE(again->value(u"s"_s).toString(), u"<b>\"é\"</b>"_s);
    QCOMPARE(again->value(u"n"_s).toInt(), 42);
    QCOMPARE(again->value(u"b"_s).toBool(), true);
    QCOMPARE(again->value(u"l"_s).toList().size(), 2);
    QCOMPARE(again->value(u"m"_s).toMap().value(u"k"_s).toString(), u"v"_s);
    QVERIFY(!again->contains(u"gone"_s));
    QCOMPARE(again->value(u"missing"_s, 7).toInt(), 7);
}

void tst_SessionStore::idleSessionExpires()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(saveSync(*session));
    const QByteArray id = session->id();
    m_now += Timeout - 1;
    QVERIFY(loadSync(*manager, id)); // touched now
    m_now += Timeout;
    QVERIFY(!loadSync(*manager, id));
    // The expired row was deleted on sight (in the background), so it can't come back.
    QVERIFY(Tests::waitIdle(*m_pool));
    QCOMPARE(rowCount(m_path), 0);
    m_now -= Timeout;
    QVERIFY(!loadSync(*manager, id));
}

void tst_SessionStore::touchKeepsSessionAlive()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(saveSync(*session));
    const QByteArray id = session->id();
    // Requests every half timeout keep it alive indefinitely.
    for (int i = 0; i < 10; ++i) {
        m_now += Timeout / 2;
        QVERIFY2(loadSync(*manager, id), qPrintable(QString::number(i)));
    }
    // Within the touch granularity (1/20 of the timeout) no write happens.
    std::unique_ptr<Session> loaded = loadSync(*manager, id);
    QCOMPARE(loaded->lastSeen(), m_now);
    m_now += Timeout / 40;
    QCOMPARE(loadSync(*manager, id)->lastSeen(), m_now - Timeout / 40);
}

void tst_SessionStore::purgeDeletesExpiredOnly()
{
    auto manager = makeManager();
    std::unique_ptr<Session> old = manager->create();
    QVERIFY(saveSync(*old));
    m_now += Timeout / 2;
    std::unique_ptr<Session> young = manager->create();
    QVERIFY(saveSync(*young));
    QCOMPARE(rowCount(m_path), 2);
    m_now += Timeout / 2 + 1;
    QCOMPARE(purgeSync(*manager), 1);
    QCOMPARE(rowCount(m_path), 1);
    QVERIFY(!loadSync(*manager, old->id()));
    QVERIFY(loadSync(*manager, young->id()));
}

void tst_SessionStore::purgeRunsAtMostOncePerInterval()
{
    auto manager = makeManager(); // purge interval 10 s
    QCOMPARE(purgeSync(*manager), 0);
    m_now += 5000;
    QVERIFY(!manager->purgeIfDue()); // not due
    QCOMPARE(purgeSync(*manager), -1);
    m_now += 5000;
    QCOMPARE(purgeSync(*manager), 0);
}

void tst_SessionStore::establishRotatesIdAndToken()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(session->setValue(u"cart"_s, 3));
    const QByteArray oldId = session->id();
    const QByteArray oldToken = session->csrfToken();
    QVERIFY(saveSync(*session));
    session.reset();

    // A later request (the login) with the old cookie.
    std::unique_ptr<Session> login = loadSync(*manager, oldId);
    QVERIFY(login);
    QByteArray announced;
    login->setCookieHandler([&](const Session &s) { announced = s.id(); });
    QVERIFY(login->establish());
    QVERIFY(login->id() != oldId);
    QVERIFY(announced.isEmpty()); // not before the store has the new id
    QVERIFY(login->csrfToken() != oldToken);
    QVERIFY(login->setValue(u"user"_s, u"ada"_s));
    QVERIFY(saveSync(*login));
    QCOMPARE(announced, login->id());

    // The id known before login is worthless now (no fixation); the data moved with it.
    QVERIFY(!loadSync(*manager, oldId));
    std::unique_ptr<Session> after = loadSync(*manager, login->id());
    QVERIFY(after);
    QCOMPARE(after->value(u"cart"_s).toInt(), 3);
    QCOMPARE(after->value(u"user"_s).toString(), u"ada"_s);
    QCOMPARE(rowCount(m_path), 1);
}

void tst_SessionStore::establishOnNewSessionStoresIt()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    const QByteArray id = session->id();
    int cookies = 0;
    session->setCookieHandler([&](const Session &) { ++cookies; });
    QVERIFY(session->establish());
    QCOMPARE(session->id(), id); // never sent, so nothing to rotate away from
    QVERIFY(saveSync(*session));
    QCOMPARE(cookies, 1);
    QVERIFY(loadSync(*manager, id));
}

void tst_SessionStore::destroyDeletesRow()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(session->setValue(u"x"_s, 1));
    QVERIFY(saveSync(*session));
    QCOMPARE(rowCount(m_path), 1);
    bool cleared = false;
    session->setCookieHandler([&](const Session &s) { cleared = s.isDestroyed(); });
    QVERIFY(session->destroy());
    QVERIFY(cleared);
    QVERIFY(session->isDestroyed());
    QVERIFY(!session->setValue(u"x"_s, 2));
    QVERIFY(saveSync(*session));
    QVERIFY(!loadSync(*manager, session->id()));
    QCOMPARE(rowCount(m_path), 0);
}

void tst_SessionStore::malformedIdsAreRefused_data()
{
    QTest::addColumn<QByteArray>("id");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("short") << QByteArray("abc");
    QTest::newRow("sql") << QByteArray("' OR '1'='1' -- xxxxxxxxxxxxxxxxxxxxxxx");
    QTest::newRow("dot") << QByteArray(40, 'a') + '.';
    QTest::newRow("long") << QByteArray(200, 'a');
    QTest::newRow("nul") << QByteArray(20, 'a') + '\0' + QByteArray(20, 'a');
}

void tst_SessionStore::malformedIdsAreRefused()
{
    QFETCH(QByteArray, id);
    QVERIFY(!SessionManager::isWellFormedId(id));
    auto manager = makeManager();
    bool failed = true;
    QVERIFY(!loadSync(*manager, id, &failed));
    QVERIFY(!failed);
}

void tst_SessionStore::storeKeyIsHashNotId()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(saveSync(*session));
    QFile file(m_path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    // The database (and its WAL) never holds the cookie's id, only its hash.
    QByteArray all = file.readAll();
    QFile wal(m_path + u"-wal"_s);
    if (wal.open(QIODevice::ReadOnly))
        all += wal.readAll();
    QVERIFY(!all.contains(session->id()));
    QVERIFY(all.contains(SessionManager::storeKey(session->id())));
}

void tst_SessionStore::sharedFileSeenByTwoManagers()
{
    // Two managers (two threads, workers or servers) on one file see each other's sessions.
    auto a = makeManager();
    auto b = makeManager();
    std::unique_ptr<Session> session = a->create();
    QVERIFY(session->setValue(u"name"_s, u"Grace"_s));
    QVERIFY(saveSync(*session));
    std::unique_ptr<Session> seen = loadSync(*b, session->id());
    QVERIFY(seen);
    QCOMPARE(seen->value(u"name"_s).toString(), u"Grace"_s);
    QVERIFY(seen->establish());
    QVERIFY(saveSync(*seen));
    QVERIFY(!loadSync(*a, session->id()));
    QVERIFY(loadSync(*a, seen->id()));
}

void tst_SessionStore::fileIsPrivate()
{
    auto manager = makeManager();
    QVERIFY(QFile::exists(m_path));
    const QFile::Permissions perms = QFile::permissions(m_path);
    QVERIFY(perms & QFile::ReadOwner);
    QVERIFY(!(perms & (QFile::ReadGroup | QFile::ReadOther)));
}

void tst_SessionStore::parseLocation_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QString>("expected"); // describe() or the error's start

    QTest::newRow("sqlite relative") << u"sqlite:s.db"_s << true << u"sqlite:/etc/berth/s.db"_s;
    QTest::newRow("sqlite absolute")
        << u"sqlite:/var/lib/b/s.db"_s << true << u"sqlite:/var/lib/b/s.db"_s;
    QTest::newRow("sqlite dotdot") << u"sqlite:../s.db"_s << true << u"sqlite:/etc/s.db"_s;
    QTest::newRow("sqlite empty") << u"sqlite:"_s << false << u"'sqlite:' needs"_s;
    QTest::newRow("sqlite memory") << u"sqlite::memory:"_s << false << u"an in-memory"_s;
    QTest::newRow("pg full") << u"postgresql://u:secret@db.example:6543/sessions"_s << true
                             << u"postgresql://u@db.example:6543/sessions"_s;
    QTest::newRow("pg default port")
        << u"postgres://127.0.0.1/s"_s << true << u"postgresql://127.0.0.1:5432/s"_s;
    QTest::newRow("pg no db") << u"postgresql://h:1/"_s << false << u"the URL must name"_s;
    QTest::newRow("pg no host") << u"postgresql:///db"_s << false << u"'postgresql:///db'"_s;
    QTest::newRow("pg bad option")
        << u"postgresql://h/db?host=evil"_s << false << u"unsupported option 'host'"_s;
    QTest::newRow("pg option injection")
        << u"postgresql://h/db?sslmode=require%3Bhost%3Devil"_s << false << u"option 'sslmode'"_s;
    QTest::newRow("unknown") << u"redis://x"_s << false << u"'redis://x' is not a store"_s;
}

void tst_SessionStore::parseLocation()
{
    QFETCH(QString, text);
    QFETCH(bool, ok);
    QFETCH(QString, expected);
    QString error;
    const std::optional<StoreLocation> location = parseStoreLocation(text, u"/etc/berth"_s, &error);
    QCOMPARE(bool(location), ok);
    if (ok) {
        QCOMPARE(location->describe(), expected);
        QVERIFY(!location->describe().contains(u"secret"_s));
    } else {
        QVERIFY2(error.startsWith(expected), qPrintable(error));
    }
}

QTEST_GUILESS_MAIN(tst_SessionStore)
void tst_SessionStore::loadWaitsOffTheCallingThread()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(saveSync(*session));
    // The store's only offload thread is held, as by a query on a stalled database.
    QSemaphore gate;
    QVERIFY(m_pool->submit([&gate] { gate.acquire(); }, [] {}));
    QTRY_COMPARE(m_pool->running(), 1);
    bool called = false;
    std::unique_ptr<Session> loaded;
    QVERIFY(manager->load(session->id(), [&](std::unique_ptr<Session> s, bool) {
        called = true;
        loaded = std::move(s);
    }));
    // load() returned at once; the thread goes on with its event loop while the store waits.
    QVERIFY(!called);
    QTest::qWait(20);
    QVERIFY(!called);
    gate.release();
    QTRY_VERIFY(called);
    QVERIFY(loaded);
    QCOMPARE(loaded->id(), session->id());
}

#include "tst_sessionstore.moc"
