// berth.echo, berth.stats and berth.heartbeat through the app interface.
#include "apps/echo/echoapp.h"
#include "apps/heartbeat/heartbeatapp.h"
#include "apps/stats/prometheus.h"
#include "apps/stats/statsapp.h"
#include "fakeexchange.h"
#include "runtime/servercontext.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"
#include "runtime/workerhealth.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QtTest>

#include <unistd.h>

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
    void statsJsonListsThisProcessAsWorker();
    void statsJsonAggregatesSharedWorkers();
    void statsFormat_data();
    void statsFormat();
    void prometheusExposition();
    void prometheusAggregatesSharedWorkers();
    void prometheusMetricName_data();
    void prometheusMetricName();
    void prometheusLabelValue_data();
    void prometheusLabelValue();
};

namespace {

// A strict reader of the text exposition format 0.0.4: fails on any line it does not
// understand, on a sample before its family's # TYPE, on a family split in two, on histogram
// buckets that are not cumulative or do not end with le="+Inf" equal to _count.
struct Exposition
{
    struct Sample
    {
        QString name;
        QMap<QString, QString> labels;
        double value = 0;
    };
    QMap<QString, QString> types;
    QList<Sample> samples;
    QString error;

    double value(const QString &name, const QMap<QString, QString> &labels = {}) const
    {
        for (const Sample &s : samples) {
            if (s.name == name && s.labels == labels)
                return s.value;
        }
        return -1;
    }
    bool has(const QString &name, const QMap<QString, QString> &labels = {}) const
    {
        for (const Sample &s : samples) {
            if (s.name == name && s.labels == labels)
                return true;
        }
        return false;
    }
};

bool parseLabels(const QString &text, QMap<QString, QString> *labels)
{
    static const QRegularExpression name(QStringLiteral("^[a-zA-Z_][a-zA-Z0-9_]*$"));
    qsizetype i = 0;
    while (i < text.size()) {
        const qsizetype eq = text.indexOf(QLatin1Char('='), i);
        if (eq < 0 || eq + 1 >= text.size() || text[eq + 1] != QLatin1Char('"'))
            return false;
        const QString key = text.mid(i, eq - i);
        if (!name.match(key).hasMatch() || labels->contains(key))
            return false;
        QString value;
        qsizetype j = eq + 2;
        for (; j < text.size() && text[j] != QLatin1Char('"'); ++j) {
            if (text[j] == QLatin1Char('\\')) {
                if (++j >= text.size())
                    return false;
                const QChar c = text[j];
                if (c == QLatin1Char('n'))
                    value += QLatin1Char('\n');
                else if (c == QLatin1Char('\\') || c == QLatin1Char('"'))
                    value += c;
                else
                    return false;
            } else {
                value += text[j];
            }
        }
        if (j >= text.size())
            return false;
        labels->insert(key, value);
        i = j + 1;
        if (i < text.size()) {
            if (text[i] != QLatin1Char(','))
                return false;
            ++i;
        }
    }
    return true;
}

Exposition parseExposition(const QByteArray &body)
{
    static const QRegularExpression comment(
        QStringLiteral("^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$"));
    static const QRegularExpression sample(
        QStringLiteral("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)\\})? ([^ ]+)$"));
    static const QStringList knownTypes = {QStringLiteral("counter"), QStringLiteral("gauge"),
                                           QStringLiteral("histogram"), QStringLiteral("summary"),
                                           QStringLiteral("untyped")};
    Exposition e;
    auto fail = [&](const QString &why, const QString &line) {
        e.error = why + QStringLiteral(": ") + line;
        return e;
    };
    if (!body.endsWith('\n'))
        return fail(QStringLiteral("no final newline"), QString());
    QString current; // the family whose samples may follow
    QSet<QString> finished;
    const QStringList lines = QString::fromUtf8(body).split(QLatin1Char('\n'));
    for (qsizetype n = 0; n + 1 < lines.size(); ++n) {
        const QString &line = lines[n];
        if (line.startsWith(QLatin1Char('#'))) {
            const auto m = comment.match(line);
            if (!m.hasMatch())
                return fail(QStringLiteral("bad comment"), line);
            const QString family = m.captured(2);
            if (family != current) {
                if (finished.contains(family))
                    return fail(QStringLiteral("family split"), line);
                if (!current.isEmpty())
                    finished.insert(current);
                current = family;
            }
            if (m.captured(1) == QStringLiteral("TYPE")) {
                if (!knownTypes.contains(m.captured(3)) || e.types.contains(family))
                    return fail(QStringLiteral("bad or second TYPE"), line);
                e.types.insert(family, m.captured(3));
            }
            continue;
        }
        const auto m = sample.match(line);
        if (!m.hasMatch())
            return fail(QStringLiteral("not a sample line"), line);
        Exposition::Sample s;
        s.name = m.captured(1);
        if (!parseLabels(m.captured(2), &s.labels))
            return fail(QStringLiteral("bad labels"), line);
        bool ok = false;
        s.value = m.captured(3) == QStringLiteral("+Inf") ? qInf() : m.captured(3).toDouble(&ok);
        if (!ok && !qIsInf(s.value))
            return fail(QStringLiteral("bad value"), line);
        QString family = s.name;
        if (!e.types.contains(family)) {
            for (const char *suffix : {"_bucket", "_sum", "_count"}) {
                const QString base =
                    s.name.chopped(qMin(s.name.size(), qsizetype(qstrlen(suffix))));
                if (s.name.endsWith(QLatin1StringView(suffix)) &&
                    e.types.value(base) == QStringLiteral("histogram"))
                    family = base;
            }
        }
        if (!e.types.contains(family))
            return fail(QStringLiteral("sample without TYPE"), line);
        if (family != current)
            return fail(QStringLiteral("sample outside its family block"), line);
        e.samples.append(s);
    }
    // Histograms: per label set (le aside), cumulative buckets ending in +Inf == _count.
    for (auto it = e.types.cbegin(); it != e.types.cend(); ++it) {
        if (it.value() != QStringLiteral("histogram"))
            continue;
        QMap<QString, QList<QPair<QString, double>>> buckets;
        for (const Exposition::Sample &s : std::as_const(e.samples)) {
            if (s.name != it.key() + QStringLiteral("_bucket"))
                continue;
            QMap<QString, QString> rest = s.labels;
            const QString le = rest.take(QStringLiteral("le"));
            if (le.isEmpty())
                return fail(QStringLiteral("bucket without le"), s.name);
            QStringList key;
            for (auto l = rest.cbegin(); l != rest.cend(); ++l)
                key << l.key() + QLatin1Char('=') + l.value();
            buckets[key.join(QLatin1Char(','))].append({le, s.value});
        }
        if (buckets.isEmpty())
            return fail(QStringLiteral("histogram without buckets"), it.key());
        for (auto b = buckets.cbegin(); b != buckets.cend(); ++b) {
            double previous = -1;
            double previousLe = -qInf();
            for (const auto &[le, count] : b.value()) {
                const double bound = le == QStringLiteral("+Inf") ? qInf() : le.toDouble();
                if (count < previous || bound <= previousLe)
                    return fail(QStringLiteral("buckets not cumulative"), it.key() + b.key());
                previous = count;
                previousLe = bound;
            }
            if (b.value().last().first != QStringLiteral("+Inf"))
                return fail(QStringLiteral("last bucket is not +Inf"), it.key() + b.key());
            QMap<QString, QString> labels;
            for (const QString &kv : b.key().split(QLatin1Char(','), Qt::SkipEmptyParts))
                labels.insert(kv.section(QLatin1Char('='), 0, 0), kv.section(QLatin1Char('='), 1));
            if (e.value(it.key() + QStringLiteral("_count"), labels) != previous ||
                !e.has(it.key() + QStringLiteral("_sum"), labels))
                return fail(QStringLiteral("+Inf differs from _count or no _sum"),
                            it.key() + b.key());
        }
    }
    return e;
}

using Labels = QMap<QString, QString>;

} // namespace

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

