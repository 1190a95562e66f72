#include "keystore.h"

namespace Berth::Crypto {

KeyStore::~KeyStore() = default;

bool KeyStore::saveAll(const QList<Record> &records, QString *error)
{
    for (const Record &record : records) {
        if (!save(record, error))
            return false;
    }
    return true;
}

QList<KeyStore::Record> MemoryKeyStore::load(QString *)
{
    return m_records.values();
}

bool MemoryKeyStore::save(const Record &record, QString *)
{
    m_records.insert(record.keynum, record);
    return true;
}

bool MemoryKeyStore::saveAll(const QList<Record> &records, QString *)
{
    // Nothing here can fail half-way, so the loop is already all-or-nothing.
    for (const Record &record : records)
        m_records.insert(record.keynum, record);
    return true;
}

} // namespace Berth::Crypto
