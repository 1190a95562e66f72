#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"
#include "wsgiruntime.h"

#include <memory>

namespace Berth::Core {
class StatsRegistry;
class ThreadMailbox;
} // namespace Berth::Core

namespace Berth::Wsgi {

// berth.wsgi: a Python WSGI app (PEP 3333) hosted in the worker's embedded interpreter. The
// event loop turns each request into a WsgiCall and queues it for one of the app's threads
// (a full queue is answered 503 and counted in NAME.wsgi_rejected); the app's body reads and
// response writes travel through the call, so the loop never waits for Python and Python
// waits, with the GIL released, only for the client.
class WsgiApp final : public Pipeline::App
{
public:
    explicit WsgiApp(WsgiOptions options);

    // Imports the app (the interpreter starts on first use: after the privilege drop).
    bool start(QString *error) override;
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

    void declareStats(Core::StatsRegistry *stats);

private:
    WsgiOptions m_options;
    WsgiRuntime *m_runtime = nullptr;
    std::shared_ptr<Core::ThreadMailbox> m_mailbox; // this app's event-loop thread
    Core::StatsRegistry *m_stats = nullptr;
    int m_rejectedStat = -1;
};

// "/srv/site/app.py:app" (after "wsgi:") -> module and callable; false if it names no module.
bool parseRouteTarget(const QString &target, QString *module, QString *callable);

// berth.wsgi and the `wsgi:` route scheme.
void registerWsgiApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Wsgi
