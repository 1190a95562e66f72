#pragma once

#include "runtime/statsregistry.h"
#include "service/service.h"

#include <QList>
#include <QTimer>

#include <memory>

namespace Berth::Supervisor {
class ServiceRegistry;
}

namespace Berth::Gateway {
struct GroupSettings;
}

namespace Berth::Services {

class HealthProbe;

// berth.gateway_health: the active health checks of every member group that sets
// `health_check` (docs/gateway.md), from one child per server, so members are not polled by
// every worker. Each member's verdict (rise/fall applied) is a stat in shared memory
// ("hc:@users:10.0.0.5:5001": 0 unknown, 1 down, 2 up) that the proxy of every worker reads when
// it picks a member. Transitions are logged in server.log.
class HealthService final : public Supervisor::Service
{
    Q_OBJECT
public:
    explicit HealthService(const Supervisor::ServiceSetup &setup);
    ~HealthService() override;

    bool prepare(QStringList *errors) override;
    bool start(QStringList *errors) override;
    void drain() override;
    void stopNow() override;
    QStringList statNames() const override;

private:
    Supervisor::ServiceSetup m_setup;
    Core::StatsRegistry m_stats;
    QStringList m_statNames;
    QList<std::shared_ptr<Gateway::GroupSettings>> m_groups; // what the probes point at
    QList<HealthProbe *> m_probes;
};

void registerHealthService(Supervisor::ServiceRegistry &registry);

} // namespace Berth::Services
