#pragma once

#include "sessionstore.h"

#include "crypto/appcipher.h"

#include <QElapsedTimer>
#include <QSqlDatabase>
#include <QString>

#include <memory>
#include <optional>

class QSqlQuery;

namespace Berth::Sessions {

// Where a [sessions] store = ... value points.
struct StoreLocation
{
    enum class Kind { Sqlite, Postgresql };
    Kind kind = Kind::Sqlite;
    QString path; // SQLite: absolute file name
    // PostgreSQL: postgresql://user:password@host:port/database?sslmode=...&connect_timeout=...
    QString host;
    int port = 5432;
    QString user;
    QString password;
    QString database;
    QString connectOptions; // libpq keywords for QPSQL, "connect_timeout=5;sslmode=require"

    QString describe() const; // for logs: never includes the password
};

// "sqlite:sessions.db" (relative to baseDir), "sqlite:/var/lib/berth/s.db" or
// "postgresql://user:pass@host:5432/db" (also "postgres://"). nullopt with *error set otherwise.
std::optional<StoreLocation> parseStoreLocation(const QString &text, const QString &baseDir,
                                                QString *error);

class SqlKeyStore;

// SessionStore over QtSql, on SQLite (QSQLITE: the embedded default, the file and its table
// created on first use) or PostgreSQL (QPSQL: several berthd nodes sharing sessions). Table:
//   berth_sessions(id TEXT PRIMARY KEY, data TEXT, csrf TEXT, created BIGINT, last_seen BIGINT)
//
// `data` never holds the values in the clear: it is "keynum:base64", AES-256-GCM by an AppCipher
// whose key chain is kept in berth_keys on the same connection (SqlKeyStore), so every node
// sharing the database shares the keys. Each ciphertext is bound to its row's id: moved to
// another row, it does not decrypt. A row whose data does not decrypt is treated as no session.
// Rows written under an older key are re-encrypted under the active one when they are read.
//
// The connection and the cipher are opened lazily by open(), in the calling thread, under a
// connection name unique to this object: QSqlDatabase connections belong to the thread that
// opened them. Until the cipher opens (a secret that does not match the keys on record, a
// keynum edited without a key change) open() fails with the cipher's reason.
class SqlSessionStore final : public SessionStore
{
public:
    // keynum and secret: [sessions] keynum and secret, the newest key of the chain. cipherClock
    // (Unix seconds) decides which key is active; null means the system clock.
    SqlSessionStore(StoreLocation location, int keynum, QByteArray secret,
                    Crypto::AppCipher::Clock cipherClock = {});
    ~SqlSessionStore() override;

    const StoreLocation &location() const { return m_location; }
    // The Qt driver the location needs ("QSQLITE", "QPSQL").
    static QString driverName(const StoreLocation &location);

    bool open(QString *error) override;
    bool insert(const SessionRecord &record, QString *error) override;
    std::optional<SessionRecord> find(const QByteArray &key, QString *error) override;
    bool updateData(const QByteArray &key, const QByteArray &data, qint64 lastSeen,
                    QString *error) override;
    bool touch(const QByteArray &key, qint64 lastSeen, QString *error) override;
    bool rekey(const QByteArray &oldKey, const QByteArray &newKey, const QByteArray &newCsrf,
               const QByteArray &data, qint64 lastSeen, QString *error) override;
    bool remove(const QByteArray &key, QString *error) override;
    int purge(qint64 lastSeenBefore, QString *error) override;
    const Crypto::AppCipher *cipher() const override { return m_cipher.get(); }

    // For `berthd keys`: open() without the cipher (connects, creates the sessions table), so the
    // key table can be shown even when the configured secret does not open it ...
    bool openDatabase(QString *error);
    // ... the key table on this connection (null before openDatabase()) ...
    Crypto::KeyStore *keyStore();
    // ... and the cipher, for changeKey() (null until open() succeeded).
    Crypto::AppCipher *cipher() { return m_cipher.get(); }

private:
    bool connect(QString *error);
    bool createTable(QString *error);
    bool openCipher(QString *error);
    QSqlDatabase database() const;
    // Runs a prepared query; on failure fills *error and drops a broken connection so that the
    // next open() reconnects (a PostgreSQL server that restarted).
    bool exec(QSqlQuery &query, QString *error);
    // data encrypted for the row `key`, or empty when the cipher can't (not open).
    QByteArray seal(const QByteArray &key, const QByteArray &data) const;
    // The values stored in row `key`, or nullopt when stored is not an intact seal() for it.
    std::optional<QByteArray> unseal(const QByteArray &key, const QByteArray &stored) const;
    void warnUndecryptable(const QByteArray &stored);

    StoreLocation m_location;
    QString m_connectionName;
    int m_keynum;
    QByteArray m_secret;
    Crypto::AppCipher::Clock m_cipherClock;
    // Both use the connection: destroyed before it is removed (see the destructor).
    std::unique_ptr<SqlKeyStore> m_keyStore;
    std::unique_ptr<Crypto::AppCipher> m_cipher;
    QElapsedTimer m_lastDecryptWarning;
    bool m_ready = false;
};

} // namespace Berth::Sessions
