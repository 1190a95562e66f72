#pragma once

#include "crypto/keystore.h"

#include <QSqlDatabase>

class QSqlQuery;

namespace Berth::Sessions {

// An AppCipher key store in a SQL table, so every node sharing the sessions database shares the
// key chain. Works on SQLite (QSQLITE) and PostgreSQL (QPSQL); creates its table on first use:
//   berth_keys(keynum INTEGER PRIMARY KEY, active_from BIGINT, wrapped TEXT)
// Like every QSqlDatabase connection, use it only from the thread that opened the connection.
class SqlKeyStore final : public Crypto::KeyStore
{
public:
    // The connection must be open; it is not owned.
    explicit SqlKeyStore(QSqlDatabase database);

    QList<Record> load(QString *error) override;
    bool save(const Record &record, QString *error) override;
    // One transaction: both records of a key change land, or neither.
    bool saveAll(const QList<Record> &records, QString *error) override;

private:
    bool ensureTable(QString *error); // also fails, with a message, on a closed connection
    bool upsert(QSqlQuery &query, const Record &record, QString *error);

    QSqlDatabase m_database;
    bool m_tableReady = false;
};

} // namespace Berth::Sessions
