// SqlKeyStore: AppCipher's key chain in a SQL table. Runs on SQLite (a temporary file) always,
// and on PostgreSQL too when BERTH_TEST_PGSQL names a database (host, port and user come from
// the usual PGHOST/PGPORT/PGUSER/PGPASSWORD variables). Rotation across restarts is tested by
// closing the connection and reopening the database, as a restarted berthd would.
#include "crypto/appcipher.h"
#include "sessions/sqlkeystore.h"

#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>

using namespace Berth;
using Crypto::AppCipher;
using Crypto::KeyStore;
using Sessions::SqlKeyStore;

namespace {

constexpr qint64 T0 = 1'700'000'000;

struct FakeClock
{
    qint64 now = T0;
    AppCipher::Clock function()
    {
        return [this] { return now; };
    }
};

} // namespace

class TestSqlKeyStore : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase_data();
    void init();
    void cleanup();

    void createsTableOnFirstUse();
    void saveReplacesByKeynum();
    void saveAllIsAllOrNothing();
    void readErrorsAreReported();
    void rotationAcrossRestarts();
    void futureActivationAcrossRestart();
    void wrongSecretAfterRestartIsRefused();

private:
    // A fresh connection to this row's database; the previous one (if any) is closed first.
    QSqlDatabase reconnect();
    void disconnect();
    bool isPostgres() const;

    QTemporaryDir m_dir;
    QString m_connectionName;
    int m_connections = 0;
};

void TestSqlKeyStore::initTestCase_data()
{
    QTest::addColumn<QString>("driver");
    QTest::newRow("sqlite") << QStringLiteral("QSQLITE");
    if (qEnvironmentVariableIsSet("BERTH_TEST_PGSQL"))
        QTest::newRow("postgresql") << QStringLiteral("QPSQL");
}

bool TestSqlKeyStore::isPostgres() const
{
    QFETCH_GLOBAL(QString, driver);
    return driver == QLatin1String("QPSQL");
}

QSqlDatabase TestSqlKeyStore::reconnect()
{
    disconnect();
    QFETCH_GLOBAL(QString, driver);
    m_connectionName = QStringLiteral("tst_sqlkeystore_%1").arg(++m_connections);
    QSqlDatabase db = QSqlDatabase::addDatabase(driver, m_connectionName);
    if (isPostgres())
        db.setDatabaseName(qEnvironmentVariable("BERTH_TEST_PGSQL"));
    else
        db.setDatabaseName(m_dir.filePath(QStringLiteral("keys.db")));
    if (!db.open())
        qWarning("cannot open %s: %s", qPrintable(driver), qPrintable(db.lastError().text()));
    return db;
}

void TestSqlKeyStore::disconnect()
{
    if (m_connectionName.isEmpty())
        return;
    QSqlDatabase::database(m_connectionName, false).close();
    QSqlDatabase::removeDatabase(m_connectionName);
    m_connectionName.clear();
}

void TestSqlKeyStore::init()
{
    QVERIFY(m_dir.isValid());
    // Every test starts without the table.
    QSqlDatabase db = reconnect();
    QVERIFY2(db.isOpen(), qPrintable(db.lastError().text()));
    if (db.tables().contains(QStringLiteral("berth_keys")))
        QSqlQuery(db).exec(QStringLiteral("DROP TABLE berth_keys"));
}

void TestSqlKeyStore::cleanup()
{
    disconnect();
}

void TestSqlKeyStore::createsTableOnFirstUse()
{
    QSqlDatabase db = reconnect();
    QVERIFY(!db.tables().contains(QStringLiteral("berth_keys")));
    SqlKeyStore store(db);
    QString error;
    QVERIFY(store.load(&error).isEmpty());
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(db.tables().contains(QStringLiteral("berth_keys")));
    // And again, now that it exists.
    SqlKeyStore again(db);
    QVERIFY(again.load(&error).isEmpty());
    QVERIFY2(error.isEmpty(), qPrintable(error));
}

