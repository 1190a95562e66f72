#pragma once

#include "programstate.h"
#include "runtime/statsregistry.h"
#include "service/service.h"

#include <QElapsedTimer>
#include <QTimer>

#include <memory>

namespace Berth::Supervisor {
class ServiceRegistry;
}

namespace Berth::Daemons {

class Daemon;
class ExternalProgram;

// The `daemon` service kind: one berthd child per [daemon:NAME] and instance, a small process
// supervisor of its one program (an external `command`, or a C++ Daemon for `call`). It runs
// ProgramStateMachine (supervisord's states) and publishes the state in its shared-memory slot:
// the stats daemon_state, daemon_pid, daemon_start_time, daemon_restarts, daemon_exit_status
// and the slot's status line (`berthd status`).
//
// depends_on is read from the other daemons' slots: this one starts once every live child of
// each daemon it depends on reports RUNNING in daemon_state, and when draining it stops its
// program only after no live daemon that depends on it still runs a program (reverse order).
// The berthd child stays up in FATAL (so the master does not spin it) and answers the control
// requests start, stop, restart and status (`berthd daemon ...`).
class DaemonService final : public Supervisor::Service
{
    Q_OBJECT
public:
    explicit DaemonService(const Supervisor::ServiceSetup &setup);
    ~DaemonService() override;

    bool prepare(QStringList *errors) override;
    bool start(QStringList *errors) override;
    void drain() override;
    void stopNow() override;
    QStringList statNames() const override;
    void control(const QString &verb, const QStringList &arguments, ControlAnswer answer) override;

private:
    void act(ProgramStateMachine::Action action);
    void spawn();
    void onExited(int waitStatus);
    void schedule();
    void onTimer();
    void requestStart();
    void requestStop();
    bool dependenciesRunning(QString *waitingFor) const;
    bool dependentsStopped() const;
    // Live slots of this daemon (every generation) beyond `instances`: a reload replaces it.
    bool beingReplaced() const;
    // A child of this daemon from an older generation is still live (a reload, a restart): the
    // new one starts its program after it ended, so the program never runs twice.
    bool predecessorRunning() const;
    void publish();
    void settleWaiters();
    qint64 now() const { return m_clock.elapsed(); }

    Supervisor::ServiceSetup m_setup;
    QString m_section;
    QString m_label;
    QString m_call;
    QStringList m_dependsOn;
    QStringList m_dependents; // daemons whose depends_on names this one
    int m_instances = 1;
    int m_stopSignal = 15;
    ProgramStateMachine m_machine;
    std::unique_ptr<ExternalProgram> m_program;
    std::unique_ptr<Daemon> m_daemon;
    bool m_daemonRunning = false;
    bool m_wantRunning = true; // start requested (the first start, `daemon start`)
    bool m_draining = false;
    bool m_startAfterStop = false; // restart: start again once stopped
    qint64 m_lastSpawnWallMs = 0;
    pid_t m_lastPid = 0;
    QString m_waitingFor;
    QList<std::pair<ProgramState, ControlAnswer>> m_waiters; // answered once that state is reached
    QElapsedTimer m_clock;
    QTimer m_timer;   // the state machine's next deadline
    QTimer m_refresh; // status line (uptime), dependencies
    Core::StatsRegistry m_stats;
    int m_stateStat = -1;
    int m_pidStat = -1;
    int m_startTimeStat = -1;
    int m_restartsStat = -1;
    int m_exitStat = -1;
};

void registerDaemonService(Supervisor::ServiceRegistry &registry);

} // namespace Berth::Daemons
