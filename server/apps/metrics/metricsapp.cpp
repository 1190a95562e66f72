#include "metricsapp.h"

#include "apps/stats/prometheus.h"

#include "http/exchange.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

namespace Berth::Apps {

Pipeline::Outcome MetricsApp::handle(Http::Exchange &exchange)
{
    const QByteArrayView method = exchange.request().method();
    if (method != "GET" && method != "HEAD") {
        exchange.response().setHeader("Allow", "GET, HEAD");
        Http::respondWithError(exchange, 405);
        return Pipeline::Outcome::Answered;
    }
    exchange.response().setHeader("Cache-Control", "no-store");
    exchange.response().setHeader("Vary", "Accept");
    const bool openMetrics = Prometheus::prefersOpenMetrics(exchange.request().header("Accept"));
    const Prometheus::Format format =
        openMetrics ? Prometheus::Format::OpenMetrics : Prometheus::Format::Text;
    QByteArray body;
    if (m_server && m_server->stats) {
        const Core::StatsReport report = m_server->stats->report();
        body = Prometheus::exposition(report, Prometheus::currentExtras(report), format);
    }
    exchange.respond(
        200, openMetrics ? Prometheus::OpenMetricsContentType : Prometheus::ContentType, body);
    return Pipeline::Outcome::Answered;
}

void registerMetricsApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.metrics"), [](const Pipeline::AppSetup &setup) {
        return std::unique_ptr<Pipeline::App>(std::make_unique<MetricsApp>(setup.server));
    });
}

} // namespace Berth::Apps
