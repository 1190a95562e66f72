// Session data at rest under the AppCipher (SqlSessionStore on a real SQLite file): the data
// column is ciphertext bound to its row; altered data means no session (never a crash); a key
// rotation keeps old sessions and cookies readable and moves them to the new key; a cipher that
// can't open with the configured key makes the store unavailable.

#include "crypto/appcipher.h"
#include "crypto/keystore.h"
#include "sessions/session.h"
#include "sessions/sessioncookie.h"
#include "sessions/sessionmanager.h"
#include "sessions/sqlsessionstore.h"
#include "sessionsync.h"

#include "runtime/offloadpool.h"

#include <QFile>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth;
using namespace Berth::Sessions;
using Berth::Tests::loadSync;
using Berth::Tests::openSync;
using Berth::Tests::saveSync;
using namespace Qt::StringLiterals;

namespace {

constexpr qint64 Start = 1'800'000'000'000; // ms since the epoch
constexpr qint64 Timeout = 3'600'000;
const QByteArray Secret0 = "the first secret, 32 bytes long!";
const QByteArray Secret1 = "the second secret, rotated in...";

// Runs statements on the file through a connection of its own, as a database user would.
class RawDb
{
public:
    explicit RawDb(const QString &path)
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, Name);
        db.setDatabaseName(path);
        db.open();
    }
    ~RawDb() { QSqlDatabase::removeDatabase(Name); }
    Q_DISABLE_COPY_MOVE(RawDb)

    QByteArray data(const QByteArray &storeKey) const
    {
        QSqlQuery query(QSqlDatabase::database(Name));
        query.prepare(u"SELECT data FROM berth_sessions WHERE id = ?"_s);
        query.addBindValue(QString::fromLatin1(storeKey));
        if (!query.exec() || !query.next())
            return {};
        return query.value(0).toString().toUtf8();
    }
    bool setData(const QByteArray &storeKey, const QByteArray &data) const
    {
        QSqlQuery query(QSqlDatabase::database(Name));
        query.prepare(u"UPDATE berth_sessions SET data = ? WHERE id = ?"_s);
        // Never NULL (the column is NOT NULL): an empty value is an empty string.
        query.addBindValue(data.isEmpty() ? u""_s : QString::fromUtf8(data));
        query.addBindValue(QString::fromLatin1(storeKey));
        return query.exec() && query.numRowsAffected() == 1;
    }
    int rows() const
    {
        QSqlQuery query(QSqlDatabase::database(Name));
        if (query.exec(u"SELECT COUNT(*) FROM berth_sessions"_s) && query.next())
            return query.value(0).toInt();
        return -1;
    }

private:
    static inline const QString Name = u"raw"_s;
};

} // namespace

class tst_SessionCipher : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void storedDataIsNotPlaintext();
    void tamperedDataIsNoSession_data();
    void tamperedDataIsNoSession();
    void establishReencryptsForTheNewId();
    void rotationKeepsSessionsAndMovesThemToTheNewKey();
    void cookiesSurviveRotation();
    void nodeOnOldConfigurationAfterRotation();
    void wrongSecretMakesStoreUnavailable();
    void keynumEditedWithoutRotationIsRefused();

private:
    std::unique_ptr<SessionManager> makeManager(int keynum, const QByteArray &secret);
    QByteArray newSession(SessionManager &manager, const QString &name);
    bool rotate(int fromKeynum, const QByteArray &fromSecret, int toKeynum,
                const QByteArray &toSecret, qint64 whenSecs);

    std::unique_ptr<Core::OffloadPool> m_pool; // one thread: background writes land in order
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_path;
    StoreLocation m_location;
    qint64 m_now = Start;
    int m_tokenCounter = 0;
};

void tst_SessionCipher::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_path = m_dir->filePath(u"sessions.db"_s);
    m_location = StoreLocation();
    m_location.path = m_path;
    m_now = Start;
    m_tokenCounter = 0;
    m_pool = std::make_unique<Core::OffloadPool>(Core::OffloadSettings{1, 64});
}

