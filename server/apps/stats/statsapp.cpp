#include "statsapp.h"

#include "prometheus.h"

#include "http/exchange.h"
#include "http/formencoding.h"
#include "pipeline/pipeline.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <sys/wait.h>
#include <unistd.h>

namespace Berth::Apps {

namespace {

bool isIdentStart(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

bool isIdentChar(char c)
{
    return isIdentStart(c) || (c >= '0' && c <= '9');
}

} // namespace

bool StatsApp::isValidCallback(QByteArrayView name)
{
    if (name.isEmpty() || name.size() > 128)
        return false;
    bool atStart = true;
    for (char c : name) {
        if (atStart) {
            if (!isIdentStart(c))
                return false;
            atStart = false;
        } else if (c == '.') {
            atStart = true;
        } else if (!isIdentChar(c)) {
            return false;
        }
    }
    return !atStart;
}

QJsonObject StatsApp::workerJson(const Core::StatsReport &report, const Core::WorkerStats &worker)
{
    QJsonObject w;
    w.insert(QStringLiteral("pid"), worker.pid);
    w.insert(QStringLiteral("slot"), worker.slot);
    w.insert(QStringLiteral("generation"), qint64(worker.generation));
    w.insert(QStringLiteral("started"), worker.startedMs / 1000);
    w.insert(QStringLiteral("state"), Core::workerStateName(worker.state));
    w.insert(QStringLiteral("requests_served"), worker.requestsServed);
    w.insert(QStringLiteral("service"), worker.kind);
    w.insert(QStringLiteral("name"), worker.name);
    w.insert(QStringLiteral("restarts"), worker.restarts);
    // The previous child of the service in this slot: {"status": N} or {"signal": N}.
    QJsonValue lastExit;
    if (worker.lastExitStatus >= 0) {
        const int st = worker.lastExitStatus;
        lastExit = WIFSIGNALED(st) ? QJsonObject{{QStringLiteral("signal"), WTERMSIG(st)}}
                                   : QJsonObject{{QStringLiteral("status"), WEXITSTATUS(st)}};
    }
    w.insert(QStringLiteral("last_exit"), lastExit);
    QJsonObject values;
    for (qsizetype i = 0; i < worker.values.size() && i < report.names.size(); ++i) {
        if (!report.names[i].isEmpty())
            values.insert(report.names[i], worker.values[i]);
    }
    w.insert(QStringLiteral("values"), values);
    // Liveness only: the request a thread is running stays with the master (describeThread),
    // since this endpoint may be public and URLs can carry secrets.
    QJsonArray threads;
    for (const Core::ThreadStats &t : worker.threads) {
        QJsonObject thread;
        thread.insert(QStringLiteral("tid"), t.tid);
        thread.insert(QStringLiteral("heartbeat_age_ms"), t.heartbeatAgeMs);
        thread.insert(QStringLiteral("busy_ms"), t.busyMs);
        thread.insert(QStringLiteral("requests"), t.requests);
        thread.insert(QStringLiteral("connections"), t.connections);
        threads.append(thread);
    }
    if (!threads.isEmpty())
        w.insert(QStringLiteral("threads"), threads);
    return w;
}

QByteArray StatsApp::statsJson() const
{
    QJsonObject root;
    root.insert(QStringLiteral("server"), m_server ? m_server->serverName : QString());
    root.insert(QStringLiteral("pid"), qint64(::getpid()));
    root.insert(QStringLiteral("now"), QDateTime::currentSecsSinceEpoch());
    if (m_server && m_server->stats) {
        using S = Core::StatsRegistry;
        // The top-level values are the aggregate over every worker (brim's overall stats).
        const Core::StatsReport report = m_server->stats->report();
        const qint64 start = report.total(S::StartTime);
        root.insert(QStringLiteral("start_time"), start);
        root.insert(QStringLiteral("uptime"), QDateTime::currentSecsSinceEpoch() - start);
        root.insert(QStringLiteral("requests"), report.total(S::Requests));
        QJsonObject status;
        for (int i = 0; i < 5; ++i)
            status.insert(QStringLiteral("%1xx").arg(i + 1), report.total(S::Status1xx + i));
        root.insert(QStringLiteral("status"), status);
        root.insert(QStringLiteral("bytes_in"), report.total(S::BytesIn));
        root.insert(QStringLiteral("bytes_out"), report.total(S::BytesOut));
        root.insert(QStringLiteral("active_connections"), report.total(S::ActiveConnections));
        root.insert(QStringLiteral("connections"), report.total(S::TotalConnections));
        root.insert(QStringLiteral("bad_requests"), report.total(S::BadRequests));
        QJsonObject latency;
        latency.insert(QStringLiteral("lt_1ms"), report.total(S::LatencyUnder1ms));
        latency.insert(QStringLiteral("lt_10ms"), report.total(S::LatencyUnder10ms));
        latency.insert(QStringLiteral("lt_100ms"), report.total(S::LatencyUnder100ms));
        latency.insert(QStringLiteral("lt_1s"), report.total(S::LatencyUnder1s));
        latency.insert(QStringLiteral("ge_1s"), report.total(S::LatencyOver1s));
        latency.insert(QStringLiteral("sum_us"), report.total(S::LatencySumMicros));
        root.insert(QStringLiteral("latency"), latency);
        QJsonObject offload;
        offload.insert(QStringLiteral("jobs"), report.total(S::OffloadJobs));
        offload.insert(QStringLiteral("queued"), report.total(S::OffloadQueued));
        offload.insert(QStringLiteral("rejected"), report.total(S::OffloadRejected));
        root.insert(QStringLiteral("offload"), offload);
        QJsonObject protocols;
        protocols.insert(QStringLiteral("http1_requests"), report.total(S::Http1Requests));
        protocols.insert(QStringLiteral("http2_requests"), report.total(S::Http2Requests));
        protocols.insert(QStringLiteral("http1_connections"), report.total(S::Http1Connections));
        protocols.insert(QStringLiteral("http2_connections"), report.total(S::Http2Connections));
        protocols.insert(QStringLiteral("http2_streams_open"), report.total(S::Http2StreamsOpen));
        protocols.insert(QStringLiteral("http2_goaways_sent"), report.total(S::Http2GoawaysSent));
        protocols.insert(QStringLiteral("http2_resets_sent"), report.total(S::Http2ResetsSent));
        root.insert(QStringLiteral("protocols"), protocols);
        QJsonObject apps;
        for (const Core::AggregateEntry &e : report.aggregate) {
            if (e.index >= S::BuiltinCount)
                apps.insert(e.name, e.value);
        }
        root.insert(QStringLiteral("apps"), apps);
        QJsonArray workers;
        for (const Core::WorkerStats &worker : report.workers)
            workers.append(workerJson(report, worker));
        root.insert(QStringLiteral("workers"), workers);
    }
    return QJsonDocument(root).toJson(QJsonDocument::Compact);
}

QByteArray StatsApp::prometheusText() const
{
    if (!m_server || !m_server->stats)
        return {};
    const Core::StatsReport report = m_server->stats->report();
    return Prometheus::exposition(report, Prometheus::currentExtras(report));
}

Pipeline::Outcome StatsApp::handle(Http::Exchange &exchange)
{
    const QByteArrayView method = exchange.request().method();
    if (method != "GET" && method != "HEAD") {
        exchange.response().setHeader("Allow", "GET, HEAD");
        Http::respondWithError(exchange, 405);
        return Pipeline::Outcome::Answered;
    }
    const QByteArrayView query = exchange.request().query();
    exchange.response().setHeader("Cache-Control", "no-store");
    const QByteArray format = Http::formValue(query, "format");
    if (format == "prometheus") {
        exchange.respond(200, Prometheus::ContentType, prometheusText());
        return Pipeline::Outcome::Answered;
    }
    if (!format.isNull() && format != "json") {
        Http::respondWithError(exchange, 400);
        return Pipeline::Outcome::Answered;
    }
    QByteArray callback = Http::formValue(query, "callback");
    if (callback.isNull())
        callback = Http::formValue(query, "jsonp");
    if (callback.isNull()) {
        exchange.respond(200, "application/json", statsJson());
        return Pipeline::Outcome::Answered;
    }
    if (!isValidCallback(callback)) {
        Http::respondWithError(exchange, 400);
        return Pipeline::Outcome::Answered;
    }
    exchange.response().setHeader("X-Content-Type-Options", "nosniff");
    QByteArray body = callback;
    body += '(';
    body += statsJson();
    body += ");";
    exchange.respond(200, "application/javascript", body);
    return Pipeline::Outcome::Answered;
}

void registerStatsApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.stats"), [](const Pipeline::AppSetup &setup) {
        return std::unique_ptr<Pipeline::App>(std::make_unique<StatsApp>(setup.server));
    });
}

} // namespace Berth::Apps
