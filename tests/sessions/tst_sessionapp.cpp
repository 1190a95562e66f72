// berth.session (the middleware) and berth.session_demo through FakeExchange: cookies, CSRF in
// header and form, tampering, the cookie test and its open-redirect check, the demo's flow.

#include "apps/session/sessionapp.h"
#include "apps/sessiondemo/sessiondemoapp.h"
#include "fakeexchange.h"
#include "pipeline/pipeline.h"
#include "runtime/offloadpool.h"
#include "sessions/session.h"
#include "sessions/sessionmanager.h"
#include "sessions/sessionref.h"
#include "sessionsync.h"

#include <QSemaphore>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth;
using namespace Berth::Sessions;
using Berth::Tests::FakeExchange;
using namespace Qt::StringLiterals;

namespace {

// The last app of the test pipeline: answers 200 with what it saw.
class Recorder final : public Pipeline::App
{
public:
    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        ++calls;
        Session *session = Sessions::sessionOf(exchange.request());
        body.clear();
        exchange.readBody([this](QByteArrayView chunk) { body += chunk; },
                          [this, &exchange, session] {
                              auto answer = [&exchange, session](bool ok) {
                                  if (!ok)
                                      exchange.respond(503, "text/plain", "store failed");
                                  else
                                      exchange.respond(200, "text/plain",
                                                       session ? session->id()
                                                               : QByteArray("none"));
                              };
                              if (!session || !touch)
                                  return answer(true);
                              session->setValue(u"seen"_s, true);
                              if (!session->save(answer))
                                  answer(false);
                          });
        return Pipeline::Outcome::Answered;
    }
    int calls = 0;
    bool touch = true;
    QByteArray body;
};

QByteArray sidFrom(const FakeExchange &exchange)
{
    for (const auto &[name, value] : exchange.headers()) {
        if (name.compare("Set-Cookie", Qt::CaseInsensitive) == 0 && value.startsWith("sid="))
            return value.mid(4, value.indexOf(';') - 4);
    }
    return QByteArray();
}

} // namespace

class tst_SessionApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void getWithoutCookieCreatesSessionLazily();
    void cookieFlags();
    void cookieBringsSessionBack();
    void tamperedCookieIsNewSession();
    void csrf_data();
    void csrf();
    void formTooLarge();
    void cookieTestRedirects();
    void cookieTestReturn_data();
    void cookieTestReturn();
    void demoFlow();
    void cipherRefusingKeyIs503();
    void fullOffloadQueueIs503();
    void eventLoopServesWhileTheStoreWaits();

private:
    void build(bool cookieTest = false, bool demo = false,
               const QByteArray &secret = "test secret, long enough to be one", int keynum = 0);
    std::unique_ptr<FakeExchange> run(const QByteArray &method, const QByteArray &target,
                                      FakeExchange::Headers headers = {},
                                      const QByteArray &body = {},
                                      const QByteArray &scriptName = {});
    QByteArray newSession(QByteArray *token = nullptr); // signed cookie value of a stored session

    std::unique_ptr<QTemporaryDir> m_dir;
    // One offload thread, FIFO: background writes land before the next request's queries.
    std::unique_ptr<Core::OffloadPool> m_pool;
    std::unique_ptr<Apps::SessionApp> m_app;
    std::unique_ptr<Pipeline::App> m_last;
    Recorder *m_recorder = nullptr;
    std::unique_ptr<Pipeline::Pipeline> m_pipeline;
};

void tst_SessionApp::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    m_pool = std::make_unique<Core::OffloadPool>(Core::OffloadSettings{1, 8});
    build();
}

void tst_SessionApp::cleanup()
{
    m_pipeline.reset();
    m_app.reset();
    m_last.reset();
    m_pool.reset();
    m_dir.reset();
}

