#include "statusreport.h"

#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"

#include <QDir>
#include <QFile>

#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace Berth::Core {

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
    QStringList lines;
    const int fd = openSharedState(masterPid);
    if (fd < 0) {
        lines.append(QStringLiteral("  single process (workers = 0)"));
        return lines;
    }
    QString error;
    const std::unique_ptr<SharedState> shared = SharedState::attach(fd, &error);
    if (!shared) {
        lines.append(QStringLiteral("  workers: cannot read shared state: %1").arg(error));
        return lines;
    }
    const int requestsIndex = shared->findStat(QStringLiteral("requests"));
    for (int i = 0; i < shared->slotCount(); ++i) {
        const WorkerSlot *slot = shared->slot(i);
        if (!slot->isLive())
            continue;
        const pid_t pid = slot->pid.load();
        lines.append(QStringLiteral("  worker slot %1: pid %2, %3, up %4 s, %5 requests "
                                    "(slot total %6)")
                         .arg(i)
                         .arg(pid)
                         .arg(workerStateName(slot->workerState()))
                         .arg(processUptimeSeconds(pid))
                         .arg(slot->requestsServed.load())
                         .arg(requestsIndex >= 0 ? slot->values[requestsIndex].load() : 0));
    }
    if (lines.isEmpty())
        lines.append(QStringLiteral("  no live workers"));
    return lines;
}

} // namespace Berth::Core
