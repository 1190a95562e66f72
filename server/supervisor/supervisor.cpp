#include "supervisor.h"

#include "runtime/sharedregion.h"

#include "broadcastrelay.h"
#include "childprocess.h"
#include "configcheck.h"
#include "controlchannel.h"
#include "log/logging.h"
#include "log/logsink.h"
#include "restartpolicy.h"
#include "runtime/listeners.h"
#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "runtime/signalpipe.h"
#include "runtime/ticketkeys.h"
#include "runtime/workerhealth.h"
#include "service/serviceregistry.h"
#include "snapshottransport.h"
#include "statusreport.h"
#include "symbolizer.h"

#include <QFile>
#include <QLoggingCategory>
#include <QSocketNotifier>

#include <cerrno>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcMaster, "berth.master")

namespace Berth::Supervisor {

Supervisor::Supervisor(QStringList configFiles, int starterFd)
    : m_files(std::move(configFiles))
    , m_starterFd(starterFd)
{
    // Started by an old master's USR2: say "ready" to it as to `berthd start`.
    if (const int upgradeFd = takeUpgradeFd(); upgradeFd >= 0 && m_starterFd < 0)
        m_starterFd = upgradeFd;
    m_clock.start();
    m_relay = new BroadcastRelay(BroadcastRelay::DefaultQueueCapBytes, this);
    connect(m_relay, &BroadcastRelay::controlAnswer, this, &Supervisor::onControlAnswer);
    m_stopDeadline.setSingleShot(true);
    connect(&m_stopDeadline, &QTimer::timeout, this, [this] {
        qCWarning(lcMaster) << "stop grace reached; killing the remaining children";
        for (const Child &c : std::as_const(m_children))
            ::kill(c.pid, SIGKILL);
    });
}

Supervisor::~Supervisor()
{
    for (int fd : std::as_const(m_listenFds))
        ::close(fd);
}

bool Supervisor::loadGeneration(const QStringList &files, Config::Config *config,
                                QStringList *errors)
{
    for (const Config::Diagnostic &d : checkConfiguration(files, config)) {
        if (d.isError())
            errors->append(d.toString());
    }
    return errors->isEmpty();
}

bool Supervisor::prepare()
{
    using namespace std::chrono_literals;
    // Hold on to our own binary before anything can replace it (see selfExecutableFd()).
    Core::selfExecutableFd();
    Config::Config config;
    if (!loadGeneration(m_files, &config, &m_errors))
        return false;
    const QString server = QStringLiteral("server");
    QString error;
    Log::Logging::configure(Log::LogOptions::fromConfig(config)); // checked by loadGeneration()
    if (!Log::Logging::setup(config.getPath(server, QStringLiteral("log_dir")), &error)) {
        m_errors.append(error);
        return false;
    }
    // Every kind's sockets, opened here before the privilege drop (ports < 1024).
    m_listenSpecs = ServiceRegistry::builtin().listenSpecs(config);
    const QList<Core::ListenSpec> &listenSpecs = m_listenSpecs;
    if (!Core::acquireListeners(listenSpecs, &m_listenFds, &error)) {
        m_errors.append(error);
        return false;
    }
    QStringList names;
    for (const Core::ListenSpec &spec : listenSpecs)
        names.append(spec.toString());
    m_listenerSummary = names.join(QStringLiteral(", "));

    int children = 0;
    for (const ChildSpec &spec : ServiceRegistry::builtin().childSpecs(config)) {
        Group group;
        group.spec = spec;
        group.generation = m_generation;
        m_groups.insert(spec.key(), group);
        m_groupOrder.append(spec.key());
        children += spec.count;
    }
    // Two generations overlap during a reload; keep room for both plus recycled children and
    // services a reload adds.
    const int slots = qMin(children * 2 + 8, int(Core::SharedState::MaxSlots));
    const int threads =
        int(qBound(qint64(1), config.getInt(server, QStringLiteral("threads")), qint64(256)));
    // Regions the features of this server share (runtime/sharedregion.h) are named after this
    // master; those of a master that died without removing them go now.
    Core::SharedRegion::removeStaleRegions();
    Core::SharedRegion::becomeInstance();
    m_shared = Core::SharedState::create(slots, threads, &error);
    if (!m_shared) {
        m_errors.append(error);
        return false;
    }
    m_workerTimeoutMs = config.getDuration(server, QStringLiteral("worker_timeout")).count();
    m_ticketKeyRotationMs = qMax<qint64>(
        1000, config.getDuration(QStringLiteral("tls"), QStringLiteral("ssl_ticket_key_rotation"))
                  .count());
    m_snapshots.insert(m_generation, Config::Snapshot::capture(config, quint64(m_generation)));
    m_pidFile = config.getPath(server, QStringLiteral("pid_file"));
    if (!Core::writePidFile(m_pidFile, &error) ||
        !Core::becomeConfiguredUser(config, Core::ownedPaths(config, m_pidFile), &error)) {
        m_errors.append(error);
        return false;
    }
    return true;
}

void Supervisor::start()
{
    installSignalHandlers();
    connect(&m_healthTimer, &QTimer::timeout, this, &Supervisor::checkHealth);
    m_healthTimer.start(1000);
    if (!m_pidFile.isEmpty()) {
        m_control =
            new ControlChannel([this](const QString &command, const QStringList &arguments,
                                      ControlReply reply) { onControl(command, arguments, reply); },
                               this);
        QString error;
        if (!m_control->listen(controlSocketPath(m_pidFile), &error))
            qCWarning(lcMaster).noquote() << "no control socket:" << error;
    }
    int total = 0;
    QStringList groups;
    for (const QString &key : std::as_const(m_groupOrder)) {
        total += m_groups[key].spec.count;
        groups.append(QStringLiteral("%1 x%2").arg(key).arg(m_groups[key].spec.count));
    }
    qCInfo(lcMaster).noquote() << QStringLiteral("berthd %1 master (pid %2) listening on %3, "
                                                 "starting %4 worker(s): %5")
                                      .arg(QStringLiteral(BERTH_VERSION))
                                      .arg(::getpid())
                                      .arg(m_listenerSummary)
                                      .arg(total)
                                      .arg(groups.join(QStringLiteral(", ")));
    for (const QString &key : std::as_const(m_groupOrder)) {
        for (int i = 0; i < m_groups[key].spec.count; ++i)
            spawn(key, i, m_generation);
    }
    reportReady();
}

void Supervisor::installSignalHandlers()
{
    auto *pipe =
        new Core::SignalPipe({SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD}, this);
    connect(pipe, &Core::SignalPipe::received, this, &Supervisor::onSignal);
}

void Supervisor::onSignal(int signo)
{
    switch (signo) {
    case SIGCHLD:
        reapChildren();
        break;
    case SIGUSR2:
        startUpgrade();
        break;
    case SIGHUP:
        qCInfo(lcMaster) << "SIGHUP: reloading";
        reload(nullptr);
        break;
    case SIGTERM:
        qCInfo(lcMaster) << "SIGTERM: graceful stop";
        stopAll(true);
        break;
    case SIGINT:
    case SIGQUIT:
        qCInfo(lcMaster) << (signo == SIGINT ? "SIGINT" : "SIGQUIT") << ": immediate stop";
        stopAll(false);
        break;
    case SIGUSR1: {
        QString error;
        if (Log::Logging::reopenAll(&error))
            qCInfo(lcMaster) << "SIGUSR1: log files reopened";
        else
            qCWarning(lcMaster).noquote() << "SIGUSR1:" << error;
        for (const Child &c : std::as_const(m_children))
            ::kill(c.pid, SIGUSR1);
        break;
    }
    default:
        break;
    }
}

void Supervisor::onControl(const QString &command, const QStringList &arguments, ControlReply reply)
{
    if (command == QLatin1String("status")) {
        // `status json`: one line, the object `berthd status --json` completes.
        reply.finish(arguments == QStringList{QStringLiteral("json")} ? QStringList{statusJson()}
                                                                      : statusLines(),
                     true);
    } else if (command == QLatin1String("reload") && arguments.size() <= 1) {
        const QString mode = arguments.value(0);
        qCInfo(lcMaster).noquote() << "control: reload" << mode << "requested";
        if (mode.isEmpty())
            reload(&reply);
        else if (mode == QLatin1String("canary"))
            reload(&reply, true);
        else if (mode == QLatin1String("commit"))
            commitCanary(reply);
        else if (mode == QLatin1String("abort"))
            abortCanary(reply);
        else
            reply.finish(
                {QStringLiteral("reload: unknown mode '%1' (canary, commit, abort)").arg(mode)},
                false);
    } else if (command == QLatin1String("restart") && arguments.size() == 1) {
        // KIND:NAME, or a name or kind that names one group.
        QStringList matches;
        for (const QString &key : std::as_const(m_groupOrder)) {
            const ChildSpec &spec = m_groups[key].spec;
            if (key == arguments[0] || spec.name == arguments[0] || spec.kind == arguments[0])
                matches.append(key);
        }
        if (matches.size() != 1) {
            reply.finish({matches.isEmpty()
                              ? QStringLiteral("no service %1").arg(arguments[0])
                              : QStringLiteral("%1 names several services: %2")
                                    .arg(arguments[0], matches.join(QStringLiteral(", ")))},
                         false);
            return;
        }
        restartGroup(matches.front());
        reply.finish({QStringLiteral("restarting %1").arg(matches.front())}, true);
    } else if (command == QLatin1String("service") && arguments.size() >= 2) {
        forwardControl(arguments, reply);
    } else {
        reply.finish({QStringLiteral("unknown request '%1' (status, reload [canary|commit|abort], "
                                     "restart KIND:NAME, service KIND:NAME VERB [ARGS])")
                          .arg((QStringList{command} + arguments).join(QLatin1Char(' ')))},
                     false);
    }
}

const ChildSpec *Supervisor::specFor(const Child &child) const
{
    if (m_pending && child.generation == m_pending->generation) {
        const auto it = m_pending->specs.constFind(child.key);
        if (it != m_pending->specs.cend())
            return &it.value();
    }
    const auto it = m_groups.constFind(child.key);
    return it == m_groups.cend() ? nullptr : &it->spec;
}

QString Supervisor::childLabel(const Child &child) const
{
    return QStringLiteral("%1 child %2").arg(child.key).arg(child.index);
}

int Supervisor::freeSlot() const
{
    QList<bool> used(m_shared ? m_shared->slotCount() : 0, false);
    for (const Child &c : m_children) {
        if (c.slot >= 0 && c.slot < used.size())
            used[c.slot] = true;
    }
    for (const Group &g : m_groups) {
        if (g.failedSlot >= 0 && g.failedSlot < used.size())
            used[g.failedSlot] = true;
    }
    for (int i = 0; i < used.size(); ++i) {
        if (!used[i])
            return i;
    }
    return -1;
}

void Supervisor::spawn(const QString &key, int index, int generation)
{
    if (m_stopping)
        return;
    Child child;
    child.key = key;
    child.index = index;
    child.generation = generation;
    const ChildSpec *spec = specFor(child);
    const Config::Snapshot snapshot = m_snapshots.value(generation);
    if (!spec || snapshot.isNull())
        return;
    const int slot = freeSlot();
    if (slot < 0) {
        qCCritical(lcMaster).noquote()
            << "no free shared-memory slot; not starting" << childLabel(child);
        return;
    }
    const Group group = m_groups.value(key);
    m_shared->setService(slot, spec->kind, spec->name, group.restarts, group.lastExitStatus);
    m_shared->prepareSlot(slot);
    QString error;
    ChildLaunch launch;
    launch.kind = spec->kind;
    launch.name = spec->name;
    // The child's sockets among those this master opened. One a reload added is not open here
    // (listener changes take a restart): the child opens it itself, unprivileged.
    for (const Core::ListenSpec &wanted : spec->listenSpecs) {
        for (qsizetype i = 0; i < m_listenSpecs.size() && i < m_listenFds.size(); ++i) {
            if (m_listenSpecs[i].sameSocket(wanted)) {
                launch.listenFds.append(m_listenFds[i]);
                launch.listenNames.append(m_listenSpecs[i].name);
            }
        }
    }
    launch.sharedFd = m_shared->fd();
    launch.slot = slot;
    launch.index = index;
    launch.snapshotFd = snapshotMemfd(snapshot, &error);
    // A fresh broadcast channel per child: the relay joins it to the other children of the
    // same group (key), whatever their generation. Without one the child still serves; its
    // broadcasts just stay within it.
    QString busError;
    const std::optional<BroadcastRelay::Channel> bus = m_relay->open(key, &busError);
    if (bus)
        launch.busFd = bus->childFd;
    else
        qCWarning(lcMaster).noquote() << childLabel(child) << busError;
    const std::optional<LaunchedChild> launched =
        launch.snapshotFd < 0 ? std::nullopt : launchChild(launch, &error);
    if (launch.snapshotFd >= 0)
        ::close(launch.snapshotFd);
    if (bus)
        ::close(bus->childFd);
    if (!launched && bus)
        m_relay->close(bus->id);
    if (!launched) {
        m_shared->markExited(slot);
        qCCritical(lcMaster).noquote() << "cannot start" << childLabel(child) << ":" << error;
        return;
    }
    child.pid = launched->pid;
    child.slot = slot;
    child.startedMs = m_clock.elapsed();
    child.readyFd = launched->readyFd;
    if (bus) {
        child.busChannel = bus->id;
        m_relay->setLabel(bus->id,
                          QStringLiteral("%1 (pid %2)").arg(childLabel(child)).arg(child.pid));
    }
    child.readyNotifier = new QSocketNotifier(child.readyFd, QSocketNotifier::Read, this);
    const pid_t pid = child.pid;
    connect(child.readyNotifier, &QSocketNotifier::activated, this,
            [this, pid] { onChildReadiness(pid); });
    m_children.insert(pid, child);
    qCInfo(lcMaster).noquote() << QStringLiteral("%1 started (pid %2, generation %3)")
                                      .arg(childLabel(child))
                                      .arg(pid)
                                      .arg(generation);
}

void Supervisor::onChildReadiness(pid_t pid)
{
    auto it = m_children.find(pid);
    if (it == m_children.end())
        return;
    // 'R': it serves. 'Q': draining, it takes no new connection. End of file: it exited (before
    // it was ready, or while draining: reapChildren deals with it).
    char bytes[8];
    const ssize_t n = ::read(it->readyFd, bytes, sizeof bytes);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    const QByteArrayView said(bytes, qMax<qsizetype>(n, 0));
    const bool becameReady = !it->ready && said.contains('R');
    it->ready = it->ready || becameReady;
    if (n <= 0 || said.contains('Q')) {
        it->quiesced = true;
        closeReadiness(*it);
    }
    if (becameReady) {
        if (m_pending && it->generation == m_pending->generation)
            checkReloadComplete();
        reportReady();
    }
    answerRetirements();
}

void Supervisor::closeReadiness(Child &child)
{
    if (child.readyNotifier) {
        child.readyNotifier->setEnabled(false);
        child.readyNotifier->deleteLater();
        child.readyNotifier = nullptr;
    }
    if (child.readyFd >= 0)
        ::close(child.readyFd);
    child.readyFd = -1;
}

void Supervisor::reportReady()
{
    if (m_reportedReady)
        return;
    int total = 0;
    for (const Group &g : std::as_const(m_groups)) {
        if (g.failed)
            continue;
        int ready = 0;
        for (const Child &c : std::as_const(m_children))
            ready += (c.key == g.spec.key() && c.generation == g.generation && c.ready) ? 1 : 0;
        if (ready < g.spec.count)
            return;
        total += ready;
    }
    m_reportedReady = true;
    qCInfo(lcMaster) << "all" << total << "worker(s) ready";
    Core::notifySystemd("READY=1");
    Core::reportToStarter(m_starterFd, QStringLiteral("OK"));
    m_starterFd = -1;
}

void Supervisor::reapChildren()
{
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        if (pid == m_upgradePid)
            upgradeExited(status);
        else
            onChildExit(pid, status);
    }
    checkFinished();
}

