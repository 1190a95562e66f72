#pragma once

#include "runtime/statsregistry.h"
#include "service/service.h"
#include "socketloop.h"

#include <QThread>
#include <QTimer>

#include <memory>
#include <vector>

namespace Berth::Supervisor {
class ServiceRegistry;
}

namespace Berth::Tls {
class TlsContextSlot;
}

namespace Berth::Services {

// The "tcp" and "udp" service kinds: one group of `workers` processes per [tcp:NAME] /
// [udp:NAME] section, each serving the app on `threads` event-loop threads (SocketLoop) over the
// socket the master opened. Reload replaces the processes by generation (new ones accept while
// the old ones finish their connections, within [server] graceful_timeout).
class SocketAppService final : public Supervisor::Service
{
    Q_OBJECT
public:
    SocketAppService(const Supervisor::ServiceSetup &setup, bool datagram);
    ~SocketAppService() override;

    bool prepare(QStringList *errors) override;
    bool start(QStringList *errors) override;
    void drain() override;
    void stopNow() override;
    // Single process (workers = 0): re-reads the [tls] certificate and key for new connections.
    void hangup() override;
    bool isAccepting() const override;
    QStringList statNames() const override;

private:
    void loopStoppedAccepting();
    void loopDrained();
    void stopThreads();

    Supervisor::ServiceSetup m_setup;
    bool m_datagram;
    Core::StatsRegistry m_stats;
    SocketAppShared m_shared;
    std::shared_ptr<Tls::TlsContextSlot> m_tls;
    std::vector<std::unique_ptr<SocketLoop>> m_loops;
    std::vector<std::unique_ptr<QThread>> m_threads;
    int m_loopsNotAccepting = 0;
    int m_drainedLoops = 0;
    int m_listeningLoops = 0;
    bool m_stopping = false;
    QTimer m_gracefulDeadline;
};

// Registers "tcp" and "udp", and the built-in socket apps they serve.
void registerSocketAppServices(Supervisor::ServiceRegistry &registry);

} // namespace Berth::Services
