#include "sessionapp.h"

#include "http/exchange.h"
#include "http/identity.h"
#include "log/cef.h"
#include "pipeline/pipeline.h"
#include "runtime/servercontext.h"
#include "sessions/csrf.h"
#include "sessions/returnpath.h"
#include "sessions/session.h"
#include "sessions/sessionmanager.h"
#include "sessions/sessionref.h"
#include "sessions/sqlsessionstore.h"

#include <QLoggingCategory>
#include <QUrl>

#include <memory>

Q_LOGGING_CATEGORY(lcSessionApp, "berth.apps.session")
// "berth.session" (session.cpp): server.log. berth.apps.* goes to app.log, but an unavailable
// store or a cipher refusing the configured key is for the operator, next to the server's
// other errors.
Q_DECLARE_LOGGING_CATEGORY(lcSession)

namespace Berth::Apps {

using namespace Qt::StringLiterals;
using Sessions::Session;

namespace {

constexpr qint64 StoreWarningIntervalMs = 10 * 1000;

bool isSetCookieFor(const std::pair<QByteArray, QByteArray> &header, QByteArrayView cookie)
{
    return Http::equalsIgnoreCase(header.first, "Set-Cookie") && header.second.startsWith(cookie) &&
           header.second.size() > cookie.size() && header.second[cookie.size()] == '=';
}

// Replaces any Set-Cookie for `cookie` already on the response (a session created and then
// established in the same request) and keeps the app's other cookies.
void replaceSetCookie(Http::Response &response, QByteArrayView cookie, const QByteArray &value)
{
    QList<QByteArray> others;
    bool ours = false;
    for (const auto &header : response.headers()) {
        if (!Http::equalsIgnoreCase(header.first, "Set-Cookie"))
            continue;
        if (isSetCookieFor(header, cookie))
            ours = true;
        else
            others.append(header.second);
    }
    if (ours) {
        response.removeHeader("Set-Cookie");
        for (const QByteArray &other : others)
            response.addHeader("Set-Cookie", other);
    }
    response.addHeader("Set-Cookie", value);
}

QByteArray mountRoot(const Http::Request &request)
{
    return request.scriptName.isEmpty() ? QByteArrayLiteral("/") : request.scriptName + '/';
}

void respondText(Http::Exchange &exchange, int status, const QByteArray &body)
{
    exchange.response().setHeader("Cache-Control", "no-store");
    exchange.respond(status, "text/plain; charset=utf-8", body);
}

} // namespace

SessionApp::SessionApp(Sessions::SessionSettings settings,
                       std::unique_ptr<Sessions::SessionManager> manager)
    : m_settings(std::move(settings))
    , m_manager(std::move(manager))
{}

SessionApp::~SessionApp() = default;

Sessions::CookieSigner SessionApp::signer() const
{
    return Sessions::CookieSigner(m_manager->store()->cipher());
}

Pipeline::Outcome SessionApp::handle(Http::Exchange &exchange)
{
    QString error;
    if (m_manager->failedRecently(&error)) {
        storeUnavailable(exchange, error);
        return Pipeline::Outcome::Answered;
    }
    if (m_manager->isOpen())
        return withStore(exchange);
    // The first request (or the first since the store failed to open): connect, create the
    // table and open the cipher, off the event loop.
    const Http::ExchangeHandle handle = exchange.handle();
    const std::weak_ptr<int> lifetime = m_lifetime;
    const bool started =
        m_manager->open([this, lifetime, handle](bool ok, const QString &openError) {
            if (lifetime.expired())
                return;
            Http::Exchange *ex = handle.get();
            if (!ex)
                return; // the exchange ended (client gone, timeout) while the store opened
            if (!ok)
                storeUnavailable(*ex, openError);
            else
                resume(*ex, withStore(*ex));
        });
    if (!started)
        busy(exchange);
    return Pipeline::Outcome::Answered;
}

void SessionApp::storeUnavailable(Http::Exchange &exchange, const QString &error)
{
    const qint64 now = m_manager->now();
    if (now - m_lastStoreWarning >= StoreWarningIntervalMs) {
        m_lastStoreWarning = now;
        qCWarning(lcSession).noquote()
            << u"[app:%1] session store unavailable, answering 503: %2"_s.arg(name(), error);
    }
    Http::respondWithError(exchange, 503);
}

void SessionApp::busy(Http::Exchange &exchange)
{
    // The offload queue is full (offload_rejected counts it): the store is slow, and more
    // requests waiting on it would only wait longer.
    Http::respondWithError(exchange, 503);
}

void SessionApp::resume(Http::Exchange &exchange, Pipeline::Outcome outcome)
{
    if (outcome == Pipeline::Outcome::Pass)
        exchange.passToNext();
}

Pipeline::Outcome SessionApp::withStore(Http::Exchange &exchange)
{
    Http::Request &request = exchange.request();
    m_manager->purgeIfDue();

    // Several cookies of our name can come (one for a narrower path, one planted by a sibling
    // subdomain): the first that verifies and names a live session wins.
    QList<QByteArray> ids;
    bool tampered = false;
    const Sessions::CookieSigner cookieSigner = signer();
    for (const QByteArray &value : Sessions::requestCookies(request.head, m_settings.cookieName)) {
        const QByteArray id = cookieSigner.verify(value);
        if (id.isNull())
            tampered = true;
        else if (Sessions::SessionManager::isWellFormedId(id) && !ids.contains(id))
            ids.append(id);
    }
    if (tampered) {
        // Forged or altered (or signed under a key that is not on record, or that this process
        // does not have yet): never trusted, the request goes on as one without a session.
        Log::logCef(u"Session cookie tampered"_s, 5, &request, Http::userOf(request),
                    u"SessionTamper"_s, {{u"reason"_s, u"bad cookie signature"_s}});
    }
    if (m_settings.cookieTest && request.pathInfo == "/ctest") {
        handleCookieTest(exchange);
        return Pipeline::Outcome::Answered;
    }
    if (ids.isEmpty())
        return withSession(exchange, nullptr);
    load(exchange, ids);
    return Pipeline::Outcome::Answered;
}

void SessionApp::load(Http::Exchange &exchange, QList<QByteArray> ids)
{
    const QByteArray id = ids.takeFirst();
    const Http::ExchangeHandle handle = exchange.handle();
    const std::weak_ptr<int> lifetime = m_lifetime;
    const bool started = m_manager->load(
        id, [this, lifetime, handle, ids](std::unique_ptr<Session> session, bool storeFailed) {
            if (lifetime.expired())
                return;
            Http::Exchange *ex = handle.get();
            if (!ex)
                return; // the exchange ended while the store answered
            if (storeFailed) {
                Http::respondWithError(*ex, 503);
            } else if (!session && !ids.isEmpty()) {
                load(*ex, ids);
            } else {
                resume(*ex, withSession(*ex, std::move(session)));
            }
        });
    if (!started)
        busy(exchange);
}

Pipeline::Outcome SessionApp::withSession(Http::Exchange &exchange,
                                          std::unique_ptr<Session> session)
{
    Http::Request &request = exchange.request();
    const bool safe = Sessions::Csrf::isSafeMethod(request.method());
    if (!safe) {
        if (!session) {
            rejectCsrf(exchange, u"no session"_s);
            return Pipeline::Outcome::Answered;
        }
        adopt(exchange, std::move(session));
        return checkToken(exchange);
    }
    if (!session) {
        if (m_settings.cookieTest &&
            Sessions::requestCookies(request.head, Sessions::TestCookieName).isEmpty()) {
            redirectToCookieTest(exchange);
            return Pipeline::Outcome::Answered;
        }
        session = m_manager->create();
    }
    adopt(exchange, std::move(session));
    return Pipeline::Outcome::Pass;
}

void SessionApp::adopt(Http::Exchange &exchange, std::unique_ptr<Session> session)
{
    Http::Exchange *ex = &exchange;
    session->setCookieHandler([this, ex](const Session &s) { sendSessionCookie(*ex, s); });
    // The exchange owns its session object: it lives while the exchange does, also for apps
    // that complete it later, and ends with it (the engine clears the request's attributes).
    exchange.request().attributes.set(Sessions::SessionRef{std::move(session)});
}

Sessions::CookieAttributes SessionApp::cookieAttributes(const Http::Exchange &exchange) const
{
    Sessions::CookieAttributes attributes;
    // Bound to the app's mount, as pyslet binds it to the app root: other apps on the same
    // host never see it.
    attributes.path = Sessions::cookiePath(exchange.request().scriptName);
    attributes.secure = exchange.request().secure;
    return attributes;
}

void SessionApp::sendSessionCookie(Http::Exchange &exchange, const Session &session)
{
    if (exchange.responseStarted()) {
        qCWarning(lcSessionApp).noquote()
            << u"[app:%1] session cookie not sent: the response had already started (use the "
               u"session before answering)"_s.arg(name());
        return;
    }
    Sessions::CookieAttributes attributes = cookieAttributes(exchange);
    QByteArray value;
    if (session.isDestroyed()) {
        attributes.maxAge = 0;
        value = Sessions::setCookieValue(m_settings.cookieName, "", attributes);
    } else {
        const QByteArray signedId = signer().sign(session.id());
        if (signedId.isEmpty()) {
            // Only reachable if the cipher is gone, which the store never allows once open.
            qCWarning(lcSessionApp).noquote()
                << u"[app:%1] session cookie not sent: the session cipher can't sign"_s.arg(name());
            return;
        }
        value = Sessions::setCookieValue(m_settings.cookieName, signedId, attributes);
    }
    Http::Response &response = exchange.response();
    replaceSetCookie(response, m_settings.cookieName, value);
    // A shared cache must never hand one user's cookie to another.
    if (response.header("Cache-Control").isNull())
        response.setHeader("Cache-Control", "private");
}

Pipeline::Outcome SessionApp::checkToken(Http::Exchange &exchange)
{
    Http::Request &request = exchange.request();
    Session *session = Sessions::sessionOf(request);
    const QByteArray expected = session->csrfToken();
    const QByteArrayView header = request.header(Sessions::Csrf::Header);
    if (!header.isNull()) {
        if (!Sessions::Csrf::tokenMatches(expected, header)) {
            rejectCsrf(exchange, u"wrong token in X-CSRF-Token"_s);
            return Pipeline::Outcome::Answered;
        }
        return Pipeline::Outcome::Pass;
    }
    if (!Sessions::Csrf::isUrlEncodedForm(request.header("Content-Type"))) {
        rejectCsrf(exchange, u"no token"_s);
        return Pipeline::Outcome::Answered;
    }
    if (request.head.contentLength > Sessions::Csrf::MaxFormBytes) {
        Http::respondWithError(exchange, 413);
        return Pipeline::Outcome::Answered;
    }
    // Read the (bounded) form, find the field, and keep the body for the next app.
    struct State
    {
        QByteArray body;
        bool done = false;
    };
    auto state = std::make_shared<State>();
    Http::Exchange *ex = &exchange;
    exchange.readBody(
        [state, ex](QByteArrayView chunk) {
            if (state->done)
                return;
            if (state->body.size() + chunk.size() > Sessions::Csrf::MaxFormBytes) {
                state->done = true;
                Http::respondWithError(*ex, 413);
                return;
            }
            state->body.append(chunk);
        },
        [this, state, ex, session] {
            if (state->done)
                return;
            state->done = true;
            const QByteArray token =
                Sessions::Csrf::formField(state->body, Sessions::Csrf::FormField);
            if (!Sessions::Csrf::tokenMatches(session->csrfToken(), token)) {
                rejectCsrf(*ex, token.isNull() ? u"no token"_s : u"wrong token in form"_s);
                return;
            }
            Http::Request &r = ex->request();
            r.bufferedBody = std::move(state->body);
            r.bodyBuffered = true;
            ex->passToNext();
        });
    return Pipeline::Outcome::Answered;
}

void SessionApp::rejectCsrf(Http::Exchange &exchange, const QString &reason)
{
    const Http::Request &request = exchange.request();
    Log::logCef(u"CSRF failure"_s, 5, &request, Http::userOf(request), u"CSRFFail"_s,
                {{u"reason"_s, reason}});
    qCInfo(lcSessionApp).noquote() << u"[app:%1] CSRF failure (%2) for %3 %4 (txn %5)"_s.arg(
        name(), reason, QString::fromLatin1(request.method()),
        QString::fromLatin1(request.head.path), QString::fromLatin1(request.txnId));
    Http::respondWithError(exchange, 403);
}

void SessionApp::redirectToCookieTest(Http::Exchange &exchange)
{
    const Http::Request &request = exchange.request();
    QByteArray back = request.head.path.toByteArray();
    if (!request.head.query.isEmpty())
        back += '?' + request.head.query.toByteArray();
    QByteArray location =
        request.scriptName + "/ctest?return=" + QUrl::toPercentEncoding(QString::fromLatin1(back));
    Sessions::CookieAttributes attributes = cookieAttributes(exchange);
    attributes.maxAge = Sessions::TestCookieMaxAge;
    exchange.response().addHeader(
        "Set-Cookie", Sessions::setCookieValue(Sessions::TestCookieName, "1", attributes));
    exchange.response().setHeader("Location", location);
    respondText(exchange, 303, "303 See Other\n" + location + '\n');
}

void SessionApp::handleCookieTest(Http::Exchange &exchange)
{
    const Http::Request &request = exchange.request();
    if (request.method() != "GET" && request.method() != "HEAD") {
        exchange.response().setHeader("Allow", "GET, HEAD");
        Http::respondWithError(exchange, 405);
        return;
    }
    QByteArray back = Sessions::Csrf::formField(request.query(), "return");
    if (back.isNull())
        back = mountRoot(request);
    const QByteArray location = Sessions::safeReturnPath(back, request.scriptName);
    if (location.isNull()) {
        // pyslet's check_redirect: the cookie test only ever sends the browser back into this
        // app; anything else would make it an open redirector for phishing links.
        Log::logCef(u"Unsafe redirect target"_s, 3, &request, Http::userOf(request),
                    u"OpenRedirect"_s,
                    {{u"reason"_s, u"cookie test return URL outside the app"_s}});
        respondText(exchange, 400, "400 Bad Request\nreturn must be a path of this app\n");
        return;
    }
    if (!Sessions::requestCookies(request.head, Sessions::TestCookieName).isEmpty()) {
        exchange.response().setHeader("Location", location);
        respondText(exchange, 303, "303 See Other\n" + location + '\n');
        return;
    }
    // pyslet's cfail_page: cookies did not come back.
    const QString link = QString::fromLatin1(location).toHtmlEscaped();
    const QString page =
        u"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Cookies are blocked"
        u"</title></head>\n<body><h1>Cookies are blocked</h1>\n<p>This application keeps your "
        u"session in a cookie, and your browser did not send back the test cookie it was "
        u"given. Allow cookies for this site (they are used only to recognise your session, "
        u"and no tracking data is kept), then <a href=\"%1\">try again</a>.</p>\n"
        u"</body></html>\n"_s.arg(link);
    exchange.response().setHeader("Cache-Control", "no-store");
    exchange.respond(200, "text/html; charset=utf-8", page.toUtf8());
}

void registerSessionApp(Pipeline::AppRegistry &registry)
{
    registry.add(u"berth.session"_s, [](const Pipeline::AppSetup &setup) {
        Sessions::SessionSettings settings =
            Sessions::SessionSettings::fromConfig(setup.config, setup.section);
        auto manager = std::make_unique<Sessions::SessionManager>(
            // The cipher opens with the store, on the first request, in an offload thread: its
            // key table is read on the store's own connection.
            std::make_unique<Sessions::SqlSessionStore>(
                Sessions::SqlSessionBackend::shared(settings.store, settings.keynum,
                                                    settings.secret),
                setup.server ? setup.server->offload : nullptr),
            settings.timeoutMs, settings.purgeIntervalMs);
        auto app = std::make_unique<SessionApp>(std::move(settings), std::move(manager));
        app->setName(setup.name);
        return std::unique_ptr<Pipeline::App>(std::move(app));
    });
}

} // namespace Berth::Apps