void TestBuiltinApps::statsJsonListsThisProcessAsWorker()
{
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    stats.recordRequest(200, 500, 10, 20);
    stats.recordRequest(503, 2'000'000, 10, 20);
    const int mine = stats.declare(QStringLiteral("me.only"), Core::StatType::Worker);
    stats.set(mine, 5);
    Apps::StatsApp app(&context);
    Tests::FakeExchange exchange("GET", "/stats");
    app.handle(exchange);
    const QJsonObject json = QJsonDocument::fromJson(exchange.body()).object();
    QCOMPARE(json.value(QStringLiteral("latency"))
                 .toObject()
                 .value(QStringLiteral("sum_us"))
                 .toInteger(),
             2'000'500);
    // Worker-only stats have no overall value.
    QVERIFY(!json.value(QStringLiteral("apps")).toObject().contains(QStringLiteral("me.only")));
    const QJsonArray workers = json.value(QStringLiteral("workers")).toArray();
    QCOMPARE(workers.size(), 1);
    const QJsonObject w = workers[0].toObject();
    QCOMPARE(w.value(QStringLiteral("pid")).toInteger(), qint64(::getpid()));
    QCOMPARE(w.value(QStringLiteral("slot")).toInteger(), 0);
    QCOMPARE(w.value(QStringLiteral("generation")).toInteger(), 1);
    QCOMPARE(w.value(QStringLiteral("state")).toString(), QStringLiteral("running"));
    QCOMPARE(w.value(QStringLiteral("requests_served")).toInteger(), 2);
    QVERIFY(w.value(QStringLiteral("started")).toInteger() > 1'600'000'000);
    const QJsonObject values = w.value(QStringLiteral("values")).toObject();
    QCOMPARE(values.value(QStringLiteral("requests")).toInteger(), 2);
    QCOMPARE(values.value(QStringLiteral("status_5xx")).toInteger(), 1);
    QCOMPARE(values.value(QStringLiteral("me.only")).toInteger(), 5);
}

void TestBuiltinApps::statsJsonAggregatesSharedWorkers()
{
    QString error;
    auto shared = Core::SharedState::create(3, 2, &error);
    QVERIFY2(shared, qPrintable(error));
    Core::StatsRegistry stats;
    const int echo = stats.declare(QStringLiteral("echo.requests"), Core::StatType::Sum);
    QVERIFY2(stats.attach(*shared, 0, &error), qPrintable(error));
    Core::ServerContext context;
    context.stats = &stats;
    stats.recordRequest(200, 500, 10, 20);
    stats.add(echo, 1);
    stats.add(Core::StatsRegistry::ActiveConnections, 2);
    // A second worker in slot 2, as another process would have written it.
    Core::WorkerSlot *other = shared->slot(2);
    shared->prepareSlot(2);
    other->pid.store(999999);
    other->state.store(int(Core::WorkerState::Draining));
    other->values[Core::StatsRegistry::Requests].store(5);
    other->values[Core::StatsRegistry::Status4xx].store(5);
    other->values[Core::StatsRegistry::ActiveConnections].store(1);
    other->values[echo].store(4);
    other->values[Core::StatsRegistry::StartTime].store(1'700'000'000);
    other->requestsServed.store(5);

    Apps::StatsApp app(&context);
    Tests::FakeExchange exchange("GET", "/stats");
    app.handle(exchange);
    const QJsonObject json = QJsonDocument::fromJson(exchange.body()).object();
    QCOMPARE(json.value(QStringLiteral("requests")).toInteger(), 6);
    QCOMPARE(json.value(QStringLiteral("active_connections")).toInteger(), 3);
    QCOMPARE(json.value(QStringLiteral("start_time")).toInteger(), 1'700'000'000); // min
    QCOMPARE(
        json.value(QStringLiteral("status")).toObject().value(QStringLiteral("4xx")).toInteger(),
        5);
    QCOMPARE(json.value(QStringLiteral("apps"))
                 .toObject()
                 .value(QStringLiteral("echo.requests"))
                 .toInteger(),
             5);
    const QJsonArray workers = json.value(QStringLiteral("workers")).toArray();
    QCOMPARE(workers.size(), 2);
    QCOMPARE(workers[0].toObject().value(QStringLiteral("pid")).toInteger(), qint64(::getpid()));
    QCOMPARE(workers[0].toObject().value(QStringLiteral("threads")).toArray().size(), 2);
    const QJsonObject second = workers[1].toObject();
    QCOMPARE(second.value(QStringLiteral("slot")).toInteger(), 2);
    QCOMPARE(second.value(QStringLiteral("pid")).toInteger(), 999999);
    QCOMPARE(second.value(QStringLiteral("state")).toString(), QStringLiteral("draining"));
    QCOMPARE(second.value(QStringLiteral("requests_served")).toInteger(), 5);
    QCOMPARE(second.value(QStringLiteral("values"))
                 .toObject()
                 .value(QStringLiteral("echo.requests"))
                 .toInteger(),
             4);
}

void TestBuiltinApps::statsFormat_data()
{
    QTest::addColumn<QByteArray>("target");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("contentType");
    QTest::newRow("default-json") << QByteArray("/stats") << 200 << QByteArray("application/json");
    QTest::newRow("json") << QByteArray("/stats?format=json") << 200
                          << QByteArray("application/json");
    QTest::newRow("prometheus") << QByteArray("/stats?format=prometheus") << 200
                                << QByteArray("text/plain; version=0.0.4; charset=utf-8");
    QTest::newRow("prometheus-ignores-callback")
        << QByteArray("/stats?callback=cb&format=prometheus") << 200
        << QByteArray("text/plain; version=0.0.4; charset=utf-8");
    QTest::newRow("json-with-jsonp")
        << QByteArray("/stats?format=json&jsonp=cb") << 200 << QByteArray("application/javascript");
    QTest::newRow("unknown") << QByteArray("/stats?format=xml") << 400 << QByteArray();
    QTest::newRow("empty") << QByteArray("/stats?format=") << 400 << QByteArray();
}

void TestBuiltinApps::statsFormat()
{
    QFETCH(QByteArray, target);
    QFETCH(int, status);
    QFETCH(QByteArray, contentType);
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    Apps::StatsApp app(&context);
    Tests::FakeExchange exchange("GET", target);
    app.handle(exchange);
    QCOMPARE(exchange.status(), status);
    if (status == 200) {
        QCOMPARE(exchange.header("Content-Type"), contentType);
        QCOMPARE(exchange.header("Cache-Control"), QByteArray("no-store"));
    }
}

void TestBuiltinApps::prometheusExposition()
{
    Core::StatsRegistry stats;
    Core::ServerContext context;
    context.stats = &stats;
    stats.recordRequest(200, 500, 10, 20);       // < 1 ms
    stats.recordRequest(404, 5000, 10, 20);      // < 10 ms
    stats.recordRequest(500, 3'000'000, 10, 20); // >= 1 s
    stats.add(Core::StatsRegistry::ActiveConnections, 2);
    stats.add(stats.declare(QStringLiteral("echo.requests"), Core::StatType::Sum), 7);
    stats.set(stats.declare(QStringLiteral("pool.\"peak\"\\x"), Core::StatType::Max), 9);
    stats.set(stats.declare(QStringLiteral("me.only"), Core::StatType::Worker), 4);
    Apps::StatsApp app(&context);
    Tests::FakeExchange exchange("GET", "/stats?format=prometheus");
    app.handle(exchange);
    QCOMPARE(exchange.status(), 200);
    const Exposition e = parseExposition(exchange.body());
    QVERIFY2(e.error.isEmpty(),
             qPrintable(e.error + QLatin1Char('\n') + QString::fromUtf8(exchange.body())));
    QCOMPARE(e.types.value(QStringLiteral("berth_requests_total")), QStringLiteral("counter"));
    QCOMPARE(e.types.value(QStringLiteral("berth_active_connections")), QStringLiteral("gauge"));
    QCOMPARE(e.types.value(QStringLiteral("berth_request_duration_seconds")),
             QStringLiteral("histogram"));
    QCOMPARE(e.value(QStringLiteral("berth_requests_total")), 3.0);
    QCOMPARE(e.value(QStringLiteral("berth_responses_total"),
                     {{QStringLiteral("class"), QStringLiteral("2xx")}}),
             1.0);
    QCOMPARE(e.value(QStringLiteral("berth_responses_total"),
                     {{QStringLiteral("class"), QStringLiteral("4xx")}}),
             1.0);
    QCOMPARE(e.value(QStringLiteral("berth_responses_total"),
                     {{QStringLiteral("class"), QStringLiteral("1xx")}}),
             0.0);
    QCOMPARE(e.value(QStringLiteral("berth_bytes_received_total")), 30.0);
    QCOMPARE(e.value(QStringLiteral("berth_bytes_sent_total")), 60.0);
    QCOMPARE(e.value(QStringLiteral("berth_active_connections")), 2.0);
    QVERIFY(e.value(QStringLiteral("berth_start_time_seconds")) > 1.6e9);
    // Prometheus' default buckets: 5 ms (bounds are inclusive) ... 10 s.
    const Labels le5ms{{QStringLiteral("le"), QStringLiteral("0.005")}};
    const Labels le1s{{QStringLiteral("le"), QStringLiteral("1")}};
    const Labels le5s{{QStringLiteral("le"), QStringLiteral("5")}};
    const Labels inf{{QStringLiteral("le"), QStringLiteral("+Inf")}};
    QCOMPARE(e.value(QStringLiteral("berth_request_duration_seconds_bucket"), le5ms), 2.0);
    QCOMPARE(e.value(QStringLiteral("berth_request_duration_seconds_bucket"), le1s), 2.0);
    QCOMPARE(e.value(QStringLiteral("berth_request_duration_seconds_bucket"), le5s), 3.0);
    QCOMPARE(e.value(QStringLiteral("berth_request_duration_seconds_bucket"), inf), 3.0);
    QCOMPARE(e.value(QStringLiteral("berth_request_duration_seconds_count")), 3.0);
    QCOMPARE(e.value(QStringLiteral("berth_request_duration_seconds_sum")), 3.0055);
    QCOMPARE(e.types.value(QStringLiteral("berth_app_stat_total")), QStringLiteral("counter"));
    QCOMPARE(e.types.value(QStringLiteral("berth_app_stat")), QStringLiteral("gauge"));
    QCOMPARE(e.value(QStringLiteral("berth_app_stat_total"),
                     {{QStringLiteral("name"), QStringLiteral("echo.requests")}}),
             7.0);
    // Label values come back exactly, escapes and all.
    QCOMPARE(e.value(QStringLiteral("berth_app_stat"),
                     {{QStringLiteral("name"), QStringLiteral("pool.\"peak\"\\x")}}),
             9.0);
    QVERIFY(!e.has(QStringLiteral("berth_app_stat"),
                   {{QStringLiteral("name"), QStringLiteral("me.only")}}));
    // Per worker: this process is worker 0.
    const Labels w0{{QStringLiteral("worker"), QStringLiteral("0")}};
    QCOMPARE(e.value(QStringLiteral("berth_worker_requests_total"), w0), 3.0);
    QCOMPARE(e.value(QStringLiteral("berth_worker_info"),
                     {{QStringLiteral("worker"), QStringLiteral("0")},
                      {QStringLiteral("pid"), QString::number(::getpid())},
                      {QStringLiteral("generation"), QStringLiteral("1")},
                      {QStringLiteral("state"), QStringLiteral("running")}}),
             1.0);
    QCOMPARE(e.value(QStringLiteral("berth_worker_request_duration_seconds_count"), w0), 3.0);
    QCOMPARE(e.value(QStringLiteral("berth_worker_app_stat"),
                     {{QStringLiteral("worker"), QStringLiteral("0")},
                      {QStringLiteral("name"), QStringLiteral("me.only")}}),
             4.0);
    QCOMPARE(e.value(QStringLiteral("berth_workers"),
                     {{QStringLiteral("state"), QStringLiteral("running")}}),
             1.0);
    // Every family has HELP and TYPE.
    for (auto it = e.types.cbegin(); it != e.types.cend(); ++it)
        QVERIFY2(exchange.body().contains("# HELP " + it.key().toLatin1() + ' '),
                 qPrintable(it.key()));
}

void TestBuiltinApps::prometheusAggregatesSharedWorkers()
{
    QString error;
    auto shared = Core::SharedState::create(2, 1, &error);
    QVERIFY(shared);
    Core::StatsRegistry stats;
    QVERIFY(stats.attach(*shared, 0, &error));
    Core::ThreadHealth::attach(stats.workerSlot(), 0);
    Core::ThreadHealth::beat();
    Core::ThreadHealth::detach();
    shared->slot(0)->thread(0)->heartbeatMs.store(Core::monotonicMs() - 1500);
    stats.recordRequest(200, 100, 1, 1);
    shared->prepareSlot(1);
    shared->slot(1)->state.store(int(Core::WorkerState::Running));
    shared->slot(1)->values[Core::StatsRegistry::Requests].store(4);
    shared->slot(1)->values[Core::StatsRegistry::LatencyBucket0 + 5].store(4); // le 0.25
    shared->slot(1)->values[Core::StatsRegistry::LatencySumMicros].store(2'000'000);
    Core::ServerContext context;
    context.stats = &stats;
    Apps::StatsApp app(&context);
    const Exposition e = parseExposition(app.prometheusText());
    QVERIFY2(e.error.isEmpty(), qPrintable(e.error));
    QCOMPARE(e.value(QStringLiteral("berth_requests_total")), 5.0);
    QCOMPARE(e.value(QStringLiteral("berth_request_duration_seconds_count")), 5.0);
    QCOMPARE(e.value(QStringLiteral("berth_request_duration_seconds_sum")), 2.0001);
    QCOMPARE(e.value(QStringLiteral("berth_worker_requests_total"),
                     {{QStringLiteral("worker"), QStringLiteral("0")}}),
             1.0);
    QCOMPARE(e.value(QStringLiteral("berth_worker_requests_total"),
                     {{QStringLiteral("worker"), QStringLiteral("1")}}),
             4.0);
    QCOMPARE(e.value(QStringLiteral("berth_worker_request_duration_seconds_bucket"),
                     {{QStringLiteral("worker"), QStringLiteral("1")},
                      {QStringLiteral("le"), QStringLiteral("0.1")}}),
             0.0);
    QCOMPARE(e.value(QStringLiteral("berth_workers"),
                     {{QStringLiteral("state"), QStringLiteral("running")}}),
             2.0);
    const double age = e.value(QStringLiteral("berth_worker_heartbeat_age_seconds"),
                               {{QStringLiteral("worker"), QStringLiteral("0")},
                                {QStringLiteral("thread"), QStringLiteral("0")}});
    QVERIFY2(age >= 1.5 && age < 10, qPrintable(QString::number(age)));
}

void TestBuiltinApps::prometheusMetricName_data()
{
    QTest::addColumn<QByteArray>("name");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("valid") << QByteArray("berth_requests_total")
                           << QByteArray("berth_requests_total");
    QTest::newRow("colon") << QByteArray("a:b") << QByteArray("a:b");
    QTest::newRow("dots-dashes") << QByteArray("echo.req-s") << QByteArray("echo_req_s");
    QTest::newRow("leading-digit") << QByteArray("1x") << QByteArray("_x");
    QTest::newRow("utf8") << QByteArray("caf\xc3\xa9") << QByteArray("caf__");
    QTest::newRow("empty") << QByteArray() << QByteArray("_");
}

void TestBuiltinApps::prometheusMetricName()
{
    QFETCH(QByteArray, name);
    QFETCH(QByteArray, expected);
    QCOMPARE(Apps::Prometheus::metricName(name), expected);
}

void TestBuiltinApps::prometheusLabelValue_data()
{
    QTest::addColumn<QString>("value");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("plain") << QStringLiteral("echo.requests") << QByteArray("echo.requests");
    QTest::newRow("quote") << QStringLiteral("a\"b") << QByteArray("a\\\"b");
    QTest::newRow("backslash") << QStringLiteral("a\\b") << QByteArray("a\\\\b");
    QTest::newRow("newline") << QStringLiteral("a\nb") << QByteArray("a\\nb");
    QTest::newRow("utf8") << QStringLiteral("caf\u00e9") << QByteArray("caf\xc3\xa9");
}

void TestBuiltinApps::prometheusLabelValue()
{
    QFETCH(QString, value);
    QFETCH(QByteArray, expected);
    QCOMPARE(Apps::Prometheus::labelValue(value), expected);
}

QTEST_GUILESS_MAIN(TestBuiltinApps)
#include "tst_builtinapps.moc"
