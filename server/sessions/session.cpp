#include "session.h"

#include "sessionmanager.h"

#include "runtime/offloadpool.h"

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

Session::~Session() = default;

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
    return true;
}

bool Session::remove(const QString &key)
{
    if (m_destroyed)
        return false;
    if (m_values.remove(key) > 0)
        m_dirty = true;
    return true;
}

bool Session::isDirty() const
{
    if (m_destroyed)
        return m_persisted;
    return m_dirty || !m_rekeyFrom.isEmpty() || (!m_persisted && m_mustPersist);
}

bool Session::later(Saved done, bool ok)
{
    return Core::ThreadMailbox::current()->post([done = std::move(done), ok] {
        if (done)
            done(ok);
    });
}

bool Session::save(Saved done)
{
    const std::weak_ptr<int> lifetime = m_lifetime;
    SessionStore *store = m_manager->store();
    if (m_destroyed) {
        if (!m_persisted)
            return later(std::move(done), true);
        return store->remove(
            m_record.key, [this, lifetime, done = std::move(done)](bool ok, const QString &error) {
                if (lifetime.expired())
                    return;
                if (ok)
                    m_persisted = false;
                else
                    qCWarning(lcSession).noquote() << u"can't delete a session: "_s + error;
                if (done)
                    done(ok);
            });
    }
    if (!m_persisted)
        return insertNew(std::move(done)); // asked to save: a new session is stored
    if (m_rekeyFrom.isEmpty() && !m_dirty)
        return later(std::move(done), true);

    const QByteArray data = toJson(m_values);
    const qint64 now = m_manager->now();
    // The row (or, after establish(), the one to move) went away meanwhile: expired and
    // purged, or destroyed by another request. Start over as a new session rather than
    // writing into nothing.
    auto onWritten = [this, lifetime, data, now, done](bool ok, const QString &error) {
        if (lifetime.expired())
            return;
        const bool rekeyed = !m_rekeyFrom.isEmpty();
        m_rekeyFrom.clear();
        if (!ok && error.isEmpty()) {
            qCInfo(lcSession) << "session expired while in use; storing it as a new one";
            m_persisted = false;
            if (!insertNew(done) && done)
                done(false);
            return;
        }
        if (!ok) {
            qCWarning(lcSession).noquote()
                << (rekeyed ? u"can't rotate a session id: "_s : u"can't save a session: "_s) +
                       error;
            if (done)
                done(false);
            return;
        }
        m_record.data = data;
        m_record.lastSeen = now;
        m_dirty = false;
        if (rekeyed)
            notifyCookie();
        if (done)
            done(true);
    };
    // The values move with the row (re-encrypted for the new id), pending changes included.
    if (!m_rekeyFrom.isEmpty())
        return store->rekey(m_rekeyFrom, m_record.key, m_record.csrf, data, now,
                            std::move(onWritten));
    return store->updateData(m_record.key, data, now, std::move(onWritten));
}

bool Session::insertNew(Saved done)
{
    const std::weak_ptr<int> lifetime = m_lifetime;
    SessionRecord record = m_record;
    record.data = toJson(m_values);
    record.lastSeen = m_manager->now();
    return m_manager->store()->insert(
        record, [this, lifetime, record, done = std::move(done)](bool ok, const QString &error) {
            if (lifetime.expired())
                return;
            if (!ok) {
                qCWarning(lcSession).noquote() << u"can't store a new session: "_s + error;
                if (done)
                    done(false);
                return;
            }
            m_record.data = record.data;
            m_record.lastSeen = record.lastSeen;
            m_persisted = true;
            m_mustPersist = false;
            m_dirty = false;
            notifyCookie();
            if (done)
                done(true);
        });
}

QByteArray Session::csrfToken()
{
    // A form showing this token must find the session again when it is posted.
    if (!m_persisted && !m_destroyed)
        m_mustPersist = true;
    return m_record.csrf;
}

bool Session::establish()
{
    if (m_destroyed)
        return false;
    if (!m_persisted) {
        // Created by this request: the id was never sent to anyone, so it can't have been
        // planted; storing it is enough.
        m_mustPersist = true;
        return true;
    }
    // The row moves on save(): from the key the browser knew (the first one, if establish()
    // runs twice before a save) to a fresh id and CSRF token.
    if (m_rekeyFrom.isEmpty())
        m_rekeyFrom = m_record.key;
    m_id = m_manager->newToken();
    m_record.key = SessionManager::storeKey(m_id);
    m_record.csrf = m_manager->newToken();
    return true;
}

bool Session::destroy()
{
    if (m_destroyed)
        return true;
    if (!m_rekeyFrom.isEmpty()) {
        // Established but never saved: the row is still under the old key.
        m_record.key = m_rekeyFrom;
        m_rekeyFrom.clear();
    }
    m_destroyed = true;
    m_values.clear();
    notifyCookie();
    return true;
}

void Session::notifyCookie()
{
    if (m_cookieHandler)
        m_cookieHandler(*this);
}

} // namespace Berth::Sessions
