#include "statsapp.h"

#include "core/servercontext.h"
#include "core/statsregistry.h"
#include "http/exchange.h"
#include "pipeline/pipeline.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>

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

// The first value of a query parameter, percent-decoded.
QByteArray queryValue(QByteArrayView query, QByteArrayView name)
{
    qsizetype start = 0;
    while (start <= query.size()) {
        qsizetype end = query.indexOf('&', start);
        if (end < 0)
            end = query.size();
        const QByteArrayView pair = query.sliced(start, end - start);
        const qsizetype eq = pair.indexOf('=');
        const QByteArrayView key = eq < 0 ? pair : pair.first(eq);
        if (key == name) {
            QByteArray value = eq < 0 ? QByteArray("") : pair.sliced(eq + 1).toByteArray();
            return QByteArray::fromPercentEncoding(value.replace('+', ' '));
        }
        start = end + 1;
    }
    return {};
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

QByteArray StatsApp::statsJson() const
{
    QJsonObject root;
    root.insert(QStringLiteral("server"), m_server ? m_server->serverName : QString());
    root.insert(QStringLiteral("pid"), qint64(::getpid()));
    root.insert(QStringLiteral("now"), QDateTime::currentSecsSinceEpoch());
    if (m_server && m_server->stats) {
        using S = Core::StatsRegistry;
        const S &stats = *m_server->stats;
        const qint64 start = stats.value(S::StartTime);
        root.insert(QStringLiteral("start_time"), start);
        root.insert(QStringLiteral("uptime"), QDateTime::currentSecsSinceEpoch() - start);
        root.insert(QStringLiteral("requests"), stats.value(S::Requests));
        QJsonObject status;
        for (int i = 0; i < 5; ++i)
            status.insert(QStringLiteral("%1xx").arg(i + 1), stats.value(S::Status1xx + i));
        root.insert(QStringLiteral("status"), status);
        root.insert(QStringLiteral("bytes_in"), stats.value(S::BytesIn));
        root.insert(QStringLiteral("bytes_out"), stats.value(S::BytesOut));
        root.insert(QStringLiteral("active_connections"), stats.value(S::ActiveConnections));
        root.insert(QStringLiteral("connections"), stats.value(S::TotalConnections));
        root.insert(QStringLiteral("bad_requests"), stats.value(S::BadRequests));
        QJsonObject latency;
        latency.insert(QStringLiteral("lt_1ms"), stats.value(S::LatencyUnder1ms));
        latency.insert(QStringLiteral("lt_10ms"), stats.value(S::LatencyUnder10ms));
        latency.insert(QStringLiteral("lt_100ms"), stats.value(S::LatencyUnder100ms));
        latency.insert(QStringLiteral("lt_1s"), stats.value(S::LatencyUnder1s));
        latency.insert(QStringLiteral("ge_1s"), stats.value(S::LatencyOver1s));
        root.insert(QStringLiteral("latency"), latency);
        QJsonObject apps;
        const QList<S::Entry> entries = stats.snapshot();
        for (int i = S::BuiltinCount; i < entries.size(); ++i)
            apps.insert(entries[i].name, entries[i].value);
        root.insert(QStringLiteral("apps"), apps);
    }
    return QJsonDocument(root).toJson(QJsonDocument::Compact);
}

Pipeline::Outcome StatsApp::handle(Http::Exchange &exchange)
{
    const QByteArrayView method = exchange.request().method();
    if (method != "GET" && method != "HEAD") {
        exchange.response().setHeader("Allow", "GET, HEAD");
        Pipeline::respondWithError(exchange, 405);
        return Pipeline::Outcome::Answered;
    }
    const QByteArrayView query = exchange.request().query();
    QByteArray callback = queryValue(query, "callback");
    if (callback.isNull())
        callback = queryValue(query, "jsonp");
    exchange.response().setHeader("Cache-Control", "no-store");
    if (callback.isNull()) {
        exchange.respond(200, "application/json", statsJson());
        return Pipeline::Outcome::Answered;
    }
    if (!isValidCallback(callback)) {
        Pipeline::respondWithError(exchange, 400);
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
