#pragma once

#include <QByteArray>
#include <QString>

#include <optional>

namespace Berth::Crypto {
class AppCipher;
}

namespace Berth::Sessions {

// One row of berth_sessions. `key` is what the store is indexed by: the SHA-256 of the session
// id (base64url), never the id itself, so a leaked database or backup does not hand out live
// session cookies. Times are milliseconds since the Unix epoch.
struct SessionRecord
{
    QByteArray key;
    // The session's values as a compact JSON object. In memory only: a store keeps it encrypted
    // (see SqlSessionStore), and hands it back only when it decrypts intact for this key.
    QByteArray data;
    QByteArray csrf; // the session's CSRF token
    qint64 created = 0;
    qint64 lastSeen = 0;
};

// Where sessions persist. Implementations report failures through `error` and never throw; a
// store is used from one thread only (the event-loop thread of the app that owns it).
class SessionStore
{
public:
    virtual ~SessionStore() = default;

    // Connects (first use) and creates the table if it is missing. Cheap once open.
    virtual bool open(QString *error) = 0;
    virtual bool insert(const SessionRecord &record, QString *error) = 0;
    // nullopt when there is no such row, or its data does not decrypt intact for this key (then
    // the session is as good as gone), or on error: then *error is set.
    virtual std::optional<SessionRecord> find(const QByteArray &key, QString *error) = 0;
    virtual bool updateData(const QByteArray &key, const QByteArray &data, qint64 lastSeen,
                            QString *error) = 0;
    virtual bool touch(const QByteArray &key, qint64 lastSeen, QString *error) = 0;
    // Moves a row to a new key and CSRF token (session establishment), with data (the session's
    // values, which a store binds to the key they are stored under); false if it is gone.
    virtual bool rekey(const QByteArray &oldKey, const QByteArray &newKey,
                       const QByteArray &newCsrf, const QByteArray &data, qint64 lastSeen,
                       QString *error) = 0;
    virtual bool remove(const QByteArray &key, QString *error) = 0;
    // Deletes rows last seen before `lastSeenBefore`; returns how many, or -1 on error.
    virtual int purge(qint64 lastSeenBefore, QString *error) = 0;

    // The application cipher that protects this store's data, which also signs the session
    // cookies (so both follow one key chain through rotations). Null until open() succeeded.
    virtual const Crypto::AppCipher *cipher() const = 0;
};

} // namespace Berth::Sessions
