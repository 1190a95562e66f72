// Router: mount points, virtual hosts, pipelines, and the diagnostics of bad route lines.
#include "apps/builtinapps.h"
#include "fakeexchange.h"
#include "http/identity.h"
#include "pipeline/appregistry.h"
#include "pipeline/router.h"

#include <config/config.h>

#include <QTemporaryDir>
#include <QtTest>

#include <stdexcept>

using namespace Berth;

namespace {

// An app that answers with its own name, or passes when configured to.
class NamedApp final : public Pipeline::App
{
public:
    explicit NamedApp(bool pass, bool fail = false)
        : m_pass(pass)
        , m_fail(fail)
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        if (m_fail)
            throw std::runtime_error("boom");
        if (m_pass) {
            exchange.request().attributes.getOrSet<Http::Identity>().user = name();
            return Pipeline::Outcome::Pass;
        }
        QByteArray body = name().toUtf8() + ' ' + exchange.request().scriptName + '|' +
                          exchange.request().pathInfo + '|' +
                          Http::userOf(exchange.request()).toUtf8();
        exchange.respond(200, "text/plain", body);
        return Pipeline::Outcome::Answered;
    }

private:
    bool m_pass;
    bool m_fail;
};

Pipeline::AppRegistry testRegistry()
{
    Pipeline::AppRegistry registry;
    registry.add(QStringLiteral("test.answer"), [](const Pipeline::AppSetup &) {
        return std::unique_ptr<Pipeline::App>(std::make_unique<NamedApp>(false));
    });
    registry.add(QStringLiteral("test.pass"), [](const Pipeline::AppSetup &) {
        return std::unique_ptr<Pipeline::App>(std::make_unique<NamedApp>(true));
    });
    registry.add(QStringLiteral("test.fail"), [](const Pipeline::AppSetup &) {
        return std::unique_ptr<Pipeline::App>(std::make_unique<NamedApp>(false, true));
    });
    return registry;
}

const char *AppSections = "[app:a]\ncall = test.answer\n[app:b]\ncall = test.answer\n"
                          "[app:c]\ncall = test.answer\n[app:auth]\ncall = test.pass\n"
                          "[app:bad]\ncall = test.fail\n[app:limited]\ncall = test.answer\n"
                          "max_body_bytes = 1K\n";

// Routes `host path` through the router and returns the body the matched pipeline answered,
// or "404" when nothing matched.
QByteArray dispatch(const Pipeline::Router &router, const QByteArray &host, const QByteArray &path)
{
    const Pipeline::Router::Match match = router.route(host, path);
    if (!match.pipeline)
        return "404";
    Tests::FakeExchange exchange("GET", path);
    exchange.request().scriptName = match.scriptName;
    exchange.request().pathInfo = match.pathInfo;
    match.pipeline->run(exchange);
    return QByteArray::number(exchange.status()) + ' ' + exchange.body();
}

} // namespace

class TestRouter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void routes_data();
    void routes();
    void pipelinePassesAndEndsIn404();
    void appExceptionBecomes500WithTxn();
    void routeBodyLimit();
    void resolveIntoMatchesResolve();
    void badLines_data();
    void badLines();
    void directoryRouteRelativeToConfigFile();
};

void TestRouter::routes_data()
{
    QTest::addColumn<QByteArray>("host");
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("root") << QByteArray() << QByteArray("/") << QByteArray("200 a |/|");
    QTest::newRow("root-deep") << QByteArray() << QByteArray("/x/y") << QByteArray("200 a |/x/y|");
    QTest::newRow("mount-exact") << QByteArray() << QByteArray("/echo")
                                 << QByteArray("200 b /echo||");
    QTest::newRow("mount-below") << QByteArray() << QByteArray("/echo/more")
                                 << QByteArray("200 b /echo|/more|");
    QTest::newRow("segment-boundary")
        << QByteArray() << QByteArray("/echoes") << QByteArray("200 a |/echoes|");
    QTest::newRow("longest-prefix")
        << QByteArray() << QByteArray("/echo/deep/x") << QByteArray("200 c /echo/deep|/x|");
    QTest::newRow("trailing-slash-mount")
        << QByteArray() << QByteArray("/slash/x") << QByteArray("200 c /slash|/x|");
    QTest::newRow("unknown-host-default")
        << QByteArray("other.net") << QByteArray("/echo") << QByteArray("200 b /echo||");
    QTest::newRow("exact-host") << QByteArray("www.example.com") << QByteArray("/")
                                << QByteArray("200 b |/|");
    QTest::newRow("exact-host-2") << QByteArray("example.com") << QByteArray("/")
                                  << QByteArray("200 b |/|");
    QTest::newRow("exact-host-no-fallback")
        << QByteArray("example.com") << QByteArray("/echo") << QByteArray("200 b |/echo|");
    QTest::newRow("domain-itself")
        << QByteArray("example.org") << QByteArray("/") << QByteArray("200 c |/|");
    QTest::newRow("domain-sub") << QByteArray("a.b.example.org") << QByteArray("/")
                                << QByteArray("200 c |/|");
    QTest::newRow("subdomains-only-not-domain")
        << QByteArray("example.net") << QByteArray("/") << QByteArray("200 a |/|");
    QTest::newRow("subdomains-only-sub")
        << QByteArray("api.example.net") << QByteArray("/p") << QByteArray("404");
    QTest::newRow("subdomains-only-mounted")
        << QByteArray("api.example.net") << QByteArray("/api/x") << QByteArray("200 a /api|/x|");
    QTest::newRow("suffix-not-label")
        << QByteArray("badexample.org") << QByteArray("/") << QByteArray("200 a |/|");
    QTest::newRow("pipeline") << QByteArray() << QByteArray("/private/x")
                              << QByteArray("200 c /private|/x|auth");
}

