#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

#include <QHostAddress>
#include <QJsonObject>
#include <QList>
#include <QPair>

namespace Berth::Apps {

// berth.debug (server-core's debug page): what an operator needs when something is off —
// version, pid, uptime, listeners, threads, stats, the configuration with every secret masked,
// and the request as the server parsed it. Off unless routed; answers only `allow`ed clients
// (loopback by default), everyone else gets 403. `?format=json` for tools.
class DebugApp final : public Pipeline::App
{
public:
    using Subnet = QPair<QHostAddress, int>;

    DebugApp(Core::ServerContext *server, QList<Subnet> allowed);
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

    QJsonObject report(const Http::Exchange &exchange) const;
    // Keys whose values never leave the server: secret, password, passphrase, token ...
    static bool isSecretKey(const QString &key);

private:
    bool isAllowed(const QHostAddress &address) const;

    Core::ServerContext *m_server;
    QList<Subnet> m_allowed;
};

void registerDebugApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
