#pragma once

#include "sessionstore.h"

#include <QString>

#include <optional>

class QSqlDatabase;
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

// SessionStore over QtSql, on SQLite (QSQLITE: the embedded default, the file and its table
// created on first use) or PostgreSQL (QPSQL: several berthd nodes sharing sessions). Table:
//   berth_sessions(id TEXT PRIMARY KEY, data TEXT, csrf TEXT, created BIGINT, last_seen BIGINT)
// The connection is opened lazily by open(), in the calling thread, under a name unique to this
// object: QSqlDatabase connections belong to the thread that opened them.
class SqlSessionStore final : public SessionStore
{
public:
    explicit SqlSessionStore(StoreLocation location);
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
               qint64 lastSeen, QString *error) override;
    bool remove(const QByteArray &key, QString *error) override;
    int purge(qint64 lastSeenBefore, QString *error) override;

private:
    bool connect(QString *error);
    bool createTable(QString *error);
    // Runs a prepared query; on failure fills *error and drops a broken connection so that the
    // next open() reconnects (a PostgreSQL server that restarted).
    bool exec(QSqlQuery &query, QString *error);

    StoreLocation m_location;
    QString m_connectionName;
    bool m_ready = false;
};

} // namespace Berth::Sessions
