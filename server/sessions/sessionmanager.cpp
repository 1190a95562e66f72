#include "sessionmanager.h"

#include "session.h"

#include "runtime/offloadpool.h"

#include <crypto/cryptoutil.h>

#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>

Q_DECLARE_LOGGING_CATEGORY(lcSession)

namespace Berth::Sessions {

using namespace Qt::StringLiterals;

namespace {

// After a failed connect, requests are refused at once for this long instead of each one
// waiting on its own connect attempt.
constexpr qint64 ReconnectDelayMs = 3000;

} // namespace

SessionManager::SessionManager(std::unique_ptr<SessionStore> store, qint64 timeoutMs,
                               qint64 purgeIntervalMs, Clock clock, TokenSource tokens)
    : m_store(std::move(store))
    , m_timeout(qMax<qint64>(1, timeoutMs))
    , m_purgeInterval(purgeIntervalMs)
    , m_clock(clock ? std::move(clock) : Clock([] { return QDateTime::currentMSecsSinceEpoch(); }))
    , m_tokens(tokens ? std::move(tokens) : TokenSource([] { return Crypto::randomToken(32); }))
{}

SessionManager::~SessionManager() = default;

bool SessionManager::open(SessionStore::Done done)
{
    const std::weak_ptr<int> lifetime = m_lifetime;
    return m_store->open([this, lifetime, done = std::move(done)](bool ok, const QString &error) {
        if (lifetime.expired())
            return;
        if (ok)
            m_lastFailure = 0;
        else
            noteFailure(error);
        if (done)
            done(ok, error);
    });
}

bool SessionManager::failedRecently(QString *error) const
{
    if (!m_lastFailure || m_clock() - m_lastFailure >= ReconnectDelayMs)
        return false;
    *error = m_lastError;
    return true;
}

void SessionManager::noteFailure(const QString &error)
{
    m_lastFailure = qMax<qint64>(1, m_clock());
    m_lastError = error;
}

QByteArray SessionManager::storeKey(QByteArrayView id)
{
    return Crypto::sha256(id).toBase64(QByteArray::Base64UrlEncoding |
                                       QByteArray::OmitTrailingEquals);
}

bool SessionManager::isWellFormedId(QByteArrayView id)
{
    if (id.size() < 16 || id.size() > 128)
        return false;
    for (const char c : id) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

bool SessionManager::load(const QByteArray &id, Loaded done)
{
    if (!isWellFormedId(id)) {
        // Never reaches the database; answered like any other unknown id, from the event loop.
        return Core::ThreadMailbox::current()->post(
            [done = std::move(done)] { done(nullptr, false); });
    }
    const QByteArray key = storeKey(id);
    const std::weak_ptr<int> lifetime = m_lifetime;
    return m_store->find(key, [this, lifetime, id, key, done = std::move(done)](
                                  std::optional<SessionRecord> record, const QString &error) {
        if (lifetime.expired())
            return;
        if (!record) {
            if (!error.isEmpty()) {
                qCWarning(lcSession).noquote() << u"can't load a session: "_s + error;
                noteFailure(error);
            }
            done(nullptr, !error.isEmpty());
            return;
        }
        m_lastFailure = 0;
        const qint64 now = m_clock();
        if (record->lastSeen + m_timeout <= now) {
            // Idle too long. Delete it now rather than waiting for the purge, so that nothing
            // can bring it back (in the background: this request has no session either way).
            m_store->remove(key, {});
            done(nullptr, false);
            return;
        }
        // Touch at most every 1/20 of the timeout (at most 30 s): a session loses at most 5% of
        // its idle time, and a busy session is not one write per request. In the background:
        // a touch that fails costs the session a little idle time, not this request.
        const qint64 granularity = qMin<qint64>(m_timeout / 20, 30000);
        if (now - record->lastSeen >= granularity && m_store->touch(key, now, {}))
            record->lastSeen = now;
        QVariantMap values;
        QJsonParseError parseError;
        const QJsonDocument document = QJsonDocument::fromJson(record->data, &parseError);
        if (document.isObject())
            values = document.object().toVariantMap();
        else
            qCWarning(lcSession) << "a session's data is not a JSON object; starting it empty";
        done(
            std::make_unique<Session>(this, std::move(*record), id, std::move(values), true, false),
            false);
    });
}

std::unique_ptr<Session> SessionManager::create()
{
    SessionRecord record;
    QByteArray id = m_tokens();
    record.key = storeKey(id);
    record.csrf = m_tokens();
    record.created = m_clock();
    record.lastSeen = record.created;
    return std::make_unique<Session>(this, std::move(record), std::move(id), QVariantMap(), false,
                                     true);
}

bool SessionManager::purgeIfDue(SessionStore::Purged done)
{
    const qint64 now = m_clock();
    if (m_lastPurge && now - m_lastPurge < m_purgeInterval)
        return false;
    m_lastPurge = now;
    return m_store->purge(
        now - m_timeout, [done = std::move(done)](int purged, const QString &error) {
            if (purged < 0)
                qCWarning(lcSession).noquote() << u"can't purge expired sessions: "_s + error;
            if (done)
                done(purged, error);
        });
}

} // namespace Berth::Sessions
