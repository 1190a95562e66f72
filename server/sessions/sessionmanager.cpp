#include "sessionmanager.h"

#include "session.h"

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

bool SessionManager::open(QString *error)
{
    const qint64 now = m_clock();
    if (m_lastOpenFailure && now - m_lastOpenFailure < ReconnectDelayMs) {
        *error = m_lastOpenError;
        return false;
    }
    if (m_store->open(error)) {
        m_lastOpenFailure = 0;
        return true;
    }
    m_lastOpenFailure = now;
    m_lastOpenError = *error;
    return false;
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

std::unique_ptr<Session> SessionManager::load(const QByteArray &id, bool *storeFailed)
{
    if (storeFailed)
        *storeFailed = false;
    if (!isWellFormedId(id))
        return nullptr;
    const QByteArray key = storeKey(id);
    QString error;
    std::optional<SessionRecord> record = m_store->find(key, &error);
    if (!record) {
        if (!error.isEmpty()) {
            qCWarning(lcSession).noquote() << u"can't load a session: "_s + error;
            if (storeFailed)
                *storeFailed = true;
        }
        return nullptr;
    }
    const qint64 now = m_clock();
    if (record->lastSeen + m_timeout <= now) {
        // Idle too long. Delete it now rather than waiting for the purge, so that nothing can
        // bring it back.
        m_store->remove(key, &error);
        return nullptr;
    }
    // Touch at most every 1/20 of the timeout (at most 30 s): a session loses at most 5% of its
    // idle time, and a busy session is not one write per request.
    const qint64 granularity = qMin<qint64>(m_timeout / 20, 30000);
    if (now - record->lastSeen >= granularity) {
        if (m_store->touch(key, now, &error))
            record->lastSeen = now;
    }
    QVariantMap values;
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(record->data, &parseError);
    if (document.isObject())
        values = document.object().toVariantMap();
    else
        qCWarning(lcSession) << "a session's data is not a JSON object; starting it empty";
    return std::make_unique<Session>(this, std::move(*record), id, std::move(values), true, false);
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

int SessionManager::purgeIfDue()
{
    const qint64 now = m_clock();
    if (m_lastPurge && now - m_lastPurge < m_purgeInterval)
        return -1;
    m_lastPurge = now;
    QString error;
    const int purged = m_store->purge(now - m_timeout, &error);
    if (purged < 0)
        qCWarning(lcSession).noquote() << u"can't purge expired sessions: "_s + error;
    return purged;
}

} // namespace Berth::Sessions
