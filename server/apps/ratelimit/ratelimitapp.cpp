#include "ratelimitapp.h"

#include "pipeline/appregistry.h"

#include <config/config.h>

namespace Berth::Apps {

Pipeline::Outcome RateLimitApp::handle(Http::Exchange &exchange)
{
    return m_policy->admit(exchange) ? Pipeline::Outcome::Pass : Pipeline::Outcome::Answered;
}

void registerRateLimitApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.rate_limit"),
                 [](const Pipeline::AppSetup &setup) -> std::unique_ptr<Pipeline::App> {
                     // `rate` is required by the schema; a bad one is reported at file:line.
                     std::shared_ptr<RateLimitPolicy> policy = RateLimitPolicy::fromConfig(
                         setup.config, setup.section, QString(), setup.name, setup.server);
                     if (!policy)
                         return nullptr;
                     auto app = std::make_unique<RateLimitApp>(std::move(policy));
                     app->setName(setup.name);
                     return app;
                 });
}

} // namespace Berth::Apps