void TestSqlKeyStore::saveReplacesByKeynum()
{
    {
        SqlKeyStore store(reconnect());
        QString error;
        QVERIFY2(store.save({2, T0, "2:two"}, &error), qPrintable(error));
        QVERIFY2(store.save({1, 0, "2:one"}, &error), qPrintable(error));
        // Timestamps beyond 32 bits must survive (BIGINT).
        QVERIFY2(store.save({2, qint64(1) << 40, "3:two again"}, &error), qPrintable(error));
    }
    SqlKeyStore store(reconnect());
    QString error;
    const QList<KeyStore::Record> records = store.load(&error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(records.size(), 2);
    QCOMPARE(records[0].keynum, 1);
    QCOMPARE(records[0].activeFromSecs, 0);
    QCOMPARE(records[0].wrapped, QByteArray("2:one"));
    QCOMPARE(records[1].keynum, 2);
    QCOMPARE(records[1].activeFromSecs, qint64(1) << 40);
    QCOMPARE(records[1].wrapped, QByteArray("3:two again"));
}

void TestSqlKeyStore::saveAllIsAllOrNothing()
{
    QSqlDatabase db = reconnect();
    SqlKeyStore store(db);
    QString error;
    QVERIFY2(store.save({1, 0, "1:check"}, &error), qPrintable(error));
    // Make the database refuse keynum 99, as a constraint violation or a lost connection would.
    QSqlQuery query(db);
    const QString refuse =
        isPostgres()
            ? QStringLiteral("ALTER TABLE berth_keys ADD CONSTRAINT refuse99 CHECK (keynum <> 99)")
            : QStringLiteral("CREATE TRIGGER refuse99 BEFORE INSERT ON berth_keys "
                             "WHEN NEW.keynum = 99 BEGIN SELECT RAISE(ABORT, 'refused'); END");
    QVERIFY2(query.exec(refuse), qPrintable(query.lastError().text()));

    QVERIFY(!store.saveAll({{1, 5, "99:wrapped"}, {99, 5, "99:check"}}, &error));
    QVERIFY(!error.isEmpty());
    const QList<KeyStore::Record> records = store.load(&error);
    QCOMPARE(records.size(), 1);
    QCOMPARE(records[0].wrapped, QByteArray("1:check"));

    QVERIFY2(store.saveAll({{2, 5, "2:check"}, {1, 0, "2:wrapped"}}, &error), qPrintable(error));
    QCOMPARE(store.load(&error).size(), 2);
}

void TestSqlKeyStore::readErrorsAreReported()
{
    QSqlDatabase db = reconnect();
    db.close();
    SqlKeyStore store(db);
    QString error;
    QVERIFY(store.load(&error).isEmpty());
    QVERIFY2(error.contains(QLatin1String("berth_keys")), qPrintable(error));
    QVERIFY(!store.save({1, 0, "1:x"}, &error));

    AppCipher cipher(0, "secret", &store);
    QVERIFY(!cipher.open(&error));
    QVERIFY2(error.startsWith(QLatin1String("cannot load the key store")), qPrintable(error));
}

void TestSqlKeyStore::rotationAcrossRestarts()
{
    FakeClock clock;
    QList<QPair<QByteArray, QByteArray>> written; // (ciphertext, plaintext)
    const QList<QPair<int, QByteArray>> keys{{0, "zero"}, {1, "one"}, {2, "two"}};

    for (qsizetype i = 0; i < keys.size(); ++i) {
        clock.now = T0 + 100 * i;
        SqlKeyStore store(reconnect());
        QString error;
        if (i > 0) {
            // change-key, run by a tool that has the previous key.
            AppCipher tool(keys[i - 1].first, keys[i - 1].second, &store, clock.function());
            QVERIFY2(tool.open(&error), qPrintable(error));
            QVERIFY2(tool.changeKey(keys[i].first, keys[i].second, clock.now, &error),
                     qPrintable(error));
        }
        AppCipher node(keys[i].first, keys[i].second, &store, clock.function());
        QVERIFY2(node.open(&error), qPrintable(error));
        const QByteArray text = "written under key " + QByteArray::number(keys[i].first);
        written.append({node.encrypt(text), text});
        QVERIFY(written.last().first.startsWith(QByteArray::number(keys[i].first) + ':'));
    }

    SqlKeyStore store(reconnect());
    AppCipher latest(2, "two", &store, clock.function());
    QString error;
    QVERIFY2(latest.open(&error), qPrintable(error));
    QCOMPARE(latest.keynums(), (QList<int>{0, 1, 2}));
    for (const auto &[ciphertext, plaintext] : written) {
        const std::optional<QByteArray> decrypted = latest.decrypt(ciphertext);
        QVERIFY2(decrypted.has_value(), ciphertext.constData());
        QCOMPARE(*decrypted, plaintext);
    }
    // What the table holds: key checks and wrapped keys, never a secret.
    QSqlQuery query(QSqlDatabase::database(m_connectionName));
    QVERIFY(query.exec(QStringLiteral("SELECT wrapped FROM berth_keys ORDER BY keynum")));
    QStringList prefixes;
    while (query.next()) {
        const QString wrapped = query.value(0).toString();
        QVERIFY(!wrapped.contains(QLatin1String("zero")) &&
                !wrapped.contains(QLatin1String("one")));
        prefixes.append(wrapped.section(QLatin1Char(':'), 0, 0));
    }
    QCOMPARE(prefixes,
             (QStringList{QStringLiteral("1"), QStringLiteral("2"), QStringLiteral("2")}));
}

void TestSqlKeyStore::futureActivationAcrossRestart()
{
    FakeClock clock;
    QByteArray early;
    {
        SqlKeyStore store(reconnect());
        AppCipher tool(0, "zero", &store, clock.function());
        QString error;
        QVERIFY2(tool.open(&error), qPrintable(error));
        early = tool.encrypt("early");
        QVERIFY2(tool.changeKey(1, "one", T0 + 86400, &error), qPrintable(error));
    }
    // Restarted with the new key a day early: the old key stays in force until then.
    SqlKeyStore store(reconnect());
    AppCipher node(1, "one", &store, clock.function());
    QString error;
    QVERIFY2(node.open(&error), qPrintable(error));
    QCOMPARE(node.activeKeynum(), 0);
    QVERIFY(node.encrypt("x").startsWith("0:"));
    clock.now = T0 + 86400;
    QCOMPARE(node.activeKeynum(), 1);
    QVERIFY(node.encrypt("x").startsWith("1:"));
    QCOMPARE(*node.decrypt(early), QByteArray("early"));
}

void TestSqlKeyStore::wrongSecretAfterRestartIsRefused()
{
    {
        SqlKeyStore store(reconnect());
        AppCipher first(0, "zero", &store);
        QVERIFY(first.open(nullptr));
    }
    SqlKeyStore store(reconnect());
    AppCipher typo(0, "zer0", &store);
    QString error;
    QVERIFY(!typo.open(&error));
    QVERIFY2(error.contains(QLatin1String("does not match")), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestSqlKeyStore)
#include "tst_sqlkeystore.moc"
