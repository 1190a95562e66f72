#pragma once

#include "service/service.h"

#include <memory>

namespace Berth::Core {
class Server;
}

namespace Berth::Supervisor {
class ServiceRegistry;
}

namespace Berth::Services {

// The HTTP server as a service kind ("http"): `[server] workers` children sharing every
// listener, replaced by generation on reload (new first, old ones drain once the new are ready),
// recycled after max_requests, never given up on after crashes.
class HttpService final : public Supervisor::Service
{
    Q_OBJECT
public:
    explicit HttpService(const Supervisor::ServiceSetup &setup);
    ~HttpService() override;

    bool prepare(QStringList *errors) override;
    bool start(QStringList *errors) override;
    void drain() override;
    void stopNow() override;
    void hangup() override;
    bool isAccepting() const override;
    QStringList statNames() const override;

private:
    Supervisor::ServiceSetup m_setup;
    std::unique_ptr<Core::Server> m_server;
};

void registerHttpService(Supervisor::ServiceRegistry &registry);

} // namespace Berth::Services
