#pragma once

#include "calltemplate.h"

#include "apps/subrequest/subrequests.h"
#include "pipeline/app.h"

#include <QHash>
#include <QList>

#include <chrono>
#include <memory>
#include <vector>

namespace Berth::Pipeline {
class AppRegistry;
}

namespace Berth::Compose {

// berth.compose, a backend for frontend as configuration (docs/gateway.md): each request sends
// the section's calls in parallel (Subrequests::Batch) and answers 200 with
//   {"users": <body>, "orders": <body>, "_calls": {"users": {"status": 200, "ms": 12}, ...}}
// where a JSON body is embedded as it came, any other body as a string, and a call that
// failed (no answer, timeout, deadline, body over max_body, a 5xx status, a placeholder without
// a usable value) is null with its error in _calls. One instance per event-loop thread.
class ComposeApp final : public Pipeline::App
{
public:
    struct Settings
    {
        QList<CallTemplate> calls;
        std::chrono::milliseconds timeout{5000};
        std::chrono::milliseconds deadline{10000};
        qint64 maxBody = 1 << 20;
        bool inherit = true;
    };
    // groups: the targets of the calls' groups, by name ("@users").
    ComposeApp(Settings settings, QHash<QString, std::shared_ptr<Subrequests::GroupTarget>> groups);
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

    // For tests: local calls resolve through this router instead of the thread's.
    void setRouter(const Http::RequestRouter *router) { m_router = router; }

    // The JSON answer for these results (in the order of the calls); what failed before it
    // was sent (a placeholder) comes as a result with an error.
    static QByteArray combine(const QList<CallTemplate> &calls,
                              const std::vector<Subrequests::Result> &results);

private:
    Settings m_settings;
    QHash<QString, std::shared_ptr<Subrequests::GroupTarget>> m_groups;
    const Http::RequestRouter *m_router = nullptr;
};

void registerComposeApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Compose
