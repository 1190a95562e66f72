#pragma once

#include "wssettings.h"

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

#include <atomic>
#include <memory>

namespace Berth::Core {
class ServerContext;
}

namespace Berth::Apps {

// berth.ws_echo: a WebSocket endpoint that sends every text and binary message back as it
// came. Over max_connections open sessions in this worker the upgrade is answered 503.
class WsEchoApp final : public Pipeline::App
{
public:
    // openCount: the worker's count of this app's open sessions, shared by the app instances
    // of its event-loop threads.
    WsEchoApp(const WebSocketAppOptions &options, std::shared_ptr<std::atomic<qint64>> openCount,
              Core::ServerContext *server = nullptr);
    Pipeline::Outcome handle(Http::Exchange &exchange) override;
    void declareStats();

private:
    WebSocketAppOptions m_options;
    std::shared_ptr<std::atomic<qint64>> m_open;
    Core::ServerContext *m_server;
    int m_openStat = -1;
    int m_messagesInStat = -1;
    int m_messagesOutStat = -1;
};

void registerWsEchoApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
