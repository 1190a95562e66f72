#pragma once

#include <QByteArray>
#include <QList>
#include <QMap>
#include <QString>

namespace Berth::Crypto {

// Where an AppCipher keeps its key chain: one record per key number, the key itself never in the
// clear. The newest key's record holds a key check (proof that the configured secret is the one
// on record); every older key's record holds that key's secret wrapped (AES-256-GCM) under a
// newer key, as "wrappingKeynum:base64". See docs/cipher.md.
class KeyStore
{
public:
    struct Record
    {
        int keynum = 0;
        qint64 activeFromSecs = 0; // Unix seconds from which the key encrypts; 0 = always
        QByteArray wrapped;        // ASCII, "keynum:base64"
    };

    virtual ~KeyStore();

    // Every record, in any order. On failure returns an empty list and sets *error.
    virtual QList<Record> load(QString *error) = 0;
    // Inserts the record, or replaces the one with the same keynum.
    virtual bool save(const Record &record, QString *error) = 0;
    // Saves all records or none. The default saves one by one and is only as atomic as that;
    // stores that can do better (a SQL transaction) override it.
    virtual bool saveAll(const QList<Record> &records, QString *error);
};

// A KeyStore in memory, for tests and single-shot tools. Not thread-safe.
class MemoryKeyStore final : public KeyStore
{
public:
    QList<Record> load(QString *error) override;
    bool save(const Record &record, QString *error) override;
    bool saveAll(const QList<Record> &records, QString *error) override;

    // Direct access, so tests can inspect and tamper with what is stored.
    QMap<int, Record> &records() { return m_records; }

private:
    QMap<int, Record> m_records;
};

} // namespace Berth::Crypto
