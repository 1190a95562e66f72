#include "daemonservice.h"

#include "commandline.h"
#include "daemon/daemon.h"
#include "daemonconfig.h"
#include "daemonsample.h"
#include "externalprogram.h"
#include "plugin/pluginloader.h"
#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "service/serviceregistry.h"

#include <config/config.h>

#include <QDateTime>
#include <QLoggingCategory>

#include <csignal>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcDaemon, "berth.daemon")

namespace Berth::Daemons {

namespace {

constexpr int RefreshMs = 200; // status line, dependencies, dependents while draining

bool programUp(ProgramState state)
{
    return state == ProgramState::Starting || state == ProgramState::Running ||
           state == ProgramState::Stopping;
}

} // namespace

DaemonService::DaemonService(const Supervisor::ServiceSetup &setup)
    : m_setup(setup)
    , m_section(QString::fromLatin1(SectionPrefix) + setup.name)
{
    m_clock.start();
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &DaemonService::onTimer);
    connect(&m_refresh, &QTimer::timeout, this, [this] {
        if (!m_draining && m_wantRunning && m_machine.state() == ProgramState::Stopped &&
            !m_startAfterStop)
            requestStart(); // still waiting for a dependency
        if (m_draining && !m_program && !m_daemon)
            return;
        if (m_draining && m_machine.state() != ProgramState::Stopping &&
            m_machine.state() != ProgramState::Stopped && dependentsStopped())
            requestStop();
        publish();
    });
}

DaemonService::~DaemonService() = default;

bool DaemonService::prepare(QStringList *errors)
{
    const Config::Config &config = *m_setup.config;
    const int instances = int(config.getInt(m_section, QStringLiteral("instances")));
    m_instances = instances;
    m_label =
        instances > 1 ? QStringLiteral("%1.%2").arg(m_setup.name).arg(m_setup.index) : m_setup.name;
    m_machine = ProgramStateMachine(readPolicy(config, m_section));
    m_stopSignal = signalNumber(config.getString(m_section, QStringLiteral("stop_signal")));
    m_dependsOn = dependenciesOf(config, m_section);
    for (const Config::Section *other :
         config.sectionsWithPrefix(QString::fromLatin1(SectionPrefix))) {
        if (dependenciesOf(config, other->name).contains(m_setup.name))
            m_dependents.append(other->name.mid(qsizetype(qstrlen(SectionPrefix))));
    }
    QString error;
    if (!m_setup.shared || !m_stats.attach(*m_setup.shared, m_setup.slot, &error)) {
        errors->append(QStringLiteral("[%1]: %2").arg(m_section, error));
        return false;
    }
    m_stateStat = m_stats.declare(QStringLiteral("daemon_state"), Core::StatType::Worker);
    m_pidStat = m_stats.declare(QStringLiteral("daemon_pid"), Core::StatType::Worker);
    m_startTimeStat = m_stats.declare(QStringLiteral("daemon_start_time"), Core::StatType::Worker);
    m_restartsStat = m_stats.declare(QStringLiteral("daemon_restarts"), Core::StatType::Worker);
    m_exitStat = m_stats.declare(QStringLiteral("daemon_exit_status"), Core::StatType::Worker);
    m_call = config.getString(m_section, QStringLiteral("call"));
    if (!m_call.isEmpty()) {
        const DaemonKind *kind = DaemonRegistry::builtin().find(m_call);
        if (!kind) {
            errors->append(QStringLiteral("[%1] call: unknown daemon '%2'").arg(m_section, m_call));
            return false;
        }
        m_daemon = kind->create();
        DaemonContext context;
        context.config = &config;
        context.section = m_section;
        context.name = m_label;
        context.instance = m_setup.index;
        context.stats = &m_stats;
        if (!m_daemon->prepare(context, errors))
            return false;
        connect(m_daemon.get(), &Daemon::stopped, this, [this] {
            if (m_daemonRunning) {
                m_daemonRunning = false;
                onExited(0);
            }
        });
        connect(m_daemon.get(), &Daemon::failed, this, [this](const QString &why) {
            qCWarning(lcDaemon).noquote() << m_label << "failed:" << why;
            if (m_daemonRunning) {
                m_daemonRunning = false;
                m_daemon->stop();
                onExited(1 << 8);
            }
        });
    } else {
        if (::geteuid() != 0 && (config.isSet(m_section, QStringLiteral("user")) ||
                                 config.isSet(m_section, QStringLiteral("group"))))
            qCWarning(lcDaemon).noquote()
                << QStringLiteral("[%1] user/group ignored: berthd does not run as root, so the "
                                  "program runs as the server's user")
                       .arg(m_section);
        m_program = std::make_unique<ExternalProgram>(readProgram(config, m_section, m_setup.index),
                                                      m_label);
        connect(m_program.get(), &ExternalProgram::exited, this, &DaemonService::onExited);
    }
    return true;
}

