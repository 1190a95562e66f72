#pragma once

#include "sessionstore.h"

#include <QByteArray>
#include <QString>
#include <QVariant>
#include <QVariantMap>

#include <functional>
#include <memory>

namespace Berth::Sessions {

class SessionManager;

// A server-side session, as apps after berth.session see it through sessionOf(request) (pyslet's
// CookieSession with its data kept on the server). The browser holds only a signed, opaque id.
//
// Values are a QVariantMap persisted as a JSON object, so keep them to what JSON can carry
// (strings, numbers, booleans, lists and maps of those).
//
// Changes are made in memory and written by save(), which works off the event loop and calls
// back when the store has them: call it, and answer from its callback, before the response
// starts. Several workers and nodes may serve the same session, and the next request can land
// on any of them, so an app saves before it answers. A session created by this request costs
// nothing until it is saved: then it is stored and its cookie sent. An app that does not use
// the session does not save it.
//
// Valid while its request is being handled; used only in the thread of that request.
class Session
{
public:
    // Tells the middleware the browser must learn something: a new cookie value (first store,
    // establish()) or that the cookie is gone (destroy()). Runs from save(), before its callback.
    using CookieHandler = std::function<void(const Session &session)>;
    // ok: the store has every change; false: it failed (server.log says why), answer 503.
    using Saved = std::function<void(bool ok)>;

    Session(SessionManager *manager, SessionRecord record, QByteArray id, QVariantMap values,
            bool persisted, bool isNew);
    ~Session();

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
    // In memory until save(); false once destroyed.
    bool setValue(const QString &key, const QVariant &value);
    bool remove(const QString &key);
    // Changes (or a first store, a new id, a destruction) that save() has yet to write.
    bool isDirty() const;
    // Writes what changed (a new session: stores it), off the event loop; done(ok) later in
    // this thread (never inside the call). False, and done never runs, when it could not start
    // (offload queue full: 503).
    bool save(Saved done);

    // The token state-changing requests must carry (form field csrftoken or header
    // X-CSRF-Token). Put it in forms that POST; never in a URL. A new session is stored by the
    // next save(), so that the form finds it again when it is posted.
    QByteArray csrfToken();

    // Call on login (or whenever the session gains privileges): the session gets a new id and a
    // new CSRF token, the old id stops working and the new cookie is sent once save() has
    // stored it. This is what defeats session fixation: an id an attacker planted before login
    // is worthless after.
    bool establish();
    // Ends the session: the browser is told to drop the cookie, and save() deletes the row.
    bool destroy();

    void setCookieHandler(CookieHandler handler) { m_cookieHandler = std::move(handler); }

private:
    bool insertNew(Saved done);
    // Runs done(ok) from the event loop, as if the store had answered.
    static bool later(Saved done, bool ok);
    void notifyCookie();

    SessionManager *m_manager;
    SessionRecord m_record;
    QByteArray m_id;
    QVariantMap m_values;
    QByteArray m_rekeyFrom; // the stored key to move from, after establish()
    bool m_persisted;
    bool m_isNew;
    bool m_mustPersist = false; // a new session whose id or token went out
    bool m_destroyed = false;
    bool m_dirty = false;
    CookieHandler m_cookieHandler;
    // Store answers that come back after the session is gone (its exchange died) are dropped.
    std::shared_ptr<int> m_lifetime = std::make_shared<int>(0);
};

} // namespace Berth::Sessions
