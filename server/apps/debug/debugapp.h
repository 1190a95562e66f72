#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

#include <net/addresslist.h>

#include <QJsonObject>

namespace Berth::Apps {

// berth.debug (server-core's debug page): what an operator needs when something is off —
// version, pid, uptime, listeners, threads, stats, the configuration with every secret masked,
// and the request as the server parsed it. Off unless routed; answers only `allow`ed clients
// (loopback by default), everyone else gets 403. `?format=json` for tools.
class DebugApp final : public Pipeline::App
{
public:
    DebugApp(Core::ServerContext *server, Net::AddressList allowed);
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

    QJsonObject report(const Http::Exchange &exchange) const;
    // Keys whose values never leave the server: secret, password, passphrase, token ...
    static bool isSecretKey(const QString &key);

private:
    Core::ServerContext *m_server;
    Net::AddressList m_allowed;
};

void registerDebugApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
