#include "session.h"

#include "sessionmanager.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>

Q_LOGGING_CATEGORY(lcSession, "berth.session")

namespace Berth::Sessions {

using namespace Qt::StringLiterals;

namespace {

QByteArray toJson(const QVariantMap &values)
{
    return QJsonDocument(QJsonObject::fromVariantMap(values)).toJson(QJsonDocument::Compact);
}

} // namespace

Session::Session(SessionManager *manager, SessionRecord record, QByteArray id, QVariantMap values,
                 bool persisted, bool isNew)
    : m_manager(manager)
    , m_record(std::move(record))
    , m_id(std::move(id))
    , m_values(std::move(values))
    , m_persisted(persisted)
    , m_isNew(isNew)
{}

QVariant Session::value(const QString &key, const QVariant &defaultValue) const
{
    return m_values.value(key, defaultValue);
}

bool Session::setValue(const QString &key, const QVariant &value)
{
    if (m_destroyed)
        return false;
    m_values.insert(key, value);
    m_dirty = true;
    return save();
}

bool Session::remove(const QString &key)
{
    if (m_destroyed)
        return false;
    if (m_values.remove(key) > 0)
        m_dirty = true;
    return save();
}

bool Session::save()
{
    if (m_destroyed)
        return false;
    if (!m_persisted)
        return persist();
    if (!m_dirty)
        return true;
    QString error;
    const QByteArray data = toJson(m_values);
    const qint64 now = m_manager->now();
    if (!m_manager->store()->updateData(m_record.key, data, now, &error)) {
        if (error.isEmpty()) {
            // The row is gone: expired and purged, or destroyed by another request. Start
            // over as a new session rather than writing into nothing.
            qCInfo(lcSession) << "session expired while in use; storing it as a new one";
            m_persisted = false;
            return persist();
        }
        qCWarning(lcSession).noquote() << u"can't save a session: "_s + error;
        return false;
    }
    m_record.data = data;
    m_record.lastSeen = now;
    m_dirty = false;
    return true;
}

bool Session::persist()
{
    QString error;
    m_record.data = toJson(m_values);
    m_record.lastSeen = m_manager->now();
    if (!m_manager->store()->insert(m_record, &error)) {
        qCWarning(lcSession).noquote() << u"can't store a new session: "_s + error;
        return false;
    }
    m_persisted = true;
    m_dirty = false;
    notifyCookie();
    return true;
}

QByteArray Session::csrfToken()
{
    // A form showing this token must find the session again when it is posted.
    if (!m_persisted && !m_destroyed)
        persist();
    return m_record.csrf;
}

bool Session::establish()
{
    if (m_destroyed)
        return false;
    if (!m_persisted) {
        // Created by this request: the id was never sent to anyone, so it can't have been
        // planted; storing it is enough.
        return persist();
    }
    QByteArray newId = m_manager->newToken();
    QByteArray newKey = SessionManager::storeKey(newId);
    QByteArray newCsrf = m_manager->newToken();
    const qint64 now = m_manager->now();
    // The values move with the row (re-encrypted for the new id), pending changes included.
    const QByteArray data = toJson(m_values);
    QString error;
    if (!m_manager->store()->rekey(m_record.key, newKey, newCsrf, data, now, &error)) {
        if (!error.isEmpty()) {
            qCWarning(lcSession).noquote() << u"can't rotate a session id: "_s + error;
            return false;
        }
        // The old row vanished (expired): what the browser has is worthless either way, so
        // the session continues under a new id as a new row.
        m_record.key = newKey;
        m_record.csrf = newCsrf;
        m_id = newId;
        m_persisted = false;
        return persist();
    }
    m_record.key = std::move(newKey);
    m_record.csrf = std::move(newCsrf);
    m_record.data = data;
    m_record.lastSeen = now;
    m_id = std::move(newId);
    m_dirty = false;
    notifyCookie();
    return true;
}

bool Session::destroy()
{
    if (m_destroyed)
        return true;
    bool ok = true;
    if (m_persisted) {
        QString error;
        ok = m_manager->store()->remove(m_record.key, &error);
        if (!ok)
            qCWarning(lcSession).noquote() << u"can't delete a session: "_s + error;
    }
    m_destroyed = true;
    m_values.clear();
    notifyCookie();
    return ok;
}

void Session::notifyCookie()
{
    if (m_cookieHandler)
        m_cookieHandler(*this);
}

} // namespace Berth::Sessions