void TestRouter::routes()
{
    QFETCH(QByteArray, host);
    QFETCH(QByteArray, path);
    QFETCH(QByteArray, expected);

    const QString text =
        QString::fromLatin1(AppSections) +
        QStringLiteral("[routes:line]\n"
                       "/ = a\n/echo = b\n/echo/deep = c\n/slash/ = c\n/private = auth c\n"
                       "@ www.example.com example.com\n/ = b\n"
                       "@ .example.org\n/ = c\n"
                       "@ *.example.net\n/api = a\n");
    const Config::Config config = Config::Config::fromText(text, QStringLiteral("t.conf"));
    const Pipeline::AppRegistry registry = testRegistry();
    const auto router = Pipeline::Router::build(config, registry, nullptr);
    QVERIFY2(!Config::hasErrors(config.diagnostics()),
             qPrintable(config.diagnostics().value(0).toString()));
    QCOMPARE(dispatch(*router, host, path), expected);
}

void TestRouter::pipelinePassesAndEndsIn404()
{
    const QString text =
        QString::fromLatin1(AppSections) + QStringLiteral("[routes:line]\n/only = auth auth\n");
    const Config::Config config = Config::Config::fromText(text, QStringLiteral("t.conf"));
    const Pipeline::AppRegistry registry = testRegistry();
    const auto router = Pipeline::Router::build(config, registry, nullptr);
    QCOMPARE(dispatch(*router, {}, "/only"), QByteArray("404 404 Not Found\n"));
    QCOMPARE(dispatch(*router, {}, "/elsewhere"), QByteArray("404"));
}

void TestRouter::appExceptionBecomes500WithTxn()
{
    const QString text =
        QString::fromLatin1(AppSections) + QStringLiteral("[routes:line]\n/ = bad\n");
    const Config::Config config = Config::Config::fromText(text, QStringLiteral("t.conf"));
    const Pipeline::AppRegistry registry = testRegistry();
    const auto router = Pipeline::Router::build(config, registry, nullptr);
    const auto match = router->route({}, "/");
    QVERIFY(match.pipeline);
    Tests::FakeExchange exchange("GET", "/");
    exchange.request().txnId = "abc-1";
    QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("txn abc-1.*boom")));
    match.pipeline->run(exchange);
    QCOMPARE(exchange.status(), 500);
    QVERIFY(exchange.body().contains("abc-1"));
    QVERIFY(!exchange.body().contains("boom")); // internals never reach the client
}

void TestRouter::routeBodyLimit()
{
    const QString text =
        QString::fromLatin1(AppSections) +
        QStringLiteral("[routes:line]\n/up = limited\n/free = a\n/both = auth limited\n");
    const Config::Config config = Config::Config::fromText(text, QStringLiteral("t.conf"));
    const Pipeline::AppRegistry registry = testRegistry();
    const auto router = Pipeline::Router::build(config, registry, nullptr);
    QCOMPARE(router->route({}, "/up").pipeline->maxBodyBytes(), 1024);
    QCOMPARE(router->route({}, "/both").pipeline->maxBodyBytes(), 1024);
    QCOMPARE(router->route({}, "/free").pipeline->maxBodyBytes(), -1);
}

