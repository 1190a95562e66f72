#pragma once

#include "sessionstore.h"

#include "crypto/appcipher.h"

#include <QElapsedTimer>
#include <QMutex>
#include <QSqlDatabase>
#include <QString>

#include <atomic>
#include <map>
#include <memory>
#include <optional>

class QSqlQuery;

namespace Berth::Core {
class OffloadPool;
}

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

// The blocking half of the SQL session store, over QtSql, on SQLite (QSQLITE: the embedded
// default, the file and its table created on first use) or PostgreSQL (QPSQL: several berthd
// nodes sharing sessions). Table:
//   berth_sessions(id TEXT PRIMARY KEY, data TEXT, csrf TEXT, created BIGINT, last_seen BIGINT)
//
// `data` never holds the values in the clear: it is "keynum:base64", AES-256-GCM by an AppCipher
// whose key chain is kept in berth_keys on the same database (SqlKeyStore), so every node
// sharing the database shares the keys. Each ciphertext is bound to its row's id: moved to
// another row, it does not decrypt. A row whose data does not decrypt is treated as no session.
// Rows written under an older key are re-encrypted under the active one when they are read.
//
// Every call blocks on the database: the server makes them in offload threads only (through
// SqlSessionStore); `berthd keys` and tests call them directly. Any thread may call: each gets
// its own connection, opened lazily on its first call (QSqlDatabase connections belong to the
// thread that opened them), named after this object and the thread. The cipher is shared; until
// it opens (a secret that does not match the keys on record, a keynum edited without a key
// change) open() fails with the cipher's reason.
class SqlSessionBackend final
{
public:
    // keynum and secret: [sessions] keynum and secret, the newest key of the chain. cipherClock
    // (Unix seconds) decides which key is active; null means the system clock.
    SqlSessionBackend(StoreLocation location, int keynum, QByteArray secret,
                      Crypto::AppCipher::Clock cipherClock = {});
    ~SqlSessionBackend();
    SqlSessionBackend(const SqlSessionBackend &) = delete;
    SqlSessionBackend &operator=(const SqlSessionBackend &) = delete;

    // The backend for this location, keynum and secret the process already has, or a new one:
    // every berth.session instance (one per event-loop thread, and the next configuration's
    // after a reload) shares one, so a process holds one connection per offload thread, and
    // opens the cipher once.
    static std::shared_ptr<SqlSessionBackend> shared(const StoreLocation &location, int keynum,
                                                     const QByteArray &secret);

    const StoreLocation &location() const { return m_location; }
    // The Qt driver the location needs ("QSQLITE", "QPSQL").
    static QString driverName(const StoreLocation &location);

    // Connects this thread (first use) and creates the table if it is missing. Cheap once open.
    bool open(QString *error);
    bool insert(const SessionRecord &record, QString *error);
    // nullopt when there is no such row, or its data does not decrypt intact for this key (then
    // the session is as good as gone), or on error: then *error is set.
    std::optional<SessionRecord> find(const QByteArray &key, QString *error);
    // false with *error empty when the row is gone.
    bool updateData(const QByteArray &key, const QByteArray &data, qint64 lastSeen, QString *error);
    bool touch(const QByteArray &key, qint64 lastSeen, QString *error);
    // false with *error empty when the old row is gone.
    bool rekey(const QByteArray &oldKey, const QByteArray &newKey, const QByteArray &newCsrf,
               const QByteArray &data, qint64 lastSeen, QString *error);
    bool remove(const QByteArray &key, QString *error);
    // Deletes rows last seen before `lastSeenBefore`; returns how many, or -1 on error.
    int purge(qint64 lastSeenBefore, QString *error);

