#pragma once

#include <QByteArray>
#include <QString>

#include <functional>
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

// Where sessions persist, asynchronously: a call starts the operation and returns at once; its
// callback runs later in the calling thread, from its event loop (never inside the call). A call
// that returns false did not start (the offload queue is full) and its callback never runs: the
// caller answers 503. Callbacks may be empty (fire and forget): such a call is housekeeping
// (a touch, the delete of an expired row) and is refused earlier, once the offload queue is
// half full, so that it never takes the places requests need. So is purge(), always. Failures come
// as a non-empty error, never as exceptions. A store is used from one event-loop thread (the thread
// of the app that owns it); what runs behind it may be other threads.
class SessionStore
{
public:
    // ok, or error set; ok false with an empty error: the row is gone (updateData, rekey).
    using Done = std::function<void(bool ok, const QString &error)>;
    // The row, or nullopt: none, its data does not decrypt for its key (the session is as good
    // as gone), or an error (then error is set).
    using Found = std::function<void(std::optional<SessionRecord> record, const QString &error)>;
    // Rows deleted, or -1 and an error.
    using Purged = std::function<void(int count, const QString &error)>;

    virtual ~SessionStore() = default;

    // Connects (first use) and creates the table if it is missing, and opens the cipher.
    virtual bool open(Done done) = 0;
    virtual bool insert(const SessionRecord &record, Done done) = 0;
    virtual bool find(const QByteArray &key, Found done) = 0;
    virtual bool updateData(const QByteArray &key, const QByteArray &data, qint64 lastSeen,
                            Done done) = 0;
    // Moves last_seen forward (never back).
    virtual bool touch(const QByteArray &key, qint64 lastSeen, Done done) = 0;
    // Moves a row to a new key and CSRF token (session establishment), with data (the session's
    // values, which a store binds to the key they are stored under).
    virtual bool rekey(const QByteArray &oldKey, const QByteArray &newKey,
                       const QByteArray &newCsrf, const QByteArray &data, qint64 lastSeen,
                       Done done) = 0;
    virtual bool remove(const QByteArray &key, Done done) = 0;
    // Deletes rows last seen before `lastSeenBefore`.
    virtual bool purge(qint64 lastSeenBefore, Purged done) = 0;

    // The application cipher that protects this store's data, which also signs the session
    // cookies (so both follow one key chain through rotations). Null until open() succeeded;
    // safe to use from any thread once it is not.
    virtual const Crypto::AppCipher *cipher() const = 0;
};

} // namespace Berth::Sessions
