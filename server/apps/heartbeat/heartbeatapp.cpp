#include "heartbeatapp.h"

#include "http/exchange.h"
#include "runtime/servercontext.h"

namespace Berth::Apps {

Pipeline::Outcome HeartbeatApp::handle(Http::Exchange &exchange)
{
    exchange.response().setHeader("Cache-Control", "no-store");
    if (m_server && m_server->isServerStopping())
        exchange.respond(503, "text/plain; charset=utf-8", QByteArrayLiteral("DRAINING\n"));
    else
        exchange.respond(200, "text/plain; charset=utf-8", QByteArrayLiteral("OK\n"));
    return Pipeline::Outcome::Answered;
}

void registerHeartbeatApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.heartbeat"), [](const Pipeline::AppSetup &setup) {
        return std::unique_ptr<Pipeline::App>(std::make_unique<HeartbeatApp>(setup.server));
    });
}

} // namespace Berth::Apps
