#include "pipeline.h"

#include "runtime/statsregistry.h"

#include "http/exchange.h"

#include <QLoggingCategory>

#include <exception>

Q_LOGGING_CATEGORY(lcPipeline, "berth.pipeline")

namespace Berth::Pipeline {

namespace {

void handleAppFailure(Http::Exchange &exchange, const App *app, const char *what)
{
    exchange.appFailed(app->name(), what);
}

} // namespace

void App::countRequest() const
{
    if (m_stats)
        m_stats->addCount(m_requestStat); // only ever added to: per-thread where it can be
}

void Pipeline::run(Http::Exchange &exchange) const
{
    runFrom(exchange, 0);
}

void Pipeline::runFrom(Http::Exchange &exchange, int index) const
{
    for (int i = index; i < int(m_apps.size()); ++i) {
        App *app = m_apps[size_t(i)];
        exchange.setPipelinePosition(this, i);
        Outcome outcome = Outcome::Answered;
        try {
            outcome = app->handle(exchange);
            if (outcome == Outcome::Answered)
                app->countRequest();
        } catch (const std::exception &e) {
            handleAppFailure(exchange, app, e.what());
            return;
        } catch (...) {
            handleAppFailure(exchange, app, "unknown exception");
            return;
        }
        if (outcome == Outcome::Answered)
            return;
    }
    Http::respondWithError(exchange, 404);
}

} // namespace Berth::Pipeline
