#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

#include "runtime/statsregistry.h"

#include <QByteArray>
#include <QJsonObject>

namespace Berth::Apps {

// berth.stats (brim's wsgi_stats): the server's stats as JSON — start time, request counts by
// status class, bytes, connections, latency buckets and every app-declared stat, aggregated over
// all workers, then each worker's own values under "workers". `?callback=` or `?jsonp=` wraps it
// for JSONP; the callback name is validated so the endpoint can't be used to reflect script.
// `?format=prometheus` answers the Prometheus text exposition instead (docs/stats.md).
class StatsApp final : public Pipeline::App
{
public:
    explicit StatsApp(Core::ServerContext *server)
        : m_server(server)
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

    QByteArray statsJson() const;
    QByteArray prometheusText() const;
    // A dotted JavaScript identifier path of at most 128 characters ("cb", "app.on_stats").
    static bool isValidCallback(QByteArrayView name);

private:
    static QJsonObject workerJson(const Core::StatsReport &report, const Core::WorkerStats &worker);

    Core::ServerContext *m_server;
};

void registerStatsApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
