#pragma once

#include "daemon/daemon.h"

#include <QTimer>

namespace Berth::Daemons {

// berth.daemon_sample (brim.daemon_sample.DaemonSample): logs a status line to app.log every
// `interval`, counting them in `iterations` and stamping `last_run` (seconds since the epoch);
// `start_time` is every service's.
class DaemonSample final : public Daemon
{
    Q_OBJECT
public:
    static constexpr const char *Name = "berth.daemon_sample";

    bool prepare(const DaemonContext &context, QStringList *errors) override;
    bool start(QStringList *errors) override;
    void stop() override;
    QString statusLine() const override;
    QStringList statNames() const override;

private:
    void iterate();

    DaemonContext m_context;
    qint64 m_intervalMs = 60'000;
    int m_iterationsStat = -1;
    int m_lastRunStat = -1;
    qint64 m_iterations = 0;
    qint64 m_lastRun = 0;
    QTimer m_timer;
};

// Registers berth.daemon_sample in registry.
void registerDaemonSample(DaemonRegistry &registry);

} // namespace Berth::Daemons
