// Supervisor: reloads. A reload reads and validates the files once, makes them the snapshot of a
// new generation, and then, group by group, starts new children (Replace, Restart) or keeps the
// running ones (Keep, when the group's sections did not change). It completes when every new
// child is ready, and fails, keeping the generation in force, when the configuration is invalid
// or a new child dies before it is ready. A canary reload starts one HTTP worker of the new
// generation beside the old ones and waits for a verdict (`reload commit` or `reload abort`,
// given by the admin API's canary watch); the canary dying fails the reload at once.
#include "controlchannel.h"
#include "log/logging.h"
#include "runtime/listeners.h"
#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "service/serviceregistry.h"
#include "supervisor.h"

#include <QLoggingCategory>
#include <QTimer>

#include <algorithm>
#include <csignal>
#include <utility>

Q_DECLARE_LOGGING_CATEGORY(lcMaster)

namespace Berth::Supervisor {

void Supervisor::reload(ControlReply *reply, bool canary)
{
    auto refuse = [&](const QString &why) {
        qCWarning(lcMaster).noquote() << "reload refused:" << why;
        if (reply)
            reply->finish({why}, false);
    };
    if (m_stopping)
        return refuse(QStringLiteral("the server is stopping"));
    if (m_pending)
        return refuse(QStringLiteral("a reload is already in progress"));
    Core::notifySystemd("RELOADING=1");
    Config::Config config;
    QStringList errors;
    if (!loadGeneration(m_files, &config, &errors)) {
        for (const QString &e : std::as_const(errors))
            qCCritical(lcMaster).noquote()
                << "reload failed, keeping the current configuration:" << e;
        Core::notifySystemd("READY=1");
        if (reply)
            reply->finish(errors + QStringList{QStringLiteral("reload failed: the configuration "
                                                              "has errors; generation %1 keeps "
                                                              "running")
                                                   .arg(m_generation)},
                          false);
        return;
    }
    QStringList names;
    for (const Core::ListenSpec &spec : ServiceRegistry::builtin().listenSpecs(config))
        names.append(spec.toString());
    if (names.join(QStringLiteral(", ")) != m_listenerSummary)
        qCWarning(lcMaster).noquote()
            << "reload: listener changes take a restart; keeping" << m_listenerSummary;

    m_pending = std::make_unique<PendingReload>();
    m_pending->generation = ++m_lastGeneration;
    m_snapshots.insert(m_pending->generation,
                       Config::Snapshot::capture(config, quint64(m_pending->generation)));
    int toStart = 0;
    for (const ChildSpec &spec : ServiceRegistry::builtin().childSpecs(config)) {
        const QString key = spec.key();
        m_pending->specs.insert(key, spec);
        m_pending->order.append(key);
        const auto group = m_groups.constFind(key);
        const bool keep = group != m_groups.cend() && !group->failed &&
                          spec.reload == ChildSpec::Reload::Keep &&
                          group->spec.digest == spec.digest && group->spec.count == spec.count;
        if (!keep) {
            m_pending->started.insert(key);
            toStart += spec.count;
        }
    }
    if (reply)
        m_pending->waiters.append(*reply);
    if (canary) {
        // The HTTP server's group, when the new generation replaces its workers.
        for (const QString &key : std::as_const(m_pending->order)) {
            if (m_pending->started.contains(key) &&
                m_pending->specs.value(key).kind == QLatin1String("http"))
                m_pending->canaryKey = key;
        }
        if (m_pending->canaryKey.isEmpty())
            qCInfo(lcMaster) << "reload canary: no HTTP worker to replace; reloading at once";
    }
    const int generation = m_pending->generation;
    if (!m_pending->canaryKey.isEmpty()) {
        qCInfo(lcMaster).noquote()
            << QStringLiteral("reload canary: configuration valid; starting one %1 worker of "
                              "generation %2 beside generation %3")
                   .arg(m_pending->canaryKey)
                   .arg(generation)
                   .arg(m_generation);
        spawn(m_pending->canaryKey, 0, generation);
    } else {
        qCInfo(lcMaster).noquote() << QStringLiteral("reload: configuration valid; starting "
                                                     "generation %1 with %2 new worker(s)")
                                          .arg(generation)
                                          .arg(toStart);
        spawnPending(false);
    }
    if (m_pending && m_pending->generation == generation)
        checkReloadComplete();
}

void Supervisor::spawnPending(bool skipCanary)
{
    const int generation = m_pending->generation;
    const QString canaryKey = m_pending->canaryKey;
    const QStringList order = m_pending->order;
    for (const QString &key : order) {
        if (!m_pending || m_pending->generation != generation || !m_pending->started.contains(key))
            continue;
        const ChildSpec spec = m_pending->specs.value(key);
        if (spec.reload == ChildSpec::Reload::Restart) {
            for (Child &c : m_children) {
                if (c.key == key && !c.stopping && c.generation != generation)
                    stopChild(c);
            }
        }
        // The canary is index 0 of its group: it stays, the others join it.
        for (int i = (skipCanary && key == canaryKey) ? 1 : 0; i < spec.count && m_pending; ++i)
            spawn(key, i, generation);
    }
}

void Supervisor::commitCanary(ControlReply reply)
{
    if (!m_pending || m_pending->canaryKey.isEmpty() || m_pending->canaryPid == 0) {
        reply.finish({QStringLiteral("reload commit: no canary is waiting for a verdict")}, false);
        return;
    }
    qCInfo(lcMaster).noquote() << QStringLiteral("reload canary: rolling generation %1 forward")
                                      .arg(m_pending->generation);
    const int generation = m_pending->generation;
    m_pending->waiters.append(reply);
    spawnPending(true);
    m_pending->canaryKey.clear();
    if (m_pending && m_pending->generation == generation)
        checkReloadComplete();
}

void Supervisor::abortCanary(ControlReply reply)
{
    if (!m_pending || m_pending->canaryKey.isEmpty()) {
        // Already decided: a canary that died failed the reload by itself.
        reply.finish({QStringLiteral("reload abort: no canary is waiting; generation %1 serving")
                          .arg(m_generation)},
                     true);
        return;
    }
    const int generation = m_pending->generation;
    failReload(QStringLiteral("canary of generation %1 rolled back").arg(generation));
    reply.finish({QStringLiteral("reload abort: generation %1 dropped; generation %2 serving")
                      .arg(generation)
                      .arg(m_generation)},
                 true);
}

void Supervisor::checkReloadComplete()
{
    if (!m_pending)
        return;
    if (!m_pending->canaryKey.isEmpty()) {
        // A canary answers its waiters once it serves; the reload stays pending.
        if (m_pending->canaryPid != 0)
            return;
        for (const Child &c : std::as_const(m_children)) {
            if (c.key == m_pending->canaryKey && c.generation == m_pending->generation && c.ready)
                m_pending->canaryPid = c.pid;
        }
        if (m_pending->canaryPid == 0)
            return;
        const QString line = QStringLiteral("canary: generation %1 (pid %2) serving beside "
                                            "generation %3")
                                 .arg(m_pending->generation)
                                 .arg(m_pending->canaryPid)
                                 .arg(m_generation);
        qCInfo(lcMaster).noquote() << "reload" << line;
        Core::notifySystemd("READY=1");
        const QList<ControlReply> waiters = std::exchange(m_pending->waiters, {});
        for (ControlReply reply : waiters)
            reply.finish({line}, true);
        return;
    }
    for (const QString &key : std::as_const(m_pending->started)) {
        int ready = 0;
        for (const Child &c : std::as_const(m_children))
            ready += (c.key == key && c.generation == m_pending->generation && c.ready) ? 1 : 0;
        if (ready < m_pending->specs.value(key).count)
            return;
    }
    commitReload();
}

void Supervisor::commitReload()
{
    std::unique_ptr<PendingReload> pending = std::move(m_pending);
    const int generation = pending->generation;
    QHash<QString, Group> groups;
    for (const QString &key : std::as_const(pending->order)) {
        Group group = m_groups.value(key);
        group.spec = pending->specs.value(key);
        if (pending->started.contains(key)) {
            group.failed = false;
            group.quickFailures = 0;
            ++group.epoch;
        } else {
            // Kept: its children run on, now counted as the new generation's.
            for (Child &c : m_children) {
                if (c.key == key && c.generation == group.generation)
                    c.generation = generation;
            }
        }
        group.generation = generation;
        groups.insert(key, group);
    }
    // Failed groups' slots that no group holds any more show "exited" again.
    for (auto it = m_groups.cbegin(); it != m_groups.cend(); ++it) {
        if (it->failedSlot >= 0 && (!groups.contains(it.key()) || !groups[it.key()].failed))
            m_shared->markExited(it->failedSlot);
    }
    for (Group &g : groups) {
        if (!g.failed)
            g.failedSlot = -1;
    }
    m_groups = groups;
    m_groupOrder = pending->order;
    m_generation = generation;
    // The old generation's children (and those of services the new one no longer has) go now.
    for (Child &c : m_children) {
        const auto group = m_groups.constFind(c.key);
        if (!c.stopping && (group == m_groups.cend() || c.generation != group->generation))
            stopChild(c);
    }
    for (auto it = m_snapshots.begin(); it != m_snapshots.end();) {
        if (it.key() < generation)
            it = m_snapshots.erase(it);
        else
            ++it;
    }
    qCInfo(lcMaster) << "reload complete: generation" << generation << "serving";
    Core::notifySystemd("READY=1");
    const QString hash = QString::fromLatin1(m_snapshots.value(generation).hash());
    // The answer waits for the retired children to leave the listeners (answerRetirements()).
    Retirement retirement;
    for (const Child &c : std::as_const(m_children)) {
        if (c.stopping && !c.quiesced)
            retirement.pids.insert(c.pid);
    }
    retirement.waiters = pending->waiters;
    retirement.lines = {QStringLiteral("reload complete: generation %1 serving (sha256 %2)")
                            .arg(generation)
                            .arg(hash)};
    retirement.deadlineMs = m_clock.elapsed() + RetireWaitMs;
    m_retirements.push_back(std::move(retirement));
    QTimer::singleShot(int(RetireWaitMs), this, &Supervisor::answerRetirements);
    answerRetirements();
}

void Supervisor::answerRetirements()
{
    const qint64 now = m_clock.elapsed();
    for (auto it = m_retirements.begin(); it != m_retirements.end();) {
        const bool left = std::all_of(it->pids.cbegin(), it->pids.cend(), [this](pid_t pid) {
            const auto child = m_children.constFind(pid);
            return child == m_children.cend() || child->quiesced;
        });
        if (!left && now < it->deadlineMs) {
            ++it;
            continue;
        }
        if (!left)
            qCWarning(lcMaster) << "reload: answering before every retired child left the "
                                   "listeners (none said so within"
                                << RetireWaitMs << "ms)";
        for (ControlReply &reply : it->waiters)
            reply.finish(it->lines, true);
        it = m_retirements.erase(it);
    }
}

void Supervisor::failReload(const QString &why)
{
    std::unique_ptr<PendingReload> pending = std::move(m_pending);
    if (!pending)
        return;
    qCCritical(lcMaster).noquote()
        << QStringLiteral("reload failed: %1; keeping generation %2").arg(why).arg(m_generation);
    for (Child &c : m_children) {
        if (c.generation == pending->generation && !c.stopping) {
            c.stopping = true;
            ::kill(c.pid, SIGTERM);
        }
    }
    m_snapshots.remove(pending->generation);
    Core::notifySystemd("READY=1");
    for (ControlReply &reply : pending->waiters)
        reply.finish({QStringLiteral("reload failed: %1; generation %2 keeps running")
                          .arg(why)
                          .arg(m_generation)},
                     false);
}

} // namespace Berth::Supervisor
