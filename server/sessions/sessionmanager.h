#pragma once

#include "sessionstore.h"

#include <QByteArray>
#include <QString>

#include <functional>
#include <memory>

namespace Berth::Sessions {

class Session;

// Creates, loads, expires and purges sessions over one SessionStore. One per berth.session app
// instance, i.e. per event-loop thread. The store works off the event loop, so loading is
// asynchronous: the result comes back later in the same thread. The clock and the token source
// are injectable so that expiry and rotation are testable without sleeping or guessing random
// values.
class SessionManager
{
public:
    using Clock = std::function<qint64()>;           // ms since the Unix epoch
    using TokenSource = std::function<QByteArray()>; // new session ids and CSRF tokens
    // The live session, or null; storeFailed tells a store error apart from "no session".
    using Loaded = std::function<void(std::unique_ptr<Session> session, bool storeFailed)>;

    // timeoutMs: idle time after which a session is gone. purgeIntervalMs: the least time
    // between two purges of expired rows.
    SessionManager(std::unique_ptr<SessionStore> store, qint64 timeoutMs,
                   qint64 purgeIntervalMs = 60000, Clock clock = {}, TokenSource tokens = {});
    ~SessionManager();

    // Whether the store is ready: its cipher is open, so cookies can be signed and checked.
    bool isOpen() const { return m_store->cipher() != nullptr; }
    // Connects to the store and opens its cipher, off the event loop; done(ok, error) later.
    // False when it could not start (offload queue full).
    bool open(SessionStore::Done done);
    // True (and *error) for a few seconds after the store failed, so a dead database does not
    // hold every request on a connect of its own: those are refused at once meanwhile.
    bool failedRecently(QString *error) const;

    // Loads the session with this id (a well-formed one, see isWellFormedId()) and touches it
    // (last seen now); done gets null when the id is unknown, expired (the row is then
    // deleted), or its stored data does not decrypt (altered in the database, or under a key
    // this process does not have). False when it could not start (offload queue full).
    bool load(const QByteArray &id, Loaded done);
    // A new session with a fresh id and CSRF token, not yet stored (see Session).
    std::unique_ptr<Session> create();
    // Deletes expired rows in the background when the purge interval has passed; false when it
    // was not due (or could not start). done gets the number deleted, or -1.
    bool purgeIfDue(SessionStore::Purged done = {});

    qint64 now() const { return m_clock(); }
    qint64 timeout() const { return m_timeout; }
    QByteArray newToken() const { return m_tokens(); }
    SessionStore *store() const { return m_store.get(); }

    // What the store is indexed by: base64url(SHA-256(id)).
    static QByteArray storeKey(QByteArrayView id);
    // The shape randomToken() produces: 16 to 128 base64url characters. Anything else is
    // refused before it reaches the database.
    static bool isWellFormedId(QByteArrayView id);

private:
    void noteFailure(const QString &error);

    std::unique_ptr<SessionStore> m_store;
    qint64 m_timeout;
    qint64 m_purgeInterval;
    Clock m_clock;
    TokenSource m_tokens;
    qint64 m_lastPurge = 0;
    qint64 m_lastFailure = 0;
    QString m_lastError;
    // Results that come back after the manager is gone (its app was replaced) are dropped.
    std::shared_ptr<int> m_lifetime = std::make_shared<int>(0);
};

} // namespace Berth::Sessions
