#pragma once

#include "app.h"
#include "http/exchange.h"

#include <vector>

namespace Berth::Pipeline {

// An ordered chain of apps for one route (brim's `apps =`): each app answers or passes, and the
// end of the chain answers 404. Apps are owned elsewhere (the Router); a Pipeline only points.
class Pipeline final : public Http::AppChain
{
public:
    explicit Pipeline(std::vector<App *> apps = {})
        : m_apps(std::move(apps))
    {}

    // Runs the exchange from the first app.
    void run(Http::Exchange &exchange) const;
    // Runs the exchange from app number `index` (used by Exchange::passToNext).
    void runFrom(Http::Exchange &exchange, int index) const override;

    const std::vector<App *> &apps() const { return m_apps; }

    // The route's own request-body cap (an app's max_body_bytes), or -1 for [limits].
    qint64 maxBodyBytes() const override { return m_maxBodyBytes; }
    void setMaxBodyBytes(qint64 bytes) { m_maxBodyBytes = bytes; }

private:
    std::vector<App *> m_apps;
    qint64 m_maxBodyBytes = -1;
};

} // namespace Berth::Pipeline
