// SqlSessionStore and SessionManager on a real SQLite file, with an injected clock and token
// source: creation, lazy persistence, loading, idle expiry, purging, id rotation, destruction.

#include "sessions/session.h"
#include "sessions/sessionmanager.h"
#include "sessions/sqlsessionstore.h"

#include <QFile>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth::Sessions;
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

private:
    std::unique_ptr<SessionManager> makeManager(qint64 timeout = Timeout);

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
}

void tst_SessionStore::cleanup()
{
    m_dir.reset();
}

std::unique_ptr<SessionManager> tst_SessionStore::makeManager(qint64 timeout)
{
    StoreLocation location;
    location.path = m_path;
    auto manager = std::make_unique<SessionManager>(
        std::make_unique<SqlSessionStore>(location, 0, QByteArray("store test secret, 32 bytes..")),
        timeout, 10'000, [this] { return m_now; },
        [this] {
            // Predictable but well-formed tokens: 43 base64url characters.
            return QByteArray::number(++m_tokenCounter).rightJustified(43, 'T');
        });
    QString error;
    if (!manager->open(&error))
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
    QVERIFY(session->isPersisted());
    QCOMPARE(cookies, 1);
    QCOMPARE(rowCount(m_path), 1);
    // Further use does not announce the cookie again.
    QVERIFY(session->setValue(u"a"_s, 1));
    QCOMPARE(cookies, 1);
}

void tst_SessionStore::loadFindsValuesAndToken()
{
    auto manager = makeManager();
    std::unique_ptr<Session> first = manager->create();
    QVERIFY(first->setValue(u"name"_s, u"Ada"_s));
    const QByteArray id = first->id();
    const QByteArray token = first->csrfToken();
    first.reset();

    m_now += 1000;
    std::unique_ptr<Session> again = manager->load(id);
    QVERIFY(again);
    QVERIFY(!again->isNew());
    QCOMPARE(again->value(u"name"_s).toString(), u"Ada"_s);
    QCOMPARE(again->csrfToken(), token);
    QCOMPARE(again->created(), Start);
    QVERIFY(!manager->load(QByteArray(43, 'x')));
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
    QVERIFY(!session->isDirty());
    std::unique_ptr<Session> again = manager->load(session->id());
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
    QVERIFY(session->save());
    const QByteArray id = session->id();
    m_now += Timeout - 1;
    QVERIFY(manager->load(id)); // touched now
    m_now += Timeout;
    QVERIFY(!manager->load(id));
    // The expired row was deleted on sight, so it can't come back.
    QCOMPARE(rowCount(m_path), 0);
    m_now -= Timeout;
    QVERIFY(!manager->load(id));
}

void tst_SessionStore::touchKeepsSessionAlive()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(session->save());
    const QByteArray id = session->id();
    // Requests every half timeout keep it alive indefinitely.
    for (int i = 0; i < 10; ++i) {
        m_now += Timeout / 2;
        QVERIFY2(manager->load(id), qPrintable(QString::number(i)));
    }
    // Within the touch granularity (1/20 of the timeout) no write happens.
    std::unique_ptr<Session> loaded = manager->load(id);
    QCOMPARE(loaded->lastSeen(), m_now);
    m_now += Timeout / 40;
    QCOMPARE(manager->load(id)->lastSeen(), m_now - Timeout / 40);
}

void tst_SessionStore::purgeDeletesExpiredOnly()
{
    auto manager = makeManager();
    std::unique_ptr<Session> old = manager->create();
    QVERIFY(old->save());
    m_now += Timeout / 2;
    std::unique_ptr<Session> young = manager->create();
    QVERIFY(young->save());
    QCOMPARE(rowCount(m_path), 2);
    m_now += Timeout / 2 + 1;
    QCOMPARE(manager->purgeIfDue(), 1);
    QCOMPARE(rowCount(m_path), 1);
    QVERIFY(!manager->load(old->id()));
    QVERIFY(manager->load(young->id()));
}

void tst_SessionStore::purgeRunsAtMostOncePerInterval()
{
    auto manager = makeManager(); // purge interval 10 s
    QCOMPARE(manager->purgeIfDue(), 0);
    m_now += 5000;
    QCOMPARE(manager->purgeIfDue(), -1); // not due
    m_now += 5000;
    QCOMPARE(manager->purgeIfDue(), 0);
}

void tst_SessionStore::establishRotatesIdAndToken()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(session->setValue(u"cart"_s, 3));
    const QByteArray oldId = session->id();
    const QByteArray oldToken = session->csrfToken();
    session.reset();

    // A later request (the login) with the old cookie.
    std::unique_ptr<Session> login = manager->load(oldId);
    QVERIFY(login);
    QByteArray announced;
    login->setCookieHandler([&](const Session &s) { announced = s.id(); });
    QVERIFY(login->establish());
    QVERIFY(login->id() != oldId);
    QCOMPARE(announced, login->id());
    QVERIFY(login->csrfToken() != oldToken);
    QVERIFY(login->setValue(u"user"_s, u"ada"_s));

    // The id known before login is worthless now (no fixation); the data moved with it.
    QVERIFY(!manager->load(oldId));
    std::unique_ptr<Session> after = manager->load(login->id());
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
    QCOMPARE(cookies, 1);
    QVERIFY(manager->load(id));
}

void tst_SessionStore::destroyDeletesRow()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(session->setValue(u"x"_s, 1));
    bool cleared = false;
    session->setCookieHandler([&](const Session &s) { cleared = s.isDestroyed(); });
    QVERIFY(session->destroy());
    QVERIFY(cleared);
    QVERIFY(session->isDestroyed());
    QVERIFY(!session->setValue(u"x"_s, 2));
    QVERIFY(!manager->load(session->id()));
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
    QVERIFY(!manager->load(id, &failed));
    QVERIFY(!failed);
}

void tst_SessionStore::storeKeyIsHashNotId()
{
    auto manager = makeManager();
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(session->save());
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
    std::unique_ptr<Session> seen = b->load(session->id());
    QVERIFY(seen);
    QCOMPARE(seen->value(u"name"_s).toString(), u"Grace"_s);
    QVERIFY(seen->establish());
    QVERIFY(!a->load(session->id()));
    QVERIFY(a->load(seen->id()));
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
#include "tst_sessionstore.moc"
