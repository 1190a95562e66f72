// berth.echo, berth.stats and berth.heartbeat through the app interface.
#include "apps/echo/echoapp.h"
#include "apps/heartbeat/heartbeatapp.h"
#include "apps/stats/statsapp.h"
#include "core/servercontext.h"
#include "core/statsregistry.h"
#include "fakeexchange.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

using namespace Berth;

class TestBuiltinApps : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void echo_data();
    void echo();
    void echoCountsRequests();
    void heartbeat();
    void statsJson();
    void statsJsonp_data();
    void statsJsonp();
    void statsRejectsPost();
};

void TestBuiltinApps::echo_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QList<QByteArray>>("chunks");
    QTest::addColumn<qint64>("maxEcho");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("empty") << QByteArray("POST") << QList<QByteArray>{} << qint64(64)
                           << QByteArray();
    QTest::newRow("one-chunk") << QByteArray("POST") << QList<QByteArray>{"hello"} << qint64(64)
                               << QByteArray("hello");
    QTest::newRow("chunks") << QByteArray("PUT") << QList<QByteArray>{"ab", "cd", "ef"}
                            << qint64(64) << QByteArray("abcdef");
    QTest::newRow("truncated-inside-chunk")
        << QByteArray("POST") << QList<QByteArray>{"abcdef"} << qint64(4) << QByteArray("abcd");
    QTest::newRow("truncated-across-chunks")
        << QByteArray("POST") << QList<QByteArray>{"ab", "cd", "ef"} << qint64(3)
        << QByteArray("abc");
    QTest::newRow("zero-max") << QByteArray("POST") << QList<QByteArray>{"abc"} << qint64(0)
                              << QByteArray();
}

void TestBuiltinApps::echo()
{
    QFETCH(QByteArray, method);
    QFETCH(QList<QByteArray>, chunks);
    QFETCH(qint64, maxEcho);
    QFETCH(QByteArray, expected);
    Apps::EchoApp app(maxEcho);
    Tests::FakeExchange exchange(method, "/echo", {{"Content-Type", "text/x-test"}}, chunks);
    QCOMPARE(app.handle(exchange), Pipeline::Outcome::Answered);
    QCOMPARE(exchange.status(), 200);
    QCOMPARE(exchange.body(), expected);
    QCOMPARE(exchange.header("Content-Type"), QByteArray("text/x-test"));
    QVERIFY(exchange.finished());
}

void TestBuiltinApps::echoCountsRequests()
{
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    Apps::EchoApp app(64, &context);
    app.setName(QStringLiteral("myecho"));
    app.declareStats();
    for (int i = 0; i < 3; ++i) {
        Tests::FakeExchange exchange("POST", "/", {}, {"x"});
        app.handle(exchange);
    }
    const int slot = stats.declare(QStringLiteral("myecho.requests"), Core::StatType::Sum);
    QCOMPARE(stats.value(slot), 3);
}

void TestBuiltinApps::heartbeat()
{
    Core::ServerContext context;
    Apps::HeartbeatApp app(&context);
    {
        Tests::FakeExchange exchange("GET", "/__heartbeat__");
        app.handle(exchange);
        QCOMPARE(exchange.status(), 200);
        QCOMPARE(exchange.body().trimmed(), QByteArray("OK"));
    }
    context.setDraining(true);
    {
        Tests::FakeExchange exchange("GET", "/__heartbeat__");
        app.handle(exchange);
        QCOMPARE(exchange.status(), 503);
    }
}

void TestBuiltinApps::statsJson()
{
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    context.serverName = QStringLiteral("unit");
    stats.recordRequest(200, 500, 10, 20);
    stats.recordRequest(404, 5000, 10, 20);
    const int custom = stats.declare(QStringLiteral("echo.requests"), Core::StatType::Sum);
    stats.add(custom, 7);
    Apps::StatsApp app(&context);
    Tests::FakeExchange exchange("GET", "/stats");
    app.handle(exchange);
    QCOMPARE(exchange.status(), 200);
    QCOMPARE(exchange.header("Content-Type"), QByteArray("application/json"));
    const QJsonObject json = QJsonDocument::fromJson(exchange.body()).object();
    QCOMPARE(json.value(QStringLiteral("server")).toString(), QStringLiteral("unit"));
    QCOMPARE(json.value(QStringLiteral("requests")).toInteger(), 2);
    QCOMPARE(
        json.value(QStringLiteral("status")).toObject().value(QStringLiteral("4xx")).toInteger(),
        1);
    QCOMPARE(json.value(QStringLiteral("bytes_in")).toInteger(), 20);
    QCOMPARE(json.value(QStringLiteral("apps"))
                 .toObject()
                 .value(QStringLiteral("echo.requests"))
                 .toInteger(),
             7);
    QVERIFY(json.value(QStringLiteral("start_time")).toInteger() > 1'600'000'000);
    QCOMPARE(json.value(QStringLiteral("latency"))
                 .toObject()
                 .value(QStringLiteral("lt_1ms"))
                 .toInteger(),
             1);
}

void TestBuiltinApps::statsJsonp_data()
{
    QTest::addColumn<QByteArray>("target");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("prefix");
    QTest::newRow("callback") << QByteArray("/stats?callback=cb") << 200 << QByteArray("cb(");
    QTest::newRow("jsonp") << QByteArray("/stats?x=1&jsonp=app.onStats") << 200
                           << QByteArray("app.onStats(");
    QTest::newRow("dollar") << QByteArray("/stats?callback=$_x1") << 200 << QByteArray("$_x1(");
    QTest::newRow("script") << QByteArray("/stats?callback=%3Cscript%3E") << 400 << QByteArray();
    QTest::newRow("call") << QByteArray("/stats?callback=alert(1)") << 400 << QByteArray();
    QTest::newRow("digit-start") << QByteArray("/stats?callback=1x") << 400 << QByteArray();
    QTest::newRow("empty") << QByteArray("/stats?callback=") << 400 << QByteArray();
    QTest::newRow("trailing-dot") << QByteArray("/stats?callback=a.") << 400 << QByteArray();
    QTest::newRow("too-long") << QByteArray("/stats?callback=" + QByteArray(200, 'a')) << 400
                              << QByteArray();
}

void TestBuiltinApps::statsJsonp()
{
    QFETCH(QByteArray, target);
    QFETCH(int, status);
    QFETCH(QByteArray, prefix);
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    Apps::StatsApp app(&context);
    Tests::FakeExchange exchange("GET", target);
    app.handle(exchange);
    QCOMPARE(exchange.status(), status);
    if (status == 200) {
        QVERIFY(exchange.body().startsWith(prefix));
        QVERIFY(exchange.body().endsWith(");"));
        QCOMPARE(exchange.header("Content-Type"), QByteArray("application/javascript"));
        const QByteArray json = exchange.body().mid(prefix.size()).chopped(2);
        QVERIFY(QJsonDocument::fromJson(json).isObject());
    }
}

void TestBuiltinApps::statsRejectsPost()
{
    Apps::StatsApp app(nullptr);
    Tests::FakeExchange exchange("POST", "/stats");
    app.handle(exchange);
    QCOMPARE(exchange.status(), 405);
    QCOMPARE(exchange.header("Allow"), QByteArray("GET, HEAD"));
}

QTEST_GUILESS_MAIN(TestBuiltinApps)
#include "tst_builtinapps.moc"