void tst_SessionApp::build(bool cookieTest, bool demo, const QByteArray &secret, int keynum)
{
    m_pipeline.reset();
    m_app.reset();
    SessionSettings settings;
    settings.store.path = m_dir->filePath(u"s.db"_s);
    settings.secret = secret;
    settings.keynum = keynum;
    settings.cookieTest = cookieTest;
    auto manager = std::make_unique<SessionManager>(
        std::make_unique<SqlSessionStore>(settings.store, settings.keynum, settings.secret,
                                          Crypto::AppCipher::Clock(), m_pool.get()),
        settings.timeoutMs);
    m_app = std::make_unique<Apps::SessionApp>(settings, std::move(manager));
    m_app->setName(u"s"_s);
    if (demo) {
        m_last = std::make_unique<Apps::SessionDemoApp>();
        m_recorder = nullptr;
    } else {
        auto recorder = std::make_unique<Recorder>();
        m_recorder = recorder.get();
        m_last = std::move(recorder);
    }
    m_pipeline = std::make_unique<Pipeline::Pipeline>(
        std::vector<Pipeline::App *>{m_app.get(), m_last.get()});
}

std::unique_ptr<FakeExchange> tst_SessionApp::run(const QByteArray &method,
                                                  const QByteArray &target,
                                                  FakeExchange::Headers headers,
                                                  const QByteArray &body,
                                                  const QByteArray &scriptName)
{
    QList<QByteArray> chunks;
    if (!body.isEmpty())
        chunks.append(body);
    auto exchange = std::make_unique<FakeExchange>(method, target, headers, chunks);
    if (!scriptName.isEmpty()) {
        const QByteArray path = exchange->request().path;
        exchange->setPaths(scriptName, path.mid(scriptName.size()));
    }
    m_pipeline->run(*exchange);
    // The store answers from the offload pool through the event loop.
    if (!QTest::qWaitFor([&] { return exchange->finished() || exchange->aborted(); }, 10000))
        qWarning("no response within 10 s");
    return exchange;
}

QByteArray tst_SessionApp::newSession(QByteArray *token)
{
    std::unique_ptr<Session> session = m_app->manager().create();
    const QByteArray csrf = session->csrfToken(); // the next save stores it
    if (!Tests::saveSync(*session))
        qWarning("can't store a session");
    if (token)
        *token = csrf;
    return m_app->signer().sign(session->id());
}

void tst_SessionApp::getWithoutCookieCreatesSessionLazily()
{
    m_recorder->touch = false;
    auto untouched = run("GET", "/");
    QCOMPARE(untouched->status(), 200);
    QVERIFY(untouched->body() != "none");
    QVERIFY(sidFrom(*untouched).isNull()); // never used: no row, no cookie
    m_recorder->touch = true;
    auto used = run("GET", "/");
    QCOMPARE(used->status(), 200);
    const QByteArray cookie = sidFrom(*used);
    QVERIFY(!cookie.isEmpty());
    QCOMPARE(m_app->signer().verify(cookie), used->body());
}

void tst_SessionApp::cookieFlags()
{
    auto plain = run("GET", "/demo/x", {}, {}, "/demo");
    QCOMPARE(plain->header("Set-Cookie").mid(plain->header("Set-Cookie").indexOf(';')),
             QByteArray("; Path=/demo; HttpOnly; SameSite=Lax"));
    QCOMPARE(plain->header("Cache-Control"), QByteArray("private"));
}

void tst_SessionApp::cookieBringsSessionBack()
{
    auto first = run("GET", "/");
    const QByteArray cookie = sidFrom(*first);
    auto second = run("GET", "/", {{"Cookie", "other=1; sid=" + cookie}});
    QCOMPARE(second->body(), first->body());
    QVERIFY(sidFrom(*second).isNull()); // known cookie: not sent again
}

void tst_SessionApp::tamperedCookieIsNewSession()
{
    auto first = run("GET", "/");
    QByteArray cookie = sidFrom(*first);
    cookie[2] = cookie[2] == 'A' ? 'B' : 'A';
    auto second = run("GET", "/", {{"Cookie", "sid=" + cookie}});
    QCOMPARE(second->status(), 200);
    QVERIFY(second->body() != first->body());
    QVERIFY(!sidFrom(*second).isEmpty());
    // A tampered cookie next to a good one: the good one wins.
    auto both = run("GET", "/", {{"Cookie", "sid=" + cookie + "; sid=" + sidFrom(*first)}});
    QCOMPARE(both->body(), first->body());
}