void tst_SessionCipher::cleanup()
{
    m_pool.reset();
    m_dir.reset();
}

std::unique_ptr<SessionManager> tst_SessionCipher::makeManager(int keynum, const QByteArray &secret)
{
    // One clock for sessions (ms) and the cipher (s), so a test can step over an activation.
    auto store = std::make_unique<SqlSessionStore>(
        m_location, keynum, secret, [this] { return m_now / 1000; }, m_pool.get());
    return std::make_unique<SessionManager>(
        std::move(store), Timeout, 10'000, [this] { return m_now; },
        [this] { return QByteArray::number(++m_tokenCounter).rightJustified(43, 'T'); });
}

QByteArray tst_SessionCipher::newSession(SessionManager &manager, const QString &name)
{
    std::unique_ptr<Session> session = manager.create();
    if (!session->setValue(u"name"_s, name) || !saveSync(*session))
        return {};
    return session->id();
}

// What `berthd keys rotate` does: open with the current key, changeKey().
bool tst_SessionCipher::rotate(int fromKeynum, const QByteArray &fromSecret, int toKeynum,
                               const QByteArray &toSecret, qint64 whenSecs)
{
    SqlSessionBackend store(m_location, fromKeynum, fromSecret, [this] { return m_now / 1000; });
    QString error;
    if (!store.open(&error) || !store.cipher()->changeKey(toKeynum, toSecret, whenSecs, &error)) {
        qWarning() << error;
        return false;
    }
    return true;
}

void tst_SessionCipher::storedDataIsNotPlaintext()
{
    auto manager = makeManager(0, Secret0);
    const QString marker = u"Ada Lovelace, marker 7f3a"_s;
    const QByteArray id = newSession(*manager, marker);
    QVERIFY(!id.isEmpty());

    const RawDb raw(m_path);
    const QByteArray stored = raw.data(SessionManager::storeKey(id));
    QVERIFY(stored.startsWith("0:"));
    QVERIFY(!stored.contains("Ada"));
    QVERIFY(!stored.contains("name"));
    // Nowhere in the file or its WAL either, in any form SQLite might keep.
    QByteArray all;
    for (const QString &suffix : {QString(), u"-wal"_s}) {
        QFile file(m_path + suffix);
        if (file.open(QIODevice::ReadOnly))
            all += file.readAll();
    }
    QVERIFY(!all.isEmpty());
    QVERIFY(!all.contains(marker.toUtf8()));
    QVERIFY(!all.contains("Lovelace"));
    // Equal values encrypt differently (fresh nonce), so rows can't be compared for equality.
    const QByteArray other = newSession(*manager, marker);
    QVERIFY(raw.data(SessionManager::storeKey(other)) != stored);

    std::unique_ptr<Session> loaded = loadSync(*manager, id);
    QVERIFY(loaded);
    QCOMPARE(loaded->value(u"name"_s).toString(), marker);
}

void tst_SessionCipher::tamperedDataIsNoSession_data()
{
    QTest::addColumn<QString>("how");
    QTest::newRow("bit flipped") << u"flip"_s;
    QTest::newRow("truncated") << u"truncate"_s;
    QTest::newRow("relabelled") << u"relabel"_s;
    QTest::newRow("plain json") << u"plain"_s;
    QTest::newRow("empty") << u"empty"_s;
    QTest::newRow("garbage") << u"garbage"_s;
    QTest::newRow("another row's data") << u"moved"_s;
}

