#pragma once

#include "ratelimitpolicy.h"

#include "pipeline/app.h"

#include <memory>

namespace Berth::Pipeline {
class AppRegistry;
}

namespace Berth::Apps {

// `call = berth.rate_limit`: limits the requests that reach the apps after it in a pipeline
// (`/api = ratelimit @users`), 429 over the limit (docs/gateway.md, "Rate limits").
class RateLimitApp final : public Pipeline::App
{
public:
    explicit RateLimitApp(std::shared_ptr<RateLimitPolicy> policy)
        : m_policy(std::move(policy))
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

private:
    std::shared_ptr<RateLimitPolicy> m_policy;
};

void registerRateLimitApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