bool DaemonService::start(QStringList *)
{
    m_refresh.start(RefreshMs);
    publish();
    // The child is ready at once: its program's state is its own business (a FATAL program
    // does not fail the master's start or a reload).
    markReady();
    requestStart();
    return true;
}

void DaemonService::requestStart()
{
    m_wantRunning = true;
    if (m_draining)
        return;
    QString waitingFor;
    if (predecessorRunning())
        waitingFor = QStringLiteral("its previous generation");
    if (!waitingFor.isEmpty() || !dependenciesRunning(&waitingFor)) {
        if (m_waitingFor != waitingFor)
            qCInfo(lcDaemon).noquote() << m_label << "waits for" << waitingFor
                                       << (waitingFor == QLatin1String("its previous generation")
                                               ? "to stop"
                                               : "to be RUNNING (depends_on)");
        m_waitingFor = waitingFor;
        publish();
        return;
    }
    m_waitingFor.clear();
    act(m_machine.start(now()));
}

void DaemonService::requestStop()
{
    act(m_machine.stop(now()));
    settleWaiters();
    publish();
}

void DaemonService::act(ProgramStateMachine::Action action)
{
    switch (action) {
    case ProgramStateMachine::Action::None:
        break;
    case ProgramStateMachine::Action::Spawn:
        spawn();
        break;
    case ProgramStateMachine::Action::SendStopSignal:
        qCInfo(lcDaemon).noquote() << m_label << "stopping";
        if (m_program)
            m_program->signalGroup(m_stopSignal);
        else if (m_daemon && m_daemonRunning)
            m_daemon->stop();
        break;
    case ProgramStateMachine::Action::KillGroup:
        qCWarning(lcDaemon).noquote()
            << m_label << "did not stop within stop_timeout; killing its process group";
        if (m_program)
            m_program->signalGroup(SIGKILL);
        break;
    }
    schedule();
}

void DaemonService::spawn()
{
    QString error;
    QStringList errors;
    bool ok;
    if (m_program) {
        ok = m_program->spawn(&error);
    } else {
        ok = m_daemon->start(&errors);
        error = errors.join(QStringLiteral("; "));
        m_daemonRunning = ok;
    }
    if (!ok) {
        qCWarning(lcDaemon).noquote() << m_label << "cannot start:" << error;
        m_machine.spawnFailed(now());
        if (m_machine.state() == ProgramState::Fatal)
            qCCritical(lcDaemon).noquote()
                << m_label << "is FATAL: it could not be started" << m_machine.failedStarts()
                << "times in a row; `berthd daemon start" << m_setup.name << "` tries again";
    } else {
        m_machine.spawned(now());
        m_lastSpawnWallMs = QDateTime::currentMSecsSinceEpoch();
        m_lastPid = m_program ? m_program->pid() : ::getpid();
        qCInfo(lcDaemon).noquote()
            << QStringLiteral("%1 started (pid %2)").arg(m_label).arg(m_lastPid);
    }
    settleWaiters();
    publish();
    schedule();
}

void DaemonService::onExited(int waitStatus)
{
    const ProgramState before = m_machine.state();
    m_machine.exited(now(), waitStatus);
    const ProgramState after = m_machine.state();
    const QString how =
        waitStatus < 0 ? QStringLiteral("ended") : Core::describeWaitStatus(waitStatus);
    if (before == ProgramState::Stopping) {
        qCInfo(lcDaemon).noquote() << m_label << "stopped:" << how;
    } else if (after == ProgramState::Fatal) {
        qCCritical(lcDaemon).noquote()
            << QStringLiteral("%1 %2 before start_seconds; FATAL after %3 failed starts in a row "
                              "(`berthd daemon start %4` tries again)")
                   .arg(m_label, how)
                   .arg(m_machine.failedStarts())
                   .arg(m_setup.name);
    } else if (after == ProgramState::Backoff) {
        qCWarning(lcDaemon).noquote()
            << QStringLiteral("%1 %2 before start_seconds (failed start %3); retrying in %4 s")
                   .arg(m_label, how)
                   .arg(m_machine.failedStarts())
                   .arg(double(m_machine.nextDeadlineMs() - now()) / 1000.0, 0, 'f', 1);
    } else {
        const qint64 retry = m_machine.nextDeadlineMs();
        qCWarning(lcDaemon).noquote()
            << QStringLiteral("%1 %2; %3")
                   .arg(m_label, how,
                        retry < 0 ? QStringLiteral("not restarted (autorestart)")
                                  : QStringLiteral("restarting in %1 s")
                                        .arg(double(retry - now()) / 1000.0, 0, 'f', 1));
    }
    if (m_machine.state() == ProgramState::Stopped && m_startAfterStop && !m_draining) {
        m_startAfterStop = false;
        requestStart();
    }
    settleWaiters();
    publish();
    schedule();
    if (m_draining && !programUp(m_machine.state()))
        markDrained();
}

