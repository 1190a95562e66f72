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
const QString Upsert = QStringLiteral(
    "INSERT INTO berth_keys (keynum, active_from, wrapped) VALUES (?, ?, ?) "
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
{
}

bool SqlKeyStore::ensureTable(QString *error)
{
    if (m_tableReady)
        return true;
    QSqlQuery query(m_database);
    if (!query.exec(CreateTable))
        return failWith(error, QStringLiteral("cannot create table berth_keys"),
                        query.lastError());
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

bool SqlKeyStore::upsert(const Record &record, QString *error)
{
    QSqlQuery query(m_database);
    if (!query.prepare(Upsert))
        return failWith(error, QStringLiteral("cannot write berth_keys"), query.lastError());
    query.addBindValue(record.keynum);
    query.addBindValue(qlonglong(record.activeFromSecs));
    query.addBindValue(QString::fromLatin1(record.wrapped));
    if (!query.exec())
        return failWith(error, QStringLiteral("cannot write key %1 to berth_keys").arg(record.keynum),
                        query.lastError());
    return true;
}

bool SqlKeyStore::save(const Record &record, QString *error)
{
    return ensureTable(error) && upsert(record, error);
}

bool SqlKeyStore::saveAll(const QList<Record> &records, QString *error)
{
    if (!ensureTable(error))
        return false;
    if (!m_database.transaction())
        return failWith(error, QStringLiteral("cannot begin a transaction"),
                        m_database.lastError());
    for (const Record &record : records) {
        if (!upsert(record, error)) {
            m_database.rollback();
            return false;
        }
    }
    if (!m_database.commit()) {
        const QSqlError commitError = m_database.lastError();
        m_database.rollback();
        return failWith(error, QStringLiteral("cannot commit"), commitError);
    }
    return true;
}

} // namespace Berth::Sessions