void Supervisor::onChildExit(pid_t pid, int status)
{
    auto it = m_children.find(pid);
    if (it == m_children.end())
        return;
    closeReadiness(*it);
    const Child child = *it;
    m_children.erase(it);
    answerRetirements();
    forwardGone(child.busChannel,
                QStringLiteral("%1 (pid %2) exited").arg(childLabel(child)).arg(pid));
    m_relay->close(child.busChannel);
    m_shared->markExited(child.slot);
    m_shared->recordExit(child.slot, status, false);
    if (WIFSIGNALED(status)) {
        const int signo = WTERMSIG(status);
        if (signo == SIGSEGV || signo == SIGBUS || signo == SIGFPE || signo == SIGILL ||
            signo == SIGABRT)
            logStackReport(child, true);
    }
    const qint64 lived = m_clock.elapsed() - child.startedMs;
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    auto group = m_groups.find(child.key);
    const bool current = group != m_groups.end() && child.generation == group->generation;
    if (current)
        group->lastExitStatus = status;
    if (m_stopping || child.stopping) {
        qCInfo(lcMaster).noquote() << QStringLiteral("%1 (pid %2) %3")
                                          .arg(childLabel(child))
                                          .arg(pid)
                                          .arg(Core::describeWaitStatus(status));
        return;
    }
    if (m_pending && child.generation == m_pending->generation) {
        // A child of the new configuration died while starting: the reload fails and the old
        // children keep serving.
        failReload(QStringLiteral("new %1 (pid %2) %3")
                       .arg(childLabel(child))
                       .arg(pid)
                       .arg(Core::describeWaitStatus(status)));
        return;
    }
    if (!current)
        return;
    const RestartDecision decision =
        decideRestart(group->spec, &group->quickFailures, lived, clean);
    if (decision.action == RestartDecision::Action::Leave) {
        qCInfo(lcMaster).noquote()
            << QStringLiteral("%1 (pid %2) exited with status 0; not restarted (on-failure)")
                   .arg(childLabel(child))
                   .arg(pid);
        return;
    }
    if (clean) {
        // max_requests recycling (or a child that chose to end): replace it at once.
        qCInfo(lcMaster).noquote()
            << QStringLiteral("%1 (pid %2) exited after serving its share; replacing it")
                   .arg(childLabel(child))
                   .arg(pid);
    } else {
        qCWarning(lcMaster).noquote() << QStringLiteral("%1 (pid %2) %3 after %4 s")
                                             .arg(childLabel(child))
                                             .arg(pid)
                                             .arg(Core::describeWaitStatus(status))
                                             .arg(double(lived) / 1000.0, 0, 'f', 1);
    }
    if (decision.action == RestartDecision::Action::GiveUp) {
        markFailed(*group, child, status);
        return;
    }
    scheduleRespawn(child, decision.delayMs);
}