void tst_SessionCipher::tamperedDataIsNoSession()
{
    QFETCH(QString, how);
    auto manager = makeManager(0, Secret0);
    const QByteArray victim = newSession(*manager, u"admin"_s);
    const QByteArray attacker = newSession(*manager, u"mallory"_s);
    const QByteArray key = SessionManager::storeKey(attacker);
    const RawDb raw(m_path);
    QByteArray data = raw.data(key);
    if (how == u"flip"_s)
        data[data.size() / 2] = data[data.size() / 2] == 'A' ? 'B' : 'A';
    else if (how == u"truncate"_s)
        data.chop(4);
    else if (how == u"relabel"_s)
        data = "1" + data.mid(1);
    else if (how == u"plain"_s)
        data = R"({"name":"admin"})";
    else if (how == u"empty"_s)
        data.clear();
    else if (how == u"garbage"_s)
        data = "0:\xff\xfe not base64 at all";
    else if (how == u"moved"_s)
        // A database writer copies the victim's (authentic) data into a row whose cookie they
        // hold: bound to the victim's row, it does not decrypt for theirs.
        data = raw.data(SessionManager::storeKey(victim));
    QVERIFY(raw.setData(key, data));

    bool storeFailed = true;
    QVERIFY(!loadSync(*manager, attacker, &storeFailed));
    QVERIFY(!storeFailed); // no session, not a store error (so no 503)
    // The row stays (a node behind on keys must not delete what others can read) and expires.
    QCOMPARE(raw.rows(), 2);
    // The victim's own session is untouched, and the store keeps working.
    std::unique_ptr<Session> intact = loadSync(*manager, victim);
    QVERIFY(intact);
    QCOMPARE(intact->value(u"name"_s).toString(), u"admin"_s);
    QVERIFY(!newSession(*manager, u"next"_s).isEmpty());
}

void tst_SessionCipher::establishReencryptsForTheNewId()
{
    auto manager = makeManager(0, Secret0);
    const QByteArray oldId = newSession(*manager, u"Grace"_s);
    const RawDb raw(m_path);
    const QByteArray before = raw.data(SessionManager::storeKey(oldId));
    std::unique_ptr<Session> session = loadSync(*manager, oldId);
    QVERIFY(session->establish());
    QVERIFY(saveSync(*session));
    const QByteArray after = raw.data(SessionManager::storeKey(session->id()));
    QVERIFY(after.startsWith("0:"));
    QVERIFY(after != before);
    std::unique_ptr<Session> loaded = loadSync(*manager, session->id());
    QVERIFY(loaded);
    QCOMPARE(loaded->value(u"name"_s).toString(), u"Grace"_s);
    // The data as it was under the old id is not valid under the new one.
    QVERIFY(raw.setData(SessionManager::storeKey(session->id()), before));
    QVERIFY(!loadSync(*manager, session->id()));
}

void tst_SessionCipher::rotationKeepsSessionsAndMovesThemToTheNewKey()
{
    const RawDb raw(m_path);
    QByteArray id;
    {
        auto old = makeManager(0, Secret0);
        id = newSession(*old, u"Written under key 0"_s);
    }
    const QByteArray key = SessionManager::storeKey(id);
    QVERIFY(raw.data(key).startsWith("0:"));

    // Key 1 activates in ten minutes (sessions last an hour).
    const qint64 activation = m_now / 1000 + 600;
    QVERIFY(rotate(0, Secret0, 1, Secret1, activation));

    // The node restarted with keynum 1 reads key 0's data, and before the activation keeps
    // writing under key 0, so nodes not yet restarted can still read it.
    auto manager = makeManager(1, Secret1);
    QString error;
    QVERIFY2(openSync(*manager, &error), qPrintable(error));
    std::unique_ptr<Session> session = loadSync(*manager, id);
    QVERIFY(session);
    QCOMPARE(session->value(u"name"_s).toString(), u"Written under key 0"_s);
    QVERIFY(session->setValue(u"step"_s, 1));
    QVERIFY(saveSync(*session));
    QVERIFY(raw.data(key).startsWith("0:"));

    // After the activation: a load moves the row to key 1, and saves use key 1.
    m_now += 600 * 1000;
    session = loadSync(*manager, id);
    QVERIFY(session);
    QCOMPARE(session->value(u"step"_s).toInt(), 1);
    QVERIFY(raw.data(key).startsWith("1:"));
    QVERIFY(session->setValue(u"step"_s, 2));
    QVERIFY(saveSync(*session));
    QVERIFY(raw.data(key).startsWith("1:"));
    QCOMPARE(loadSync(*manager, id)->value(u"step"_s).toInt(), 2);
    const QByteArray fresh = newSession(*manager, u"new"_s);
    QVERIFY(raw.data(SessionManager::storeKey(fresh)).startsWith("1:"));
}

