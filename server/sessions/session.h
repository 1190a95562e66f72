#pragma once

#include "sessionstore.h"

#include <QByteArray>
#include <QString>
#include <QVariant>
#include <QVariantMap>

#include <functional>

namespace Berth::Sessions {

class SessionManager;

// A server-side session, as apps after berth.session see it through request.session (pyslet's
// CookieSession with its data kept on the server). The browser holds only a signed, opaque id.
//
// Values are a QVariantMap persisted as a JSON object, so keep them to what JSON can carry
// (strings, numbers, booleans, lists and maps of those). Changes are written through to the
// store at once: several workers and nodes may serve the same session, and the next request
// can land on any of them.
//
// A session created by this request costs nothing until it is needed: it is written to the
// store (and its cookie sent) on the first setValue(), csrfToken() or establish(). Do that
// before the response starts, or the browser never learns the cookie.
//
// Valid while its request is being handled; used only in the thread of that request.
class Session
{
public:
    // Tells the middleware the browser must learn something: a new cookie value (first use,
    // establish()) or that the cookie is gone (destroy()).
    using CookieHandler = std::function<void(const Session &session)>;

    Session(SessionManager *manager, SessionRecord record, QByteArray id, QVariantMap values,
            bool persisted, bool isNew);

    // The opaque id the cookie carries (base64url, 43 characters). Changes on establish().
    const QByteArray &id() const { return m_id; }
    // Created by this request (no valid cookie came with it).
    bool isNew() const { return m_isNew; }
    bool isPersisted() const { return m_persisted; }
    bool isDestroyed() const { return m_destroyed; }
    qint64 created() const { return m_record.created; }   // ms since the epoch
    qint64 lastSeen() const { return m_record.lastSeen; } // ms since the epoch

    QVariant value(const QString &key, const QVariant &defaultValue = QVariant()) const;
    bool contains(const QString &key) const { return m_values.contains(key); }
    QVariantMap values() const { return m_values; }
    // Writes through; false when the store failed (the change is kept in memory, isDirty()).
    bool setValue(const QString &key, const QVariant &value);
    bool remove(const QString &key);
    bool isDirty() const { return m_dirty; }
    bool save();

    // The token state-changing requests must carry (form field csrftoken or header
    // X-CSRF-Token). Put it in forms that POST; never in a URL.
    QByteArray csrfToken();

    // Call on login (or whenever the session gains privileges): the session gets a new id and a
    // new CSRF token, the old id stops working at once and the new cookie is sent. This is
    // what defeats session fixation: an id an attacker planted before login is worthless after.
    bool establish();
    // Ends the session: the row is deleted and the browser told to drop the cookie.
    bool destroy();

    void setCookieHandler(CookieHandler handler) { m_cookieHandler = std::move(handler); }

private:
    bool persist();
    void notifyCookie();

    SessionManager *m_manager;
    SessionRecord m_record;
    QByteArray m_id;
    QVariantMap m_values;
    bool m_persisted;
    bool m_isNew;
    bool m_destroyed = false;
    bool m_dirty = false;
    CookieHandler m_cookieHandler;
};

} // namespace Berth::Sessions
