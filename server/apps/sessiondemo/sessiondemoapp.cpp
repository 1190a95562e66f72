#include "sessiondemoapp.h"

#include "http/exchange.h"
#include "pipeline/pipeline.h"
#include "sessions/csrf.h"
#include "sessions/session.h"
#include "sessions/sessionref.h"

#include <QDateTime>
#include <QLoggingCategory>

#include <memory>

Q_LOGGING_CATEGORY(lcSessionDemo, "berth.apps.session_demo")

namespace Berth::Apps {

using namespace Qt::StringLiterals;

namespace {

constexpr qsizetype MaxNameChars = 256;
constexpr qsizetype MaxFormBytes = 16 * 1024;

QByteArray mountRoot(const Http::Request &request)
{
    return request.scriptName.isEmpty() ? QByteArrayLiteral("/") : request.scriptName + '/';
}

// Answers once the session's changes are stored (503 if the store failed): the next request may
// land on another worker or node, which must see them. The exchange may die while the store
// works: the handle tells.
void saveThen(Http::Exchange &exchange, const std::function<void(Http::Exchange &)> &answer)
{
    const Http::ExchangeHandle handle = exchange.handle();
    const bool started = Sessions::sessionOf(exchange.request())->save([handle, answer](bool ok) {
        Http::Exchange *ex = handle.get();
        if (!ex)
            return;
        if (ok)
            answer(*ex);
        else
            Http::respondWithError(*ex, 503);
    });
    if (!started)
        Http::respondWithError(exchange, 503); // the offload queue is full
}

void redirectHome(Http::Exchange &exchange)
{
    const QByteArray home = mountRoot(exchange.request());
    exchange.response().setHeader("Location", home);
    exchange.response().setHeader("Cache-Control", "no-store");
    exchange.respond(303, "text/plain; charset=utf-8", "303 See Other\n" + home + '\n');
}

} // namespace

Pipeline::Outcome SessionDemoApp::handle(Http::Exchange &exchange)
{
    const Http::Request &request = exchange.request();
    if (!Sessions::sessionOf(request)) {
        qCWarning(lcSessionDemo).noquote()
            << u"[app:%1] no session: put berth.session before it in the route"_s.arg(name());
        Http::respondWithError(exchange, 500);
        return Pipeline::Outcome::Answered;
    }
    const QByteArray &path = request.pathInfo;
    const bool read = request.method() == "GET" || request.method() == "HEAD";
    if (path == "/" || path.isEmpty()) {
        if (!read) {
            exchange.response().setHeader("Allow", "GET, HEAD");
            Http::respondWithError(exchange, 405);
        } else {
            showPage(exchange);
        }
    } else if (path == "/setname" || path == "/logout") {
        if (request.method() != "POST") {
            exchange.response().setHeader("Allow", "POST");
            Http::respondWithError(exchange, 405);
        } else if (path == "/setname") {
            storeName(exchange);
        } else {
            logout(exchange);
        }
    } else {
        Http::respondWithError(exchange, 404);
    }
    return Pipeline::Outcome::Answered;
}

void SessionDemoApp::showPage(Http::Exchange &exchange)
{
    Sessions::Session *session = Sessions::sessionOf(exchange.request());
    const QString root = QString::fromUtf8(mountRoot(exchange.request())).toHtmlEscaped();
    // csrfToken() makes the save below store a new session, so the cookie goes out with this
    // page.
    const QString token = QString::fromLatin1(session->csrfToken()).toHtmlEscaped();
    const int visits = session->value(u"visits"_s, 0).toInt() + 1;
    session->setValue(u"visits"_s, visits);
    const QString name = session->value(u"name"_s).toString();

    QString body;
    if (name.isEmpty()) {
        body = uR"(<form method="POST" action="%1setname">
<p><label>Please enter your name: <input type="text" name="name" maxlength="256" autofocus></label>
<input type="hidden" name="csrftoken" value="%2">
<input type="submit" value="Set"></p>
</form>)"_s.arg(root, token);
    } else {
        // The name is the user's own input: escaped, it can't become markup (stored XSS).
        body = uR"(<p id="welcome">Welcome: <b>%1</b></p>
<form method="POST" action="%2setname">
<p><label>Change your name: <input type="text" name="name" maxlength="256"></label>
<input type="hidden" name="csrftoken" value="%3">
<input type="submit" value="Change"></p>
</form>
<form method="POST" action="%2logout">
<p><input type="hidden" name="csrftoken" value="%3"><input type="submit" value="Forget me"></p>
</form>)"_s.arg(name.toHtmlEscaped(), root, token);
    }
    const QString created =
        QDateTime::fromMSecsSinceEpoch(session->created()).toUTC().toString(Qt::ISODate);
    const QString page = uR"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Session Page</title></head>
<body><h1>Session Page</h1>
%1
<p><small>Visits in this session: <span id="visits">%2</span>; session started %3.</small></p>
</body></html>
)"_s.arg(body, QString::number(visits), created);

    saveThen(exchange, [page = page.toUtf8()](Http::Exchange &ex) {
        Http::Response &response = ex.response();
        // The page holds a CSRF token: no cache may keep it. No framing (clickjacking on the
        // forms), no scripts at all.
        response.setHeader("Cache-Control", "no-store");
        response.setHeader("Content-Security-Policy",
                           "default-src 'none'; form-action 'self'; frame-ancestors 'none'");
        response.setHeader("X-Content-Type-Options", "nosniff");
        ex.respond(200, "text/html; charset=utf-8", page);
    });
}

void SessionDemoApp::storeName(Http::Exchange &exchange)
{
    auto body = std::make_shared<QByteArray>();
    auto tooLarge = std::make_shared<bool>(false);
    Http::Exchange *ex = &exchange;
    // Through berth.session the form is already buffered (it was read for its csrftoken);
    // with the token in a header, the body streams in here.
    exchange.readBody(
        [body, tooLarge, ex](QByteArrayView chunk) {
            if (*tooLarge)
                return;
            if (body->size() + chunk.size() > MaxFormBytes) {
                *tooLarge = true;
                Http::respondWithError(*ex, 413);
                return;
            }
            body->append(chunk);
        },
        [body, tooLarge, ex] {
            if (*tooLarge)
                return;
            Sessions::Session *session = Sessions::sessionOf(ex->request());
            const QString name = QString::fromUtf8(Sessions::Csrf::formField(*body, "name"))
                                     .simplified()
                                     .left(MaxNameChars);
            if (!name.isEmpty()) {
                // pyslet establishes the session when it gains something worth protecting: a
                // new id, so one fixed before this moment is useless.
                if (!session->contains(u"name"_s))
                    session->establish();
                session->setValue(u"name"_s, name);
            }
            saveThen(*ex, redirectHome);
        });
}

void SessionDemoApp::logout(Http::Exchange &exchange)
{
    Sessions::sessionOf(exchange.request())->destroy();
    saveThen(exchange, redirectHome);
}

void registerSessionDemoApp(Pipeline::AppRegistry &registry)
{
    registry.add(u"berth.session_demo"_s, [](const Pipeline::AppSetup &setup) {
        auto app = std::make_unique<SessionDemoApp>();
        app->setName(setup.name);
        return std::unique_ptr<Pipeline::App>(std::move(app));
    });
}

} // namespace Berth::Apps