void DaemonService::schedule()
{
    const qint64 deadline = m_machine.nextDeadlineMs();
    if (deadline < 0) {
        m_timer.stop();
        return;
    }
    m_timer.start(int(qBound(qint64(0), deadline - now(), qint64(INT_MAX))));
}

void DaemonService::onTimer()
{
    const ProgramState before = m_machine.state();
    const ProgramStateMachine::Action action = m_machine.poll(now());
    if (before == ProgramState::Starting && m_machine.state() == ProgramState::Running)
        qCInfo(lcDaemon).noquote() << m_label << "is RUNNING";
    if (action == ProgramStateMachine::Action::Spawn && m_draining)
        return;
    act(action);
    settleWaiters();
    publish();
}

bool DaemonService::dependenciesRunning(QString *waitingFor) const
{
    const Core::SharedState *shared = m_setup.shared;
    if (m_dependsOn.isEmpty() || !shared)
        return true;
    const int stat = shared->findStat(QStringLiteral("daemon_state"));
    for (const QString &dep : m_dependsOn) {
        int running = 0;
        bool stopped = false;
        for (int i = 0; i < shared->slotCount(); ++i) {
            const Core::WorkerSlot *slot = shared->slot(i);
            if (!slot->isLive() || slot->kind() != QLatin1String(Kind) || slot->name() != dep)
                continue;
            if (stat >= 0 &&
                slot->values[stat].load(std::memory_order_relaxed) == qint64(ProgramState::Running))
                ++running;
            else
                stopped = true;
        }
        if (running == 0 || stopped) {
            *waitingFor = dep;
            return false;
        }
    }
    return true;
}

bool DaemonService::beingReplaced() const
{
    const Core::SharedState *shared = m_setup.shared;
    if (!shared)
        return false;
    int live = 0;
    for (int i = 0; i < shared->slotCount(); ++i) {
        const Core::WorkerSlot *slot = shared->slot(i);
        live +=
            slot->isLive() && slot->kind() == QLatin1String(Kind) && slot->name() == m_setup.name;
    }
    return live > m_instances;
}

bool DaemonService::predecessorRunning() const
{
    // The master starts the new generation's children first and then stops the old ones (a
    // reload, `berthd restart`): while both are live there are more slots than instances.
    return beingReplaced();
}

bool DaemonService::dependentsStopped() const
{
    const Core::SharedState *shared = m_setup.shared;
    // A reload replacing this daemon leaves its dependents running: nothing to wait for.
    if (m_dependents.isEmpty() || !shared || beingReplaced())
        return true;
    const int stat = shared->findStat(QStringLiteral("daemon_state"));
    for (int i = 0; i < shared->slotCount(); ++i) {
        const Core::WorkerSlot *slot = shared->slot(i);
        if (!slot->isLive() || slot->kind() != QLatin1String(Kind) ||
            !m_dependents.contains(slot->name()))
            continue;
        if (stat >= 0 &&
            programUp(ProgramState(slot->values[stat].load(std::memory_order_relaxed))))
            return false;
    }
    return true;
}

void DaemonService::publish()
{
    const ProgramState state = m_machine.state();
    const bool up = programUp(state);
    const pid_t pid = up ? (m_program ? m_program->pid() : ::getpid()) : 0;
    m_stats.set(m_stateStat, qint64(state));
    m_stats.set(m_pidStat, pid);
    m_stats.set(m_startTimeStat, up ? m_lastSpawnWallMs / 1000 : 0);
    m_stats.set(m_restartsStat, m_machine.restarts());
    m_stats.set(m_exitStat, m_machine.lastExitStatus());
    QString line = QStringLiteral("daemon %1: %2").arg(m_label, programStateName(state));
    if (up)
        line += QStringLiteral(", pid %1, up %2 s")
                    .arg(pid)
                    .arg((QDateTime::currentMSecsSinceEpoch() - m_lastSpawnWallMs) / 1000);
    if (!m_waitingFor.isEmpty() && state == ProgramState::Stopped && m_wantRunning)
        line += QStringLiteral(", waiting for %1").arg(m_waitingFor);
    line += QStringLiteral(", restarts %1, last exit %2")
                .arg(m_machine.restarts())
                .arg(m_machine.lastExitStatus() < 0
                         ? QStringLiteral("-")
                         : Core::describeWaitStatus(m_machine.lastExitStatus()));
    if (m_daemon && up)
        line += QStringLiteral("; ") + m_daemon->statusLine();
    if (Core::WorkerSlot *slot = m_stats.workerSlot())
        slot->setStatus(line);
}

