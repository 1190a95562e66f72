#pragma once

#include "runtime/statsregistry.h"
#include "service/service.h"

#include <QTimer>

namespace Berth::Supervisor {
class ServiceRegistry;
}

namespace Berth::Services {

// berth.ticker, a toy service kind for the tests (only with BERTH_TEST_APPS=1): one child per
// [ticker:NAME] section, no listener, that every `interval` counts a tick in its `ticks` stat
// and appends "tick N pid P generation G" to `file`. `mode = crash` aborts on the first tick.
// It exists to prove that a service kind plugs into the supervisor without touching it.
class TickerService final : public Supervisor::Service
{
    Q_OBJECT
public:
    explicit TickerService(const Supervisor::ServiceSetup &setup);

    bool prepare(QStringList *errors) override;
    bool start(QStringList *errors) override;
    void drain() override;
    void stopNow() override;
    QStringList statNames() const override;

private:
    void tick();
    void writeLine(const QByteArray &line);

    Supervisor::ServiceSetup m_setup;
    QString m_section;
    QString m_file;
    bool m_crash = false;
    qint64 m_intervalMs = 1000;
    qint64 m_ticks = 0;
    int m_ticksStat = -1;
    Core::StatsRegistry m_stats;
    QTimer m_timer;
};

void registerTickerService(Supervisor::ServiceRegistry &registry);

} // namespace Berth::Services
