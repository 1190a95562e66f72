#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

namespace Berth::Core {
class ServerContext;
}

namespace Berth::Apps {

// berth.metrics: the Prometheus exposition at a route of its own (usually /metrics), the same
// text berth.stats answers to ?format=prometheus. A scraper whose Accept header prefers
// `application/openmetrics-text` gets OpenMetrics 1.0.0 instead (ending in "# EOF"); the answer
// varies on Accept. docs/stats.md.
class MetricsApp final : public Pipeline::App
{
public:
    explicit MetricsApp(Core::ServerContext *server)
        : m_server(server)
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

private:
    Core::ServerContext *m_server;
};

void registerMetricsApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
