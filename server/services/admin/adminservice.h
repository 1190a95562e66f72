#pragma once

#include "runtime/offloadpool.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"
#include "service/service.h"

#include <memory>

namespace Berth::Core {
class EventLoopThread;
}

namespace Berth::Log {
class LogSink;
}

namespace Berth::Supervisor {
class ServiceRegistry;
}

namespace Berth::Admin {

class AdminApi;

// The admin API as a service kind ("admin"): one child when [admin] enabled, on its own listener
// (ip:port or a unix socket, TLS optional), serving AdminApi on one event-loop thread of the
// engine. Kept across reloads unless [admin], [server], [berth], [cron] or [mailer] changed.
class AdminService final : public Supervisor::Service
{
    Q_OBJECT
public:
    explicit AdminService(const Supervisor::ServiceSetup &setup);
    ~AdminService() override;

    bool prepare(QStringList *errors) override;
    bool start(QStringList *errors) override;
    void drain() override;
    void stopNow() override;
    bool isAccepting() const override;
    QStringList statNames() const override;

private:
    Supervisor::ServiceSetup m_setup;
    Core::StatsRegistry m_stats;
    Core::ServerContext m_context;
    std::unique_ptr<Core::OffloadPool> m_offload;
    std::shared_ptr<Log::LogSink> m_audit;
    std::unique_ptr<AdminApi> m_api;
    std::unique_ptr<Core::EventLoopThread> m_thread;
    QList<int> m_fds;
    bool m_stopping = false;
};

void registerAdminService(Supervisor::ServiceRegistry &registry);

} // namespace Berth::Admin
