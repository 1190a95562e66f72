// berth.metrics: Accept negotiation (text 0.0.4 or OpenMetrics 1.0.0), the latency histogram's
// configurable buckets, per-app request counters, build info and process_* families.
#include "apps/metrics/metricsapp.h"
#include "apps/stats/prometheus.h"
#include "fakeexchange.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <QRegularExpression>
#include <QtTest>

using namespace Berth;

class TestMetricsApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void cleanup();
    void textByDefault();
    void openMetricsWhenPreferred();
    void negotiation_data();
    void negotiation();
    void configuredBucketsAreCumulative();
    void parseLatencyBuckets_data();
    void parseLatencyBuckets();
    void appRequestCounters();
    void processFamilies();
    void rejectsPost();
};

namespace {

// sample name + labels -> value, from "name{labels} value" lines; comments kept apart.
struct Lines
{
    QMap<QString, double> samples;
    QStringList comments;
};

Lines parse(const QByteArray &body)
{
    Lines out;
    static const QRegularExpression sample(
        QStringLiteral(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$)"));
    for (const QByteArray &raw : body.split('\n')) {
        const QString line = QString::fromUtf8(raw);
        if (line.isEmpty())
            continue;
        if (line.startsWith(QLatin1Char('#'))) {
            out.comments.append(line);
            continue;
        }
        const QRegularExpressionMatch m = sample.match(line);
        if (!m.hasMatch()) {
            out.samples.insert(QStringLiteral("!bad: ") + line, 0);
            continue;
        }
        const QString value = m.captured(2);
        out.samples.insert(m.captured(1),
                           value == QLatin1String("+Inf") ? qInf() : value.toDouble());
    }
    return out;
}

QByteArray scrape(Core::ServerContext &context, const QByteArray &accept,
                  QByteArray *contentType = nullptr)
{
    Apps::MetricsApp app(&context);
    Tests::FakeExchange::Headers headers;
    if (!accept.isNull())
        headers.append({"Accept", accept});
    Tests::FakeExchange exchange("GET", "/metrics", headers);
    app.handle(exchange);
    if (exchange.status() != 200)
        return {};
    if (contentType)
        *contentType = exchange.header("Content-Type");
    return exchange.body();
}

} // namespace

void TestMetricsApp::cleanup()
{
    Core::StatsRegistry::setLatencyBuckets(Core::StatsRegistry::defaultLatencyBuckets());
}

void TestMetricsApp::textByDefault()
{
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    stats.recordRequest(200, 1000, 1, 1);
    QByteArray type;
    const QByteArray body = scrape(context, {}, &type);
    QCOMPARE(type, QByteArray("text/plain; version=0.0.4; charset=utf-8"));
    QVERIFY(!body.contains("# EOF"));
    QVERIFY(body.contains("# TYPE berth_requests_total counter\n"));
    const Lines l = parse(body);
    QCOMPARE(l.samples.value(QStringLiteral("berth_requests_total")), 1.0);
    QCOMPARE(l.samples.value(QStringLiteral("berth_build_info{version=\"" BERTH_VERSION "\"}")),
             1.0);
    for (auto it = l.samples.cbegin(); it != l.samples.cend(); ++it)
        QVERIFY2(!it.key().startsWith(QLatin1String("!bad")), qPrintable(it.key()));
}

void TestMetricsApp::openMetricsWhenPreferred()
{
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    stats.recordRequest(200, 1000, 1, 1);
    QByteArray type;
    const QByteArray body =
        scrape(context,
               "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
               "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
               &type);
    QCOMPARE(type, QByteArray("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    QVERIFY(body.endsWith("\n# EOF\n"));
    QCOMPARE(body.count("# EOF"), 1);
    // Counter families are named without _total, their samples with it; _info gauges are info.
    QVERIFY(body.contains("# TYPE berth_requests counter\nberth_requests_total 1\n"));
    QVERIFY(body.contains("# TYPE berth_build info\nberth_build_info{version="));
    QVERIFY(!body.contains("# TYPE berth_requests_total"));
    const Lines l = parse(body);
    for (auto it = l.samples.cbegin(); it != l.samples.cend(); ++it)
        QVERIFY2(!it.key().startsWith(QLatin1String("!bad")), qPrintable(it.key()));
}

void TestMetricsApp::negotiation_data()
{
    QTest::addColumn<QByteArray>("accept");
    QTest::addColumn<bool>("openMetrics");
    QTest::newRow("none") << QByteArray() << false;
    QTest::newRow("any") << QByteArray("*/*") << false;
    QTest::newRow("text") << QByteArray("text/plain") << false;
    QTest::newRow("om only") << QByteArray("application/openmetrics-text") << true;
    QTest::newRow("om preferred")
        << QByteArray("application/openmetrics-text; version=1.0.0, text/plain;q=0.5") << true;
    QTest::newRow("text preferred")
        << QByteArray("application/openmetrics-text;q=0.3, text/plain;q=0.9") << false;
    QTest::newRow("om refused") << QByteArray("application/openmetrics-text;q=0, */*") << false;
    QTest::newRow("case") << QByteArray("Application/OpenMetrics-Text") << true;
}

void TestMetricsApp::negotiation()
{
    QFETCH(QByteArray, accept);
    QFETCH(bool, openMetrics);
    QCOMPARE(Apps::Prometheus::prefersOpenMetrics(accept), openMetrics);
}

void TestMetricsApp::configuredBucketsAreCumulative()
{
    Core::StatsRegistry::setLatencyBuckets({1000, 50000, 2000000});
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    for (qint64 micros : {500, 1000, 1001, 49999, 3000000, 9000000})
        stats.recordRequest(200, micros, 0, 0);
    const Lines l = parse(scrape(context, {}));
    const QString b = QStringLiteral("berth_request_duration_seconds_bucket{le=\"%1\"}");
    QCOMPARE(l.samples.value(b.arg(QLatin1String("0.001"))), 2.0); // bounds are inclusive
    QCOMPARE(l.samples.value(b.arg(QLatin1String("0.05"))), 4.0);
    QCOMPARE(l.samples.value(b.arg(QLatin1String("2"))), 4.0);
    QCOMPARE(l.samples.value(b.arg(QLatin1String("+Inf"))), 6.0);
    QCOMPARE(l.samples.value(QStringLiteral("berth_request_duration_seconds_count")), 6.0);
    QVERIFY(!l.samples.contains(b.arg(QLatin1String("0.005"))));
}

void TestMetricsApp::parseLatencyBuckets_data()
{
    QTest::addColumn<QStringList>("values");
    QTest::addColumn<QList<qint64>>("expected");
    QTest::newRow("default") << QStringList{QStringLiteral("0.005"), QStringLiteral("10")}
                             << QList<qint64>{5000, 10000000};
    QTest::newRow("not ascending")
        << QStringList{QStringLiteral("1"), QStringLiteral("0.5")} << QList<qint64>{};
    QTest::newRow("zero") << QStringList{QStringLiteral("0")} << QList<qint64>{};
    QTest::newRow("word") << QStringList{QStringLiteral("fast")} << QList<qint64>{};
    QTest::newRow("empty") << QStringList{} << QList<qint64>{};
    QStringList many;
    for (int i = 1; i <= 21; ++i)
        many.append(QString::number(i));
    QTest::newRow("too many") << many << QList<qint64>{};
}

void TestMetricsApp::parseLatencyBuckets()
{
    QFETCH(QStringList, values);
    QFETCH(QList<qint64>, expected);
    QString error;
    QCOMPARE(Core::StatsRegistry::parseLatencyBuckets(values, &error), expected);
    QCOMPARE(error.isEmpty(), !expected.isEmpty());
}

void TestMetricsApp::appRequestCounters()
{
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    stats.add(stats.declare(QStringLiteral("app_requests:echo"), Core::StatType::Sum), 3);
    stats.add(stats.declare(QStringLiteral("echo.requests"), Core::StatType::Sum), 7);
    const QByteArray body = scrape(context, {});
    const Lines l = parse(body);
    QCOMPARE(l.samples.value(QStringLiteral("berth_app_requests_total{app=\"echo\"}")), 3.0);
    // Not an app-declared stat as well.
    QVERIFY(!body.contains("name=\"app_requests:echo\""));
    QCOMPARE(l.samples.value(QStringLiteral("berth_app_stat_total{name=\"echo.requests\"}")), 7.0);
}

void TestMetricsApp::processFamilies()
{
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    const Lines l = parse(scrape(context, {}));
    // This test process alone (its parent is not a berthd).
    QCOMPARE(l.samples.value(QStringLiteral("berth_processes")), 1.0);
    QVERIFY(l.samples.value(QStringLiteral("process_resident_memory_bytes")) > 1e6);
    QVERIFY(l.samples.value(QStringLiteral("process_open_fds")) >= 3);
    QVERIFY(l.samples.value(QStringLiteral("process_cpu_seconds_total")) >= 0);
    const double start = l.samples.value(QStringLiteral("process_start_time_seconds"));
    const double now = QDateTime::currentMSecsSinceEpoch() / 1000.0;
    QVERIFY2(start > now - 600 && start <= now + 1, qPrintable(QString::number(start)));
}

void TestMetricsApp::rejectsPost()
{
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    Apps::MetricsApp app(&context);
    Tests::FakeExchange exchange("POST", "/metrics");
    app.handle(exchange);
    QCOMPARE(exchange.status(), 405);
}

QTEST_GUILESS_MAIN(TestMetricsApp)
#include "tst_metricsapp.moc"