void Supervisor::scheduleRespawn(const Child &child, qint64 delay)
{
    Group &group = m_groups[child.key];
    ++group.restarts;
    if (delay > 0)
        qCWarning(lcMaster).noquote() << QStringLiteral("%1 keeps failing (%2 in a row); "
                                                        "restarting in %3 s")
                                             .arg(childLabel(child))
                                             .arg(group.quickFailures)
                                             .arg(double(delay) / 1000.0, 0, 'f', 1);
    const QString key = child.key;
    const int index = child.index;
    const int epoch = group.epoch;
    QTimer::singleShot(int(delay), this, [this, key, index, epoch] {
        // Meanwhile a restart or a reload may have started the group anew (its own children
        // replace this one: a respawn now would run two), or a reload may have kept it under a
        // new generation number (this child is still missing and runs the generation in force).
        const auto it = m_groups.constFind(key);
        if (m_stopping || it == m_groups.cend() || it->failed || it->epoch != epoch)
            return;
        for (const Child &c : std::as_const(m_children)) {
            if (c.key == key && c.index == index && c.generation == it->generation && !c.stopping)
                return;
        }
        spawn(key, index, it->generation);
    });
}

void Supervisor::markFailed(Group &group, const Child &child, int status)
{
    group.failed = true;
    group.failedSlot = child.slot;
    m_shared->setService(child.slot, group.spec.kind, group.spec.name, group.restarts, status);
    m_shared->recordExit(child.slot, status, true);
    // Its other children (count > 1) go too: a failed service is one state, not a mix.
    for (Child &c : m_children) {
        if (c.key == child.key && !c.stopping)
            stopChild(c);
    }
    qCCritical(lcMaster).noquote()
        << QStringLiteral("service %1 failed: it died %2 times in a row within %3 s of starting "
                          "(last: %4); not restarting it until a reload or `berthd restart %1`. "
                          "The other services keep running.")
               .arg(group.spec.key())
               .arg(group.quickFailures)
               .arg(double(group.spec.quickExitMs) / 1000.0, 0, 'f', 1)
               .arg(Core::describeWaitStatus(status));
    reportReady();
}