void DaemonService::settleWaiters()
{
    for (qsizetype i = 0; i < m_waiters.size();) {
        const ProgramState want = m_waiters[i].first;
        const ProgramState state = m_machine.state();
        const bool reached = state == want ||
                             // A start is settled once it ran start_seconds or gave up (FATAL);
                             // BACKOFF is still trying.
                             (want == ProgramState::Running &&
                              (state == ProgramState::Fatal || state == ProgramState::Exited)) ||
                             (want == ProgramState::Stopped && state == ProgramState::Fatal);
        if (!reached) {
            ++i;
            continue;
        }
        const ControlAnswer answer = m_waiters[i].second;
        m_waiters.removeAt(i);
        answer(state == want, {QStringLiteral("%1: %2").arg(m_label, programStateName(state))});
    }
}

void DaemonService::control(const QString &verb, const QStringList &, ControlAnswer answer)
{
    const ProgramState state = m_machine.state();
    if (verb == QLatin1String("status")) {
        publish();
        answer(true,
               {m_stats.workerSlot() ? m_stats.workerSlot()->status() : programStateName(state)});
    } else if (m_draining) {
        answer(false, {QStringLiteral("%1: the daemon's child is stopping").arg(m_label)});
    } else if (verb == QLatin1String("stop")) {
        // Stays stopped until `daemon start` or a reload that changes its section.
        m_wantRunning = false;
        m_startAfterStop = false;
        m_waitingFor.clear();
        qCInfo(lcDaemon).noquote() << "control: stop" << m_label;
        m_waiters.append({ProgramState::Stopped, std::move(answer)});
        requestStop();
    } else if (verb == QLatin1String("start") || verb == QLatin1String("restart")) {
        qCInfo(lcDaemon).noquote() << "control:" << verb << m_label;
        m_wantRunning = true;
        const bool restart = verb == QLatin1String("restart");
        if (state == ProgramState::Running && !restart) {
            answer(true, {QStringLiteral("%1: already RUNNING").arg(m_label)});
            return;
        }
        m_waiters.append({ProgramState::Running, std::move(answer)});
        if (programUp(state)) {
            m_startAfterStop = true;
            requestStop();
        } else {
            requestStart();
            settleWaiters();
        }
    } else {
        answer(false, {QStringLiteral("%1: unknown request '%2' (start, stop, restart, status)")
                           .arg(m_label, verb)});
    }
}

void DaemonService::drain()
{
    if (m_draining)
        return;
    m_draining = true;
    m_startAfterStop = false;
    if (Core::WorkerSlot *slot = m_stats.workerSlot())
        slot->state.store(int(Core::WorkerState::Draining), std::memory_order_release);
    // A pending restart or a wait for a dependency ends here.
    if (!programUp(m_machine.state())) {
        m_machine.stop(now());
        m_timer.stop();
    }
    for (auto &waiter : m_waiters)
        waiter.second(false, {QStringLiteral("%1: the daemon's child is stopping").arg(m_label)});
    m_waiters.clear();
    publish();
    if (!programUp(m_machine.state())) {
        markDrained();
        return;
    }
    if (dependentsStopped())
        requestStop();
    else
        qCInfo(lcDaemon).noquote() << m_label << "stops after" << m_dependents.join(u',');
}

void DaemonService::stopNow()
{
    m_draining = true;
    if (m_program)
        m_program->signalGroup(SIGKILL);
    else if (m_daemon && m_daemonRunning) {
        m_daemonRunning = false;
        m_daemon->stop();
    }
    m_program.reset(); // kills and reaps what is left
    markDrained();
}

QStringList DaemonService::statNames() const
{
    QStringList names{QStringLiteral("daemon_state"), QStringLiteral("daemon_pid"),
                      QStringLiteral("daemon_start_time"), QStringLiteral("daemon_restarts"),
                      QStringLiteral("daemon_exit_status")};
    if (m_daemon)
        names += m_daemon->statNames();
    return names;
}

void registerDaemonService(Supervisor::ServiceRegistry &registry)
{
    registerDaemonSample(DaemonRegistry::builtin());
    Plugins::registerPluginDaemons(DaemonRegistry::builtin());
    registry.add(Supervisor::ServiceKind{
        QString::fromLatin1(Kind), daemonChildSpecs, validateDaemons,
        [](const Supervisor::ServiceSetup &setup) -> std::unique_ptr<Supervisor::Service> {
            return std::make_unique<DaemonService>(setup);
        }});
}

} // namespace Berth::Daemons