void tst_SessionApp::csrf_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("how"); // none, header, form, other-session, no-session
    QTest::addColumn<int>("status");
    QTest::newRow("GET needs nothing") << QByteArray("GET") << u"none"_s << 200;
    QTest::newRow("HEAD needs nothing") << QByteArray("HEAD") << u"none"_s << 200;
    for (const char *m : {"POST", "PUT", "PATCH", "DELETE"}) {
        const QByteArray method(m);
        QTest::addRow("%s without token", m) << method << u"none"_s << 403;
        QTest::addRow("%s right header", m) << method << u"header"_s << 200;
        QTest::addRow("%s wrong header", m) << method << u"wrong-header"_s << 403;
        QTest::addRow("%s other session's token", m) << method << u"other-session"_s << 403;
        QTest::addRow("%s without session", m) << method << u"no-session"_s << 403;
    }
    QTest::newRow("POST right form") << QByteArray("POST") << u"form"_s << 200;
    QTest::newRow("POST wrong form") << QByteArray("POST") << u"wrong-form"_s << 403;
    QTest::newRow("POST form without field") << QByteArray("POST") << u"form-no-field"_s << 403;
    QTest::newRow("POST multipart") << QByteArray("POST") << u"multipart"_s << 403;
    QTest::newRow("POST wrong header right form") << QByteArray("POST") << u"header-wins"_s << 403;
}

void tst_SessionApp::csrf()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, how);
    QFETCH(int, status);
    QByteArray token;
    const QByteArray cookie = newSession(&token);
    QByteArray otherToken;
    newSession(&otherToken);
    FakeExchange::Headers headers;
    if (how != u"no-session"_s)
        headers.append({"Cookie", "sid=" + cookie});
    QByteArray body = "name=x";
    const QByteArray form = "application/x-www-form-urlencoded";
    if (how == u"header"_s || how == u"no-session"_s)
        headers.append({"X-CSRF-Token", token});
    else if (how == u"wrong-header"_s)
        headers.append({"X-CSRF-Token", token.chopped(1) + 'x'});
    else if (how == u"other-session"_s)
        headers.append({"X-CSRF-Token", otherToken});
    else if (how == u"form"_s)
        headers.append({"Content-Type", form}), body += "&csrftoken=" + token;
    else if (how == u"wrong-form"_s)
        headers.append({"Content-Type", form}), body += "&csrftoken=" + otherToken;
    else if (how == u"form-no-field"_s)
        headers.append({"Content-Type", form});
    else if (how == u"multipart"_s)
        headers.append({"Content-Type", QByteArray("multipart/form-data; boundary=b")}),
            body = "--b\r\nContent-Disposition: form-data; name=\"csrftoken\"\r\n\r\n" + token +
                   "\r\n--b--\r\n";
    else if (how == u"header-wins"_s)
        headers.append({"Content-Type", form}), headers.append({"X-CSRF-Token", QByteArray("bad")}),
            body += "&csrftoken=" + token;
    auto exchange = run(method, "/", headers, body);
    QCOMPARE(exchange->status(), status);
    if (status == 200 && method != "GET" && method != "HEAD") {
        QCOMPARE(m_recorder->calls, 1);
        // The next app still gets the whole body, read or not by the middleware.
        QCOMPARE(m_recorder->body, body);
    }
    if (status == 403)
        QCOMPARE(m_recorder->calls, 0);
}

void tst_SessionApp::formTooLarge()
{
    QByteArray token;
    const QByteArray cookie = newSession(&token);
    const QByteArray body = "csrftoken=" + token + "&pad=" + QByteArray(70000, 'a');
    auto exchange = run(
        "POST", "/",
        {{"Cookie", "sid=" + cookie}, {"Content-Type", "application/x-www-form-urlencoded"}}, body);
    QCOMPARE(exchange->status(), 413);
    QCOMPARE(m_recorder->calls, 0);
}