void Supervisor::stopChild(Child &child)
{
    child.stopping = true;
    ::kill(child.pid, SIGTERM);
    const ChildSpec *spec = specFor(child);
    const pid_t pid = child.pid;
    QTimer::singleShot(
        int(qMin<qint64>(spec ? spec->stopGraceMs : 30'000, INT_MAX)), this, [this, pid] {
            if (m_children.contains(pid)) {
                qCWarning(lcMaster) << "pid" << pid << "did not stop within its grace; killing it";
                ::kill(pid, SIGKILL);
            }
        });
}

void Supervisor::restartGroup(const QString &key)
{
    Group &group = m_groups[key];
    if (group.failed) {
        group.failed = false;
        group.quickFailures = 0;
        if (group.failedSlot >= 0)
            m_shared->markExited(group.failedSlot);
        group.failedSlot = -1;
    }
    ++group.epoch;
    for (Child &c : m_children) {
        if (c.key == key && !c.stopping)
            stopChild(c);
    }
    qCInfo(lcMaster).noquote() << "control: restarting" << key;
    for (int i = 0; i < group.spec.count; ++i)
        spawn(key, i, group.generation);
}

void Supervisor::stopAll(bool graceful)
{
    if (!graceful && m_stopping) {
        for (const Child &c : std::as_const(m_children))
            ::kill(c.pid, SIGKILL);
        return;
    }
    m_stopping = true;
    // Children drain on every reload; this time the server goes (not after a binary upgrade:
    // the new master serves on).
    if (!m_upgraded)
        m_shared->markServerStopping();
    Core::notifySystemd("STOPPING=1");
    if (m_pending)
        failReload(QStringLiteral("the server is stopping"));
    qint64 grace = 2000;
    if (graceful) {
        for (const Group &g : std::as_const(m_groups))
            grace = qMax(grace, g.spec.stopGraceMs);
    }
    for (Child &c : m_children) {
        c.stopping = true;
        ::kill(c.pid, graceful ? SIGTERM : SIGINT);
    }
    m_stopDeadline.start(int(qMin<qint64>(grace, INT_MAX)));
    checkFinished();
}

void Supervisor::checkFinished()
{
    if (!m_stopping || !m_children.isEmpty())
        return;
    m_stopDeadline.stop();
    if (m_upgradePid > 0)
        failUpgrade(QStringLiteral("this master stopped"));
    if (m_control)
        m_control->close(!m_upgraded);
    if (!m_pidFile.isEmpty() && Core::readPidFile(m_pidFile) == ::getpid())
        QFile::remove(m_pidFile);
    Core::SharedRegion::removeInstanceRegions();
    qCInfo(lcMaster) << "stopped";
    Log::Logging::flushAll();
    Core::reportToStarter(m_starterFd, QStringLiteral("berthd: stopped before it was ready"));
    m_starterFd = -1;
    Q_EMIT stopped(0);
}

void Supervisor::checkHealth()
{
    // The master is the ticket key ring's only writer (runtime/ticketkeys.h).
    Core::TicketKeyRing::instance()->rotateIfDue(Core::monotonicMs(), m_ticketKeyRotationMs);
    // gunicorn's "WORKER TIMEOUT", but saying what hung: the request the stuck thread was
    // running and where in the code it is, before the child is replaced.
    if (!m_shared || m_workerTimeoutMs <= 0)
        return;
    for (const Core::StuckThread &stuck : Core::findStuck(*m_shared, m_workerTimeoutMs)) {
        if (m_killing.contains(stuck.pid) || !m_children.contains(stuck.pid))
            continue;
        m_killing.insert(stuck.pid);
        qCCritical(lcMaster).noquote()
            << QStringLiteral("%1 (pid %2) thread %3 has not answered for %4 s "
                              "(worker_timeout); replacing it. It was running:")
                   .arg(childLabel(m_children.value(stuck.pid)))
                   .arg(stuck.pid)
                   .arg(stuck.thread)
                   .arg(double(stuck.silentMs) / 1000.0, 0, 'f', 1);
        for (const QString &line : Core::describeThread(*m_shared->slot(stuck.slot), stuck.thread))
            qCCritical(lcMaster).noquote() << QStringLiteral("  ") + line;
        Log::Logging::flushAll();
        Core::requestStackDump(stuck.pid, stuck.tid);
        const pid_t pid = stuck.pid;
        // Give the stuck thread a moment to write its stack into server.log, then kill.
        QTimer::singleShot(500, this, [this, pid] {
            m_killing.remove(pid);
            if (m_children.contains(pid)) {
                logStackReport(m_children.value(pid), false);
                ::kill(pid, SIGKILL);
            }
        });
    }
}

void Supervisor::logStackReport(const Child &child, bool crash)
{
    Log::LogSink *serverLog = Log::Logging::serverLog();
    const QStringList lines =
        symbolisedReport(serverLog ? serverLog->path() : QString(), child.pid, crash);
    if (lines.isEmpty())
        return;
    qCCritical(lcMaster).noquote() << QStringLiteral("%1 (pid %2) %3:")
                                          .arg(childLabel(child))
                                          .arg(child.pid)
                                          .arg(crash ? QStringLiteral("crashed; its stack")
                                                     : QStringLiteral("hung; its stack"));
    for (const QString &line : lines)
        qCCritical(lcMaster).noquote() << QStringLiteral("  ") + line;
}

QStringList Supervisor::statusLines() const
{
    QStringList lines;
    const Config::Snapshot snapshot = m_snapshots.value(m_generation);
    lines.append(QStringLiteral("  configuration generation %1, sha256 %2")
                     .arg(m_generation)
                     .arg(QString::fromLatin1(snapshot.hash())));
    if (m_pending)
        lines.append(
            QStringLiteral("  reload to generation %1 in progress").arg(m_pending->generation));
    for (const QString &key : m_groupOrder) {
        const Group &g = m_groups[key];
        int ready = 0;
        for (const Child &c : m_children)
            ready += (c.key == key && c.generation == g.generation && c.ready) ? 1 : 0;
        lines.append(
            QStringLiteral("  service %1: %2, %3/%4 ready, restarts %5, last exit %6")
                .arg(key)
                .arg(g.failed ? QStringLiteral("failed (crash loop)") : QStringLiteral("running"))
                .arg(ready)
                .arg(g.spec.count)
                .arg(g.restarts)
                .arg(g.lastExitStatus < 0 ? QStringLiteral("-")
                                          : Core::describeWaitStatus(g.lastExitStatus)));
    }
    lines.append(
        QStringLiteral("  broadcast relay: %1 channel(s), %2 message(s) relayed, %3 dropped "
                       "at a full queue")
            .arg(m_relay->peerCount())
            .arg(m_relay->relayed())
            .arg(m_relay->dropped()));
    lines.append(Core::describeSlots(*m_shared));
    return lines;
}

} // namespace Berth::Supervisor