void TestRouter::resolveIntoMatchesResolve()
{
    // The engine's call writes into the request's buffers, reused from request to request (a
    // keep-alive connection): whatever they held before, the result is resolve()'s, null and
    // empty alike.
    const QString text = QString::fromLatin1(AppSections) +
                         QStringLiteral("[routes:line]\n/echo = b\n/echo/deep = c\n/x = a\n"
                                        "@ www.example.com\n/ = b\n");
    const Config::Config config = Config::Config::fromText(text, QStringLiteral("t.conf"));
    const Pipeline::AppRegistry registry = testRegistry();
    const auto router = Pipeline::Router::build(config, registry, nullptr);
    const QList<QPair<QByteArray, QByteArray>> requests = {
        {"", "/echo"},
        {"", "/echo"},
        {"", "/echo/deep/more"},
        {"", "/echo/deep/more"},
        {"", "/echo/x"},
        {"", "/echoes"},
        {"", "/x/"},
        {"", "/x"},
        {"www.example.com", "/echo/a"},
        {"www.example.com", "/"},
        {"other", "/nothing"},
        {"", "/echo/a/b/c/d/e/f/g"},
        {"", "/echo/a"},
    };
    QByteArray scriptName;
    QByteArray pathInfo;
    QByteArray kept; // an app's copy of the last path info must not change under it
    for (const auto &[host, path] : requests) {
        const Http::RequestRouter::Match expected = router->resolve(host, path);
        const QByteArray keptBefore = kept;
        const Http::AppChain *chain = router->resolveInto(host, path, scriptName, pathInfo);
        QCOMPARE(chain, expected.chain);
        QCOMPARE(scriptName, expected.scriptName);
        QCOMPARE(scriptName.isNull(), expected.scriptName.isNull());
        QCOMPARE(pathInfo, expected.pathInfo);
        QCOMPARE(pathInfo.isNull(), expected.pathInfo.isNull());
        QCOMPARE(kept, keptBefore);
        kept = pathInfo;
    }
}

void TestRouter::badLines_data()
{
    QTest::addColumn<QString>("line");
    QTest::addColumn<QString>("message");
    QTest::newRow("missing-app") << QStringLiteral("/x = nothere")
                                 << QStringLiteral("t.conf:%1: [routes] no [app:nothere] section");
    QTest::newRow("no-equals") << QStringLiteral("/x a")
                               << QStringLiteral("t.conf:%1: [routes] expected '/path = app'");
    QTest::newRow("relative-path")
        << QStringLiteral("x = a") << QStringLiteral("t.conf:%1: [routes] expected '/path = app'");
    QTest::newRow("missing-dir") << QStringLiteral("/x = /no/such/dir")
                                 << QStringLiteral("t.conf:%1: [routes] '/x': '/no/such/dir' is "
                                                   "not a directory");
    QTest::newRow("member-group") << QStringLiteral("/x = @users")
                                  << QStringLiteral("t.conf:%1: [routes] '/x': member groups");
    QTest::newRow("empty-host") << QStringLiteral("@")
                                << QStringLiteral("t.conf:%1: [routes] '@' needs at least one");
}

void TestRouter::badLines()
{
    QFETCH(QString, line);
    QFETCH(QString, message);
    const QString apps = QString::fromLatin1(AppSections);
    const int routeLine = int(apps.count(u'\n')) + 2;
    const Config::Config config = Config::Config::fromText(
        apps + QStringLiteral("[routes:line]\n") + line + u'\n', QStringLiteral("t.conf"));
    const Pipeline::AppRegistry registry = testRegistry();
    Pipeline::Router::build(config, registry, nullptr);
    QVERIFY(Config::hasErrors(config.diagnostics()));
    const QString expected = message.arg(routeLine);
    bool found = false;
    for (const Config::Diagnostic &d : config.diagnostics())
        found = found || d.toString().startsWith(expected);
    QVERIFY2(found, qPrintable(config.diagnostics().value(0).toString() + QStringLiteral(" vs ") +
                               expected));
}

void TestRouter::directoryRouteRelativeToConfigFile()
{
    QTemporaryDir dir;
    QVERIFY(QDir(dir.path()).mkpath(QStringLiteral("site")));
    QFile conf(dir.filePath(QStringLiteral("b.conf")));
    QVERIFY(conf.open(QIODevice::WriteOnly));
    conf.write("[routes:line]\n/ = ./site\n");
    conf.close();
    const Config::Config config = Config::Config::load({conf.fileName()});
    const auto router = Pipeline::Router::build(config, Berth::Apps::builtinApps(), nullptr);
    QVERIFY2(!Config::hasErrors(config.diagnostics()),
             qPrintable(config.diagnostics().value(0).toString()));
    QCOMPARE(router->routeCount(), 1);
    QVERIFY(router->route({}, "/index.html").pipeline);
}

QTEST_GUILESS_MAIN(TestRouter)
#include "tst_router.moc"
