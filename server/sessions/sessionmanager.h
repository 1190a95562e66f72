#pragma once

#include "sessionstore.h"

#include <QByteArray>
#include <QString>

#include <functional>
#include <memory>

namespace Berth::Sessions {

class Session;

// Creates, loads, expires and purges sessions over one SessionStore. One per berth.session app
// instance, i.e. per event-loop thread. The clock and the token source are injectable so that
// expiry and rotation are testable without sleeping or guessing random values.
class SessionManager
{
public:
    using Clock = std::function<qint64()>;           // ms since the Unix epoch
    using TokenSource = std::function<QByteArray()>; // new session ids and CSRF tokens

    // timeoutMs: idle time after which a session is gone. purgeIntervalMs: the least time
    // between two purges of expired rows.
    SessionManager(std::unique_ptr<SessionStore> store, qint64 timeoutMs,
                   qint64 purgeIntervalMs = 60000, Clock clock = {}, TokenSource tokens = {});
    ~SessionManager();

    // Connects to the store and opens its cipher (lazily, in the calling thread). After a
    // failure it retries at most every few seconds, so a dead database does not stall every
    // request on a connect.
    bool open(QString *error);

    // The live session with this id, touched (last seen now); nullptr when the id is unknown,
    // expired (the row is then deleted), malformed, or its stored data does not decrypt (altered
    // in the database, or under a key this process does not have). *storeFailed tells a store
    // error apart.
    std::unique_ptr<Session> load(const QByteArray &id, bool *storeFailed = nullptr);
    // A new session with a fresh id and CSRF token, not yet stored (see Session).
    std::unique_ptr<Session> create();
    // Deletes expired rows when the purge interval has passed; the number deleted, or -1 when
    // it was not due or failed.
    int purgeIfDue();

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
    std::unique_ptr<SessionStore> m_store;
    qint64 m_timeout;
    qint64 m_purgeInterval;
    Clock m_clock;
    TokenSource m_tokens;
    qint64 m_lastPurge = 0;
    qint64 m_lastOpenFailure = 0;
    QString m_lastOpenError;
};

} // namespace Berth::Sessions
