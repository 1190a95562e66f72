#include "sqlkeystore.h"

#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace Berth::Sessions {

namespace {

// Plain SQL that SQLite (3.24+) and PostgreSQL (9.5+) both accept, so one statement serves
// both drivers. The wrapped keys are ASCII, so TEXT holds them on either.
const QString CreateTable = QStringLiteral("CREATE TABLE IF NOT EXISTS berth_keys ("
                                           "keynum INTEGER PRIMARY KEY, "
                                           "active_from BIGINT NOT NULL, "
                                           "wrapped TEXT NOT NULL)");
const QString SelectAll =
    QStringLiteral("SELECT keynum, active_from, wrapped FROM berth_keys ORDER BY keynum");
// Upsert by primary key: change-key rewrites the previous key's record (its key check becomes
// a wrapped key), and a crashed change-key must be retryable.
const QString Upsert =
    QStringLiteral("INSERT INTO berth_keys (keynum, active_from, wrapped) VALUES (?, ?, ?) "
                   "ON CONFLICT (keynum) DO UPDATE SET active_from = excluded.active_from, "
                   "wrapped = excluded.wrapped");

bool failWith(QString *error, const QString &what, const QSqlError &sqlError)
{
    if (error)
        *error = what + QStringLiteral(": ") + sqlError.text();
    return false;
}

} // namespace

SqlKeyStore::SqlKeyStore(QSqlDatabase database)
    : m_database(std::move(database))
{}

bool SqlKeyStore::ensureTable(QString *error)
{
    if (!m_database.isOpen()) {
        if (error)
            *error = QStringLiteral("cannot use berth_keys: the database connection is not open");
        return false;
    }
    if (m_tableReady)
        return true;
    // Looking first keeps PostgreSQL from logging a "relation already exists" notice on every
    // start; IF NOT EXISTS still covers a table on another schema of the search path, or a
    // second node creating it at the same moment.
    if (!m_database.tables().contains(QStringLiteral("berth_keys"))) {
        QSqlQuery query(m_database);
        if (!query.exec(CreateTable))
            return failWith(error, QStringLiteral("cannot create table berth_keys"),
                            query.lastError());
    }
    m_tableReady = true;
    return true;
}

QList<Crypto::KeyStore::Record> SqlKeyStore::load(QString *error)
{
    if (!ensureTable(error))
        return {};
    QSqlQuery query(m_database);
    query.setForwardOnly(true);
    if (!query.exec(SelectAll)) {
        failWith(error, QStringLiteral("cannot read berth_keys"), query.lastError());
        return {};
    }
    QList<Record> records;
    while (query.next()) {
        bool keynumOk = false;
        bool activeOk = false;
        Record record;
        record.keynum = query.value(0).toInt(&keynumOk);
        record.activeFromSecs = query.value(1).toLongLong(&activeOk);
        // Wrapped keys are ASCII by construction; anything else fails to parse in AppCipher.
        record.wrapped = query.value(2).toString().toLatin1();
        if (!keynumOk || !activeOk) {
            if (error)
                *error = QStringLiteral("berth_keys holds a row with a non-numeric keynum or "
                                        "active_from");
            return {};
        }
        records.append(record);
    }
    if (query.lastError().isValid()) {
        failWith(error, QStringLiteral("cannot read berth_keys"), query.lastError());
        return {};
    }
    return records;
}

bool SqlKeyStore::upsert(QSqlQuery &query, const Record &record, QString *error)
{
    query.bindValue(0, record.keynum);
    query.bindValue(1, qlonglong(record.activeFromSecs));
    query.bindValue(2, QString::fromLatin1(record.wrapped));
    if (!query.exec())
        return failWith(error,
                        QStringLiteral("cannot write key %1 to berth_keys").arg(record.keynum),
                        query.lastError());
    return true;
}

bool SqlKeyStore::save(const Record &record, QString *error)
{
    if (!ensureTable(error))
        return false;
    QSqlQuery query(m_database);
    if (!query.prepare(Upsert))
        return failWith(error, QStringLiteral("cannot write berth_keys"), query.lastError());
    return upsert(query, record, error);
}

bool SqlKeyStore::saveAll(const QList<Record> &records, QString *error)
{
    if (!ensureTable(error))
        return false;
    if (!m_database.transaction())
        return failWith(error, QStringLiteral("cannot begin a transaction"),
                        m_database.lastError());
    // The query outlives the rollback: PostgreSQL refuses to free a prepared statement inside a
    // failed transaction, so it must be released only once the transaction is over.
    QSqlQuery query(m_database);
    bool ok = query.prepare(Upsert);
    if (!ok)
        failWith(error, QStringLiteral("cannot write berth_keys"), query.lastError());
    for (qsizetype i = 0; ok && i < records.size(); ++i)
        ok = upsert(query, records[i], error);
    if (!ok) {
        m_database.rollback();
        return false;
    }
    if (!m_database.commit()) {
        const QSqlError commitError = m_database.lastError();
        m_database.rollback();
        return failWith(error, QStringLiteral("cannot commit"), commitError);
    }
    return true;
}

} // namespace Berth::Sessions