void tst_SessionApp::cookieTestRedirects()
{
    build(true);
    auto first = run("GET", "/app/page?x=1", {}, {}, "/app");
    QCOMPARE(first->status(), 303);
    QCOMPARE(first->header("Location"), QByteArray("/app/ctest?return=%2Fapp%2Fpage%3Fx%3D1"));
    QVERIFY(first->header("Set-Cookie").startsWith("ctest=1; Path=/app; Max-Age=8640000;"));
    QCOMPARE(m_recorder->calls, 0);

    auto back =
        run("GET", "/app/ctest?return=%2Fapp%2Fpage%3Fx%3D1", {{"Cookie", "ctest=1"}}, {}, "/app");
    QCOMPARE(back->status(), 303);
    QCOMPARE(back->header("Location"), QByteArray("/app/page?x=1"));

    auto blocked = run("GET", "/app/ctest?return=%2Fapp%2Fpage", {}, {}, "/app");
    QCOMPARE(blocked->status(), 200);
    QVERIFY(blocked->body().contains("Cookies are blocked"));
    QVERIFY(blocked->body().contains("href=\"/app/page\""));

    // With the test cookie present a session is made as usual.
    auto later = run("GET", "/app/page", {{"Cookie", "ctest=1"}}, {}, "/app");
    QCOMPARE(later->status(), 200);
    QCOMPARE(m_recorder->calls, 1);
}

void tst_SessionApp::cookieTestReturn_data()
{
    QTest::addColumn<QByteArray>("query");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("location");
    QTest::newRow("local") << QByteArray("return=/a") << 303 << QByteArray("/a");
    QTest::newRow("none") << QByteArray("") << 303 << QByteArray("/");
    QTest::newRow("//evil") << QByteArray("return=//evil.com") << 400 << QByteArray();
    QTest::newRow("/\\evil") << QByteArray("return=/\\evil.com") << 400 << QByteArray();
    QTest::newRow("http") << QByteArray("return=http://evil.com") << 400 << QByteArray();
    QTest::newRow("javascript") << QByteArray("return=javascript:alert(1)") << 400 << QByteArray();
    QTest::newRow("encoded //") << QByteArray("return=%2F%2Fevil.com") << 400 << QByteArray();
    QTest::newRow("double encoded //")
        << QByteArray("return=%252F%252Fevil.com") << 400 << QByteArray();
    QTest::newRow("encoded backslash")
        << QByteArray("return=%2F%5Cevil.com") << 400 << QByteArray();
    QTest::newRow("encoded CRLF") << QByteArray("return=/%0D%0ASet-Cookie:x") << 400
                                  << QByteArray();
}

void tst_SessionApp::cookieTestReturn()
{
    QFETCH(QByteArray, query);
    QFETCH(int, status);
    QFETCH(QByteArray, location);
    build(true);
    auto exchange = run("GET", "/ctest?" + query, {{"Cookie", "ctest=1"}});
    QCOMPARE(exchange->status(), status);
    QCOMPARE(exchange->header("Location"), location);
}

void tst_SessionApp::demoFlow()
{
    build(false, true);
    auto page = run("GET", "/demo/", {}, {}, "/demo");
    QCOMPARE(page->status(), 200);
    QVERIFY(page->body().contains("Please enter your name"));
    const QByteArray cookie = sidFrom(*page);
    QVERIFY(!cookie.isEmpty());
    const QByteArray body = page->body();
    const qsizetype at = body.indexOf("name=\"csrftoken\" value=\"") + 24;
    const QByteArray token = body.mid(at, body.indexOf('"', at) - at);
    QCOMPARE(token.size(), 43);

    auto set =
        run("POST", "/demo/setname",
            {{"Cookie", "sid=" + cookie}, {"Content-Type", "application/x-www-form-urlencoded"}},
            "name=%3Cscript%3EAda&csrftoken=" + token, "/demo");
    QCOMPARE(set->status(), 303);
    QCOMPARE(set->header("Location"), QByteArray("/demo/"));
    const QByteArray rotated = sidFrom(*set);
    QVERIFY(!rotated.isEmpty());
    QVERIFY(rotated != cookie); // established: a new id

    auto old = run("GET", "/demo/", {{"Cookie", "sid=" + cookie}}, {}, "/demo");
    QVERIFY(old->body().contains("Please enter your name"));
    auto greeted = run("GET", "/demo/", {{"Cookie", "sid=" + rotated}}, {}, "/demo");
    QVERIFY(greeted->body().contains("Welcome: <b>&lt;script&gt;Ada</b>"));
    QCOMPARE(greeted->header("Cache-Control"), QByteArray("no-store"));

    auto forged =
        run("POST", "/demo/setname",
            {{"Cookie", "sid=" + rotated}, {"Content-Type", "application/x-www-form-urlencoded"}},
            "name=Mallory&csrftoken=" + token, "/demo"); // the pre-login token
    QCOMPARE(forged->status(), 403);
}

