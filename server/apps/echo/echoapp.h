#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

namespace Berth::Apps {

// berth.echo (brim's wsgi_echo): answers 200 with the request body, up to max_echo bytes;
// further bytes are read and ignored. The reply carries the request's Content-Type.
class EchoApp final : public Pipeline::App
{
public:
    explicit EchoApp(qint64 maxEcho, Core::ServerContext *server = nullptr);
    Pipeline::Outcome handle(Http::Exchange &exchange) override;
    void declareStats();

private:
    qint64 m_maxEcho;
    Core::ServerContext *m_server;
    int m_requestsStat = -1;
};

void registerEchoApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