void tst_SessionCipher::cookiesSurviveRotation()
{
    QByteArray cookie;
    QByteArray id;
    {
        auto old = makeManager(0, Secret0);
        id = newSession(*old, u"cookie"_s);
        cookie = CookieSigner(old->store()->cipher()).sign(id);
    }
    QVERIFY(cookie.startsWith(id + ".0."));
    QVERIFY(rotate(0, Secret0, 1, Secret1, m_now / 1000));

    auto manager = makeManager(1, Secret1);
    QString error;
    QVERIFY2(openSync(*manager, &error), qPrintable(error));
    const CookieSigner signer(manager->store()->cipher());
    QCOMPARE(signer.verify(cookie), id);
    QVERIFY(loadSync(*manager, signer.verify(cookie)));
    QVERIFY(signer.sign(id).startsWith(id + ".1."));
}

void tst_SessionCipher::nodeOnOldConfigurationAfterRotation()
{
    // A node that was not restarted after a rotation keeps serving what is under its key, and
    // finds data under the newer key not readable: no session, no crash, no deletion.
    auto old = makeManager(0, Secret0);
    QString error;
    QVERIFY2(openSync(*old, &error), qPrintable(error));
    const QByteArray id = newSession(*old, u"shared"_s);
    QVERIFY(rotate(0, Secret0, 1, Secret1, m_now / 1000));
    auto current = makeManager(1, Secret1);
    std::unique_ptr<Session> seen = loadSync(*current, id);
    QVERIFY(seen);
    QVERIFY(seen->setValue(u"name"_s, u"under key 1"_s));
    QVERIFY(saveSync(*seen));
    QVERIFY(RawDb(m_path).data(SessionManager::storeKey(id)).startsWith("1:"));

    bool storeFailed = true;
    QVERIFY(!loadSync(*old, id, &storeFailed));
    QVERIFY(!storeFailed);
    QCOMPARE(loadSync(*current, id)->value(u"name"_s).toString(), u"under key 1"_s);
    // A fresh start with the old configuration still opens (superseded, not refused).
    auto restartedOld = makeManager(0, Secret0);
    QVERIFY2(openSync(*restartedOld, &error), qPrintable(error));
}

void tst_SessionCipher::wrongSecretMakesStoreUnavailable()
{
    {
        auto first = makeManager(0, Secret0);
        QVERIFY(!newSession(*first, u"x"_s).isEmpty());
    }
    auto manager = makeManager(0, "not the secret on record, long enough");
    QString error;
    QVERIFY(!openSync(*manager, &error));
    QVERIFY2(error.contains(u"does not match"_s), qPrintable(error));
    QVERIFY(error.contains(u"keynum 0"_s));
    QVERIFY(!error.contains(QString::fromLatin1(Secret0)));
    QVERIFY(!manager->store()->cipher());
    // Every use of the store fails the same way (not a session under an unshared key).
    std::unique_ptr<Session> session = manager->create();
    QVERIFY(session->setValue(u"y"_s, 1));
    QVERIFY(!saveSync(*session));
    QCOMPARE(RawDb(m_path).rows(), 1);
}

void tst_SessionCipher::keynumEditedWithoutRotationIsRefused()
{
    {
        auto first = makeManager(0, Secret0);
        QVERIFY(!newSession(*first, u"x"_s).isEmpty());
    }
    auto manager = makeManager(1, Secret1);
    QString error;
    QVERIFY(!openSync(*manager, &error));
    QVERIFY2(error.contains(u"keynum 1"_s) && error.contains(u"rotate"_s), qPrintable(error));
}

QTEST_GUILESS_MAIN(tst_SessionCipher)
#include "tst_sessioncipher.moc"