void tst_SessionApp::cipherRefusingKeyIs503()
{
    const QByteArray cookie = newSession();
    // Another secret for the key on record, then a keynum edited without a key change: the
    // store is unavailable (503, never a session under a key nobody else shares), and other
    // requests are not made to wait on it.
    build(false, false, "a different secret, long enough too");
    QCOMPARE(run("GET", "/", {{"Cookie", "sid=" + cookie}})->status(), 503);
    QCOMPARE(m_recorder->calls, 0);
    build(false, false, "a different secret, long enough too", 1);
    QCOMPARE(run("GET", "/")->status(), 503);
    // The right key again: the same cookie finds its session.
    build();
    auto back = run("GET", "/", {{"Cookie", "sid=" + cookie}});
    QCOMPARE(back->status(), 200);
    QVERIFY(sidFrom(*back).isNull());
}

void tst_SessionApp::fullOffloadQueueIs503()
{
    const QByteArray cookie = newSession();
    // The one offload thread is held and the queue (8) filled, as by a stalled database.
    QSemaphore gate;
    QVERIFY(m_pool->submit([&gate] { gate.acquire(); }, [] {}));
    QTRY_COMPARE(m_pool->running(), 1);
    for (int i = 0; i < 8; ++i)
        QVERIFY(m_pool->submit([&gate] { gate.acquire(); }, [] {}));
    QCOMPARE(m_pool->queued(), 8);
    auto refused = std::make_unique<FakeExchange>(
        "GET", "/", FakeExchange::Headers{{"Cookie", "sid=" + cookie}});
    m_pipeline->run(*refused);
    QCOMPARE(refused->status(), 503); // at once: nothing more can wait
    QCOMPARE(m_recorder->calls, 0);
    gate.release(9);
    QTRY_COMPARE(m_pool->queued(), 0);
    QCOMPARE(run("GET", "/", {{"Cookie", "sid=" + cookie}})->status(), 200);
}

void tst_SessionApp::eventLoopServesWhileTheStoreWaits()
{
    const QByteArray cookie = newSession();
    QSemaphore gate;
    QVERIFY(m_pool->submit([&gate] { gate.acquire(); }, [] {}));
    QTRY_COMPARE(m_pool->running(), 1);
    // The request's session load waits behind the held thread; the pipeline returned at once.
    auto waiting = std::make_unique<FakeExchange>(
        "GET", "/", FakeExchange::Headers{{"Cookie", "sid=" + cookie}});
    m_pipeline->run(*waiting);
    QVERIFY(!waiting->started());
    // The client gives up meanwhile: when the load comes back, it is dropped.
    auto gone = std::make_unique<FakeExchange>("GET", "/",
                                               FakeExchange::Headers{{"Cookie", "sid=" + cookie}});
    m_pipeline->run(*gone);
    gone->simulateClientAbort();
    gate.release();
    QTRY_VERIFY(waiting->finished());
    QCOMPARE(waiting->status(), 200);
    QVERIFY(Tests::waitIdle(*m_pool));
    QCoreApplication::processEvents();
    QVERIFY(!gone->started());
    QCOMPARE(m_recorder->calls, 1);
}

QTEST_GUILESS_MAIN(tst_SessionApp)
#include "tst_sessionapp.moc"
