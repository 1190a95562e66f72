#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

namespace Berth::Apps {

// berth.heartbeat (server-core's __heartbeat__): 200 "OK" while serving, 503 while the server
// stops, so a load balancer stops sending new work before the server goes away. An old
// generation draining during a reload or binary upgrade still answers 200: the server stays.
class HeartbeatApp final : public Pipeline::App
{
public:
    explicit HeartbeatApp(Core::ServerContext *server)
        : m_server(server)
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

private:
    Core::ServerContext *m_server;
};

void registerHeartbeatApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