    // For `berthd keys`: open() without the cipher (connects, creates the sessions table), so the
    // key table can be shown even when the configured secret does not open it ...
    bool openDatabase(QString *error);
    // ... the key table on this thread's connection (null before openDatabase()) ...
    Crypto::KeyStore *keyStore();
    // ... and the cipher, for changeKey() (null until open() succeeded).
    Crypto::AppCipher *cipher() { return m_cipherReady.load(std::memory_order_acquire); }
    const Crypto::AppCipher *cipher() const
    {
        return m_cipherReady.load(std::memory_order_acquire);
    }

private:
    struct Connection
    {
        QString name;
        std::unique_ptr<SqlKeyStore> keyStore; // uses the connection: reset before it goes
        bool ready = false;
    };
    Connection &connection(); // the calling thread's
    bool connect(QString *error);
    bool createTable(QString *error);
    bool openCipher(QString *error);
    QSqlDatabase database();
    // Runs a prepared query; on failure fills *error and drops a broken connection so that the
    // next open() reconnects (a PostgreSQL server that restarted).
    bool exec(QSqlQuery &query, QString *error);
    // data encrypted for the row `key`, or empty when the cipher can't (not open).
    QByteArray seal(const QByteArray &key, const QByteArray &data) const;
    // The values stored in row `key`, or nullopt when stored is not an intact seal() for it.
    std::optional<QByteArray> unseal(const QByteArray &key, const QByteArray &stored) const;
    void warnUndecryptable(const QByteArray &stored);

    StoreLocation m_location;
    QString m_connectionPrefix;
    int m_keynum;
    QByteArray m_secret;
    Crypto::AppCipher::Clock m_cipherClock;
    QMutex m_mutex; // m_connections, m_lastDecryptWarning
    std::map<quint64, std::unique_ptr<Connection>> m_connections;
    QElapsedTimer m_lastDecryptWarning;
    QMutex m_cipherMutex; // opening the cipher
    std::unique_ptr<Crypto::AppCipher> m_cipher;
    std::atomic<Crypto::AppCipher *> m_cipherReady{nullptr}; // m_cipher, once open
};

// The session store berth.session uses: each call runs SqlSessionBackend in the offload pool,
// so the event loop never waits on the database, and its callback comes back to the calling
// thread. A stalled database holds offload threads and, past offload_queue, turns requests
// away with 503; it never stops the event loop serving other requests.
class SqlSessionStore final : public SessionStore
{
public:
    // pool: where the SQL runs (not owned); null gives the store a pool of its own.
    SqlSessionStore(StoreLocation location, int keynum, QByteArray secret,
                    Crypto::AppCipher::Clock cipherClock = {}, Core::OffloadPool *pool = nullptr);
    // Over a backend that may be shared (SqlSessionBackend::shared()).
    SqlSessionStore(std::shared_ptr<SqlSessionBackend> backend, Core::OffloadPool *pool);
    ~SqlSessionStore() override;

    const StoreLocation &location() const { return m_backend->location(); }
    SqlSessionBackend &backend() { return *m_backend; }

    bool open(Done done) override;
    bool insert(const SessionRecord &record, Done done) override;
    bool find(const QByteArray &key, Found done) override;
    bool updateData(const QByteArray &key, const QByteArray &data, qint64 lastSeen,
                    Done done) override;
    bool touch(const QByteArray &key, qint64 lastSeen, Done done) override;
    bool rekey(const QByteArray &oldKey, const QByteArray &newKey, const QByteArray &newCsrf,
               const QByteArray &data, qint64 lastSeen, Done done) override;
    bool remove(const QByteArray &key, Done done) override;
    bool purge(qint64 lastSeenBefore, Purged done) override;
    const Crypto::AppCipher *cipher() const override { return m_backend->cipher(); }

private:
    // Runs call(backend, &error) -> bool in the pool, then done(ok, error) here.
    template <typename Call> bool run(Call call, Done done);
    Core::OffloadPool &pool();

    // Shared with the jobs in flight: a job that outlives the store (a reload replaced the
    // app) still has its backend.
    std::shared_ptr<SqlSessionBackend> m_backend;
    Core::OffloadPool *m_pool;
    std::unique_ptr<Core::OffloadPool> m_ownPool;
};

} // namespace Berth::Sessions
