#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"
#include "sessions/sessioncookie.h"
#include "sessions/sessionsettings.h"

#include <QList>

#include <memory>

namespace Berth::Http {
class Exchange;
}

namespace Berth::Sessions {
class Session;
class SessionManager;
} // namespace Berth::Sessions

namespace Berth::Apps {

// berth.session: server-side sessions and CSRF protection for the apps after it in a pipeline
// (pyslet.wsgi's SessionApp as a middleware). For every request it
//  - finds the session from the signed `[sessions] cookie` (a cookie whose signature does not
//    verify under any key on record is ignored and logged to cef.log as tampering), or prepares
//    a new one that is stored, and its cookie sent, only once an app uses it;
//  - answers 503 while the store, or the cipher that encrypts it and signs the cookies, can't
//    be opened (server.log says why, at most every 10 s);
//  - refuses a request with any method but GET, HEAD, OPTIONS and TRACE unless it belongs to a
//    live session and carries that session's CSRF token (header X-CSRF-Token, or form field
//    csrftoken of an application/x-www-form-urlencoded body): 403 and a cef.log event;
//  - with `[sessions] cookie_test = yes`, sends browsers that arrive without cookies through
//    <mount>/ctest first, and explains there when cookies are blocked;
//  - leaves the session in the request's Sessions::SessionRef slot (see sessions/sessionref.h)
//    and passes the exchange on.
// The store works in the offload pool: while it answers, the exchange waits and the event loop
// serves others; a full offload queue is answered 503.
class SessionApp final : public Pipeline::App
{
public:
    SessionApp(Sessions::SessionSettings settings,
               std::unique_ptr<Sessions::SessionManager> manager);
    ~SessionApp() override;

    Pipeline::Outcome handle(Http::Exchange &exchange) override;

    Sessions::SessionManager &manager() { return *m_manager; }
    // Signs with the store's cipher: usable once the store has opened (the first request).
    Sessions::CookieSigner signer() const;

private:
    Pipeline::Outcome withStore(Http::Exchange &exchange);
    void load(Http::Exchange &exchange, QList<QByteArray> ids);
    Pipeline::Outcome withSession(Http::Exchange &exchange,
                                  std::unique_ptr<Sessions::Session> session);
    void resume(Http::Exchange &exchange, Pipeline::Outcome outcome);
    void storeUnavailable(Http::Exchange &exchange, const QString &error);
    void busy(Http::Exchange &exchange);
    Pipeline::Outcome checkToken(Http::Exchange &exchange);
    void rejectCsrf(Http::Exchange &exchange, const QString &reason);
    void redirectToCookieTest(Http::Exchange &exchange);
    void handleCookieTest(Http::Exchange &exchange);
    void adopt(Http::Exchange &exchange, std::unique_ptr<Sessions::Session> session);
    void sendSessionCookie(Http::Exchange &exchange, const Sessions::Session &session);
    Sessions::CookieAttributes cookieAttributes(const Http::Exchange &exchange) const;

    Sessions::SessionSettings m_settings;
    std::unique_ptr<Sessions::SessionManager> m_manager;
    qint64 m_lastStoreWarning = 0;
    // Store answers that come back after the app is gone (a reload replaced it) are dropped.
    std::shared_ptr<int> m_lifetime = std::make_shared<int>(0);
};

void registerSessionApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
