#include "statusreport.h"

#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"
#include "runtime/workerhealth.h"

#include <QDir>
#include <QFile>
#include <QJsonObject>

#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace Berth::Core {

using namespace Qt::StringLiterals;

namespace {

// The master's shared-memory fd, opened through /proc (same user or root only).
int openSharedState(pid_t masterPid)
{
    const QDir fdDir(QStringLiteral("/proc/%1/fd").arg(masterPid));
    for (const QString &entry :
         fdDir.entryList(QDir::AllEntries | QDir::System | QDir::NoDotAndDotDot)) {
        const QByteArray path = QFile::encodeName(fdDir.filePath(entry));
        char target[256];
        const ssize_t n = ::readlink(path.constData(), target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (std::strstr(target, "memfd:berth-shared-state"))
            return ::open(QFile::encodeName(fdDir.filePath(entry)).constData(), O_RDWR | O_CLOEXEC);
    }
    return -1;
}

} // namespace

QStringList describeWorkers(pid_t masterPid)
{
    const int fd = openSharedState(masterPid);
    if (fd < 0)
        return {QStringLiteral("  single process (workers = 0)")};
    QString error;
    const std::unique_ptr<SharedState> shared = SharedState::attach(fd, &error);
    if (!shared) {
        ::close(fd);
        return {QStringLiteral("  workers: cannot read shared state: %1").arg(error)};
    }
    return describeSlots(*shared);
}

QStringList describeSlots(const SharedState &shared)
{
    QStringList lines;
    const qint64 now = monotonicMs();
    const int requestsIndex = shared.findStat(QStringLiteral("requests"));
    for (int i = 0; i < shared.slotCount(); ++i) {
        const WorkerSlot *slot = shared.slot(i);
        const bool failed = slot->workerState() == WorkerState::Failed;
        if (!slot->isLive() && !failed)
            continue;
        const pid_t pid = slot->pid.load();
        const int lastExit = slot->lastExitStatus.load();
        lines.append(QStringLiteral("  worker slot %1: pid %2, %3:%4, %5, up %6 s, %7 requests "
                                    "(slot total %8), restarts %9, last exit %10")
                         .arg(i)
                         .arg(failed ? 0 : pid)
                         .arg(slot->kind(), slot->name(), workerStateName(slot->workerState()))
                         .arg(failed ? 0 : processUptimeSeconds(pid))
                         .arg(slot->served())
                         .arg(requestsIndex >= 0 ? slot->value(requestsIndex) : 0)
                         .arg(slot->restarts.load())
                         .arg(lastExit < 0 ? QStringLiteral("-") : describeWaitStatus(lastExit)));
        if (failed)
            continue;
        // The stats the slot's apps declared (TCP/UDP apps: "tcp:echo.byte_count"), when set.
        QStringList values;
        for (int s = StatsRegistry::BuiltinCount; s < shared.statCount(); ++s) {
            const qint64 value = slot->value(s);
            if (value != 0)
                values.append(QStringLiteral("%1=%2").arg(shared.statName(s)).arg(value));
        }
        if (!values.isEmpty())
            lines.append(QStringLiteral("    stats: ") + values.join(QLatin1Char(' ')));
        const QString status = slot->status();
        if (!status.isEmpty())
            lines.append(QStringLiteral("    %1").arg(status));
        const int threads = slot->threadCount.load(std::memory_order_relaxed);
        for (int t = 0; t < threads; ++t) {
            ThreadRequest request;
            if (!readThreadRequest(*slot->thread(t), &request) || !request.busy)
                continue;
            lines.append(QStringLiteral("    thread %1: %2 %3 running %4 ms (txn %5, client %6)")
                             .arg(t)
                             .arg(request.method, request.url)
                             .arg(qMax<qint64>(0, now - request.startedMs))
                             .arg(request.txn, request.client));
        }
    }
    if (lines.isEmpty())
        lines.append(QStringLiteral("  no live workers"));
    return lines;
}

QJsonArray slotsJson(const SharedState &shared)
{
    QJsonArray children;
    const qint64 now = monotonicMs();
    for (int i = 0; i < shared.slotCount(); ++i) {
        const WorkerSlot *slot = shared.slot(i);
        const bool failed = slot->workerState() == WorkerState::Failed;
        if (!slot->isLive() && !failed)
            continue;
        const pid_t pid = failed ? 0 : slot->pid.load();
        const int lastExit = slot->lastExitStatus.load();
        QJsonObject child{
            {u"slot"_s, i},
            {u"kind"_s, slot->kind()},
            {u"name"_s, slot->name()},
            {u"pid"_s, qint64(pid)},
            {u"state"_s, workerStateName(slot->workerState())},
            {u"uptime_seconds"_s, failed ? qint64(0) : processUptimeSeconds(pid)},
            {u"requests"_s, qint64(slot->served())},
            {u"restarts"_s, int(slot->restarts.load())},
            {u"last_exit"_s, lastExit < 0 ? QJsonValue(QJsonValue::Null)
                                          : QJsonValue(describeWaitStatus(lastExit))},
        };
        const QString status = failed ? QString() : slot->status();
        child.insert(u"status"_s,
                     status.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(status));
        QJsonObject stats;
        QJsonArray current;
        if (!failed) {
            for (int s = StatsRegistry::BuiltinCount; s < shared.statCount(); ++s) {
                const qint64 value = qint64(slot->value(s));
                if (value != 0)
                    stats.insert(shared.statName(s), value);
            }
            const int threads = slot->threadCount.load(std::memory_order_relaxed);
            for (int t = 0; t < threads; ++t) {
                ThreadRequest request;
                if (!readThreadRequest(*slot->thread(t), &request) || !request.busy)
                    continue;
                current.append(QJsonObject{
                    {u"thread"_s, t},
                    {u"method"_s, request.method},
                    {u"url"_s, request.url},
                    {u"running_ms"_s, qMax<qint64>(0, now - request.startedMs)},
                    {u"txn"_s, request.txn},
                    {u"client"_s, request.client},
                });
            }
        }
        child.insert(u"stats"_s, stats);
        child.insert(u"current_requests"_s, current);
        children.append(child);
    }
    return children;
}

QJsonArray workersJson(pid_t masterPid)
{
    const int fd = openSharedState(masterPid);
    if (fd < 0)
        return {};
    QString error;
    const std::unique_ptr<SharedState> shared = SharedState::attach(fd, &error);
    if (!shared) {
        ::close(fd);
        return {};
    }
    return slotsJson(*shared);
}

} // namespace Berth::Core
