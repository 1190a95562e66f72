// process_* for the exposition: /proc of the master and every live child, summed.
#include "prometheus.h"

#include "runtime/statsregistry.h"

#include <QDir>
#include <QFile>
#include <QSet>

#include <sys/resource.h>
#include <unistd.h>

namespace Berth::Apps::Prometheus {

namespace {

QByteArray readProc(qint64 pid, const char *file)
{
    QFile f(QStringLiteral("/proc/%1/%2").arg(pid).arg(QLatin1String(file)));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return f.readAll();
}

qint64 bootTimeSeconds()
{
    static const qint64 boot = [] {
        QFile f(QStringLiteral("/proc/stat"));
        if (!f.open(QIODevice::ReadOnly))
            return qint64(0);
        for (const QByteArray &line : f.readAll().split('\n')) {
            if (line.startsWith("btime "))
                return line.mid(6).trimmed().toLongLong();
        }
        return qint64(0);
    }();
    return boot;
}

// Adds one process to totals; false when it is gone (or not readable).
bool addProcess(qint64 pid, ProcessTotals &totals, qint64 *startTimeMs)
{
    const QByteArray stat = readProc(pid, "stat");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields follow the last
    // ')'.
    const qsizetype close = stat.lastIndexOf(')');
    if (close < 0)
        return false;
    const QList<QByteArray> fields = stat.mid(close + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
    if (fields.size() < 22)
        return false;
    const qint64 ticks = ::sysconf(_SC_CLK_TCK);
    const qint64 page = ::sysconf(_SC_PAGESIZE);
    const qint64 cpuTicks = fields[11].toLongLong() + fields[12].toLongLong();
    totals.cpuMicros += ticks > 0 ? cpuTicks * 1000000 / ticks : 0;
    totals.virtualBytes += fields[20].toLongLong();
    totals.residentBytes += fields[21].toLongLong() * page;
    if (startTimeMs && ticks > 0)
        *startTimeMs = bootTimeSeconds() * 1000 + fields[19].toLongLong() * 1000 / ticks;
    totals.openFds += QDir(QStringLiteral("/proc/%1/fd").arg(pid))
                          .entryList(QDir::Files | QDir::System | QDir::NoDotAndDotDot)
                          .size();
    ++totals.processes;
    return true;
}

// The master: our parent when it is a berthd too (a child of the supervisor), else none (one
// process: berthd run with workers = 0 is the master itself).
qint64 masterPid()
{
    const qint64 parent = ::getppid();
    const QByteArray ours = readProc(::getpid(), "comm");
    return parent > 1 && !ours.isEmpty() && readProc(parent, "comm") == ours ? parent : 0;
}

} // namespace

Extras currentExtras(const Core::StatsReport &report)
{
    Extras extras;
    extras.version = BERTH_VERSION;
    extras.latencyBucketsMicros = Core::StatsRegistry::latencyBuckets();

    ProcessTotals &totals = extras.process;
    const qint64 self = ::getpid();
    const qint64 master = masterPid();
    qint64 start = 0;
    totals.valid = addProcess(master ? master : self, totals, &start);
    totals.startTimeMs = start;
    QSet<qint64> seen{master ? master : self};
    if (master && addProcess(self, totals, nullptr))
        seen.insert(self);
    for (const Core::WorkerStats &worker : report.workers) {
        const bool live = worker.state == Core::WorkerState::Starting ||
                          worker.state == Core::WorkerState::Running ||
                          worker.state == Core::WorkerState::Draining;
        if (!live || worker.pid <= 0 || seen.contains(worker.pid))
            continue;
        seen.insert(worker.pid);
        addProcess(worker.pid, totals, nullptr);
    }
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0)
        totals.maxFds = limit.rlim_cur == RLIM_INFINITY ? -1 : qint64(limit.rlim_cur);
    return extras;
}

} // namespace Berth::Apps::Prometheus
