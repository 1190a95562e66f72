#include "sharedstate.h"

#include "statsregistry.h"

#include <QByteArray>
#include <QDateTime>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// Layout of the mapping (all offsets multiples of 64 so no two processes' hot fields share a
// cache line across slots):
//
//   Header                      magic, version, sizes, created, stat name table
//   WorkerSlot 0                pid ... values[StatCapacity]
//     ThreadSlot 0..T-1         heartbeat, tid, seqlock-published current request
//   WorkerSlot 1
//     ...
//
// Nothing in it is a pointer, so each process may map it at a different address.

namespace Berth::Core {

namespace {

enum EntryState : std::uint32_t { EntryFree = 0, EntryReady = 2 };

// How long a reader waits for an entry another process has claimed but not yet named. Only
// declare() waits, at configuration time; a writer that died in that window leaves an unnamed
// entry, which is skipped.
constexpr auto NameWait = std::chrono::milliseconds(500);

constexpr std::size_t roundUp(std::size_t n, std::size_t to)
{
    return (n + to - 1) / to * to;
}

QString systemError(const char *what)
{
    return QStringLiteral("%1: %2").arg(QLatin1StringView(what),
                                        QString::fromLocal8Bit(std::strerror(errno)));
}

} // namespace

struct StatNameEntry
{
    std::atomic<std::uint32_t> state; // EntryState; name and type are immutable once Ready
    std::uint32_t type;
    char name[SharedState::NameBytes];
};

struct alignas(64) SharedState::Header
{
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t headerBytes;
    std::uint64_t totalBytes;
    std::uint32_t slotCount;
    std::uint32_t threadsPerWorker;
    std::uint32_t slotStride;
    std::uint32_t statCapacity;
    std::int64_t createdMs;
    std::atomic<std::int32_t> statCount;   // entries claimed (some may still be being named)
    std::atomic<std::int32_t> connections; // open client connections, every worker together
    std::atomic<std::int32_t> stopping;    // 1 once the whole server stops (relaxed: a hint)
    StatNameEntry names[StatCapacity];
};

static_assert(std::is_standard_layout_v<StatNameEntry>);

std::int64_t monotonicMs()
{
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

QString statTypeName(StatType type)
{
    switch (type) {
    case StatType::Worker:
        return QStringLiteral("worker");
    case StatType::Sum:
        return QStringLiteral("sum");
    case StatType::Min:
        return QStringLiteral("min");
    case StatType::Max:
        return QStringLiteral("max");
    }
    return {};
}

QString workerStateName(WorkerState state)
{
    switch (state) {
    case WorkerState::Empty:
        return QStringLiteral("empty");
    case WorkerState::Starting:
        return QStringLiteral("starting");
    case WorkerState::Running:
        return QStringLiteral("running");
    case WorkerState::Draining:
        return QStringLiteral("draining");
    case WorkerState::Exited:
        return QStringLiteral("exited");
    case WorkerState::Failed:
        return QStringLiteral("failed");
    }
    return QStringLiteral("unknown");
}

bool WorkerSlot::isLive() const
{
    const WorkerState s = workerState();
    return s == WorkerState::Starting || s == WorkerState::Running || s == WorkerState::Draining;
}

namespace {

template <std::size_t N> void storeText(std::atomic<std::uint64_t> (&words)[N], const QString &text)
{
    char bytes[N * 8] = {};
    const QByteArray utf8 = text.toUtf8().left(qsizetype(N * 8 - 1));
    std::memcpy(bytes, utf8.constData(), std::size_t(utf8.size()));
    for (std::size_t i = 0; i < N; ++i) {
        std::uint64_t word = 0;
        std::memcpy(&word, bytes + i * 8, 8);
        words[i].store(word, std::memory_order_relaxed);
    }
}

template <std::size_t N> QString loadText(const std::atomic<std::uint64_t> (&words)[N])
{
    char bytes[N * 8 + 1] = {};
    for (std::size_t i = 0; i < N; ++i) {
        const std::uint64_t word = words[i].load(std::memory_order_relaxed);
        std::memcpy(bytes + i * 8, &word, 8);
    }
    return QString::fromUtf8(bytes, qsizetype(::strnlen(bytes, N * 8)));
}

} // namespace

QString WorkerSlot::kind() const
{
    return loadText(serviceKind);
}

QString WorkerSlot::name() const
{
    return loadText(serviceName);
}

void WorkerSlot::setStatus(const QString &text)
{
    // Seqlock writer (one writer: the child). Odd while writing; the release store publishes
    // the words before the even sequence a reader compares against.
    const std::uint32_t seq = statusSeq.load(std::memory_order_relaxed);
    statusSeq.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    storeText(statusText, text);
    statusSeq.store(seq + 2, std::memory_order_release);
}

QString WorkerSlot::status() const
{
    for (int attempt = 0; attempt < 4; ++attempt) {
        const std::uint32_t before = statusSeq.load(std::memory_order_acquire);
        if (before & 1u)
            continue;
        const QString text = loadText(statusText);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (statusSeq.load(std::memory_order_relaxed) == before)
            return text;
    }
    return {};
}

std::int64_t WorkerSlot::value(int index) const
{
    if (index < 0 || index >= StatCapacity)
        return 0;
    std::int64_t total = values[index].load(std::memory_order_relaxed);
    if (index < ThreadSlot::CounterCount) {
        for (int t = 0; t < threadCount.load(std::memory_order_relaxed); ++t)
            total += thread(t)->counters[index].load(std::memory_order_relaxed);
    }
    return total;
}

std::int64_t WorkerSlot::served() const
{
    std::int64_t total = requestsServed.load(std::memory_order_relaxed);
    for (int t = 0; t < threadCount.load(std::memory_order_relaxed); ++t)
        total += thread(t)->requests.load(std::memory_order_relaxed);
    return total;
}

ThreadSlot *WorkerSlot::thread(int index)
{
    if (index < 0 || index >= threadCount.load(std::memory_order_relaxed))
        return nullptr;
    return reinterpret_cast<ThreadSlot *>(reinterpret_cast<char *>(this) + sizeof(WorkerSlot)) +
           index;
}

const ThreadSlot *WorkerSlot::thread(int index) const
{
    return const_cast<WorkerSlot *>(this)->thread(index);
}

SharedState::~SharedState()
{
    if (m_base)
        ::munmap(m_base, m_size);
    if (m_fd >= 0)
        ::close(m_fd);
}

SharedState::Header *SharedState::header() const
{
    return static_cast<Header *>(m_base);
}

bool SharedState::map(int fd, std::size_t size, QString *error)
{
    void *base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        if (error)
            *error = systemError("mmap");
        return false;
    }
    m_base = base;
    m_size = size;
    return true;
}

std::unique_ptr<SharedState> SharedState::create(int workerSlots, int threadsPerWorker,
                                                 QString *error)
{
    if (workerSlots < 1 || workerSlots > MaxSlots || threadsPerWorker < 1 ||
        threadsPerWorker > MaxThreads) {
        if (error)
            *error = QStringLiteral("shared state: %1 slots x %2 threads is out of range")
                         .arg(workerSlots)
                         .arg(threadsPerWorker);
        return nullptr;
    }
    const std::size_t head = roundUp(sizeof(Header), 64);
    const std::size_t stride = sizeof(WorkerSlot) + sizeof(ThreadSlot) * threadsPerWorker;
    const std::size_t total = roundUp(head + stride * workerSlots, 4096);

    // No MFD_CLOEXEC: the fd must survive the exec of each worker.
    const int fd = ::memfd_create("berth-shared-state", 0);
    if (fd < 0) {
        if (error)
            *error = systemError("memfd_create");
        return nullptr;
    }
    std::unique_ptr<SharedState> state(new SharedState);
    state->m_fd = fd;
    if (::ftruncate(fd, off_t(total)) != 0) {
        if (error)
            *error = systemError("ftruncate");
        return nullptr;
    }
    if (!state->map(fd, total, error))
        return nullptr;

    // ftruncate() zero-fills, and all-zero bits are a valid initial value for every atomic
    // here; placement-new only starts the objects' lifetimes.
    Header *h = new (state->m_base) Header();
    h->version = Version;
    h->headerBytes = std::uint32_t(head);
    h->totalBytes = total;
    h->slotCount = std::uint32_t(workerSlots);
    h->threadsPerWorker = std::uint32_t(threadsPerWorker);
    h->slotStride = std::uint32_t(stride);
    h->statCapacity = StatCapacity;
    h->createdMs = monotonicMs();
    for (int i = 0; i < workerSlots; ++i) {
        auto *slot =
            new (static_cast<char *>(state->m_base) + head + stride * std::size_t(i)) WorkerSlot();
        slot->threadCount.store(threadsPerWorker, std::memory_order_relaxed);
        slot->lastExitStatus.store(-1, std::memory_order_relaxed);
        for (int t = 0; t < threadsPerWorker; ++t)
            new (slot->thread(t)) ThreadSlot();
    }
    // Magic last: a reader that sees it sees a fully initialised header.
    std::atomic_thread_fence(std::memory_order_release);
    h->magic = Magic;
    return state;
}

std::unique_ptr<SharedState> SharedState::attach(int fd, QString *error)
{
    auto fail = [&](const QString &message) -> std::unique_ptr<SharedState> {
        if (error)
            *error = message;
        return nullptr;
    };
    struct stat st
    {};
    if (fd < 0 || ::fstat(fd, &st) != 0)
        return fail(systemError("shared state: fstat"));
    if (std::size_t(st.st_size) < sizeof(Header))
        return fail(
            QStringLiteral("shared state: fd %1 is too small (%2 bytes)").arg(fd).arg(st.st_size));
    std::unique_ptr<SharedState> state(new SharedState);
    if (!state->map(fd, std::size_t(st.st_size), error))
        return nullptr;
    const Header *h = state->header();
    if (h->magic != Magic)
        return fail(
            QStringLiteral("shared state: fd %1 is not a berth shared-state region").arg(fd));
    if (h->version != Version)
        return fail(
            QStringLiteral("shared state: version %1, expected %2").arg(h->version).arg(Version));
    const std::size_t stride = sizeof(WorkerSlot) + sizeof(ThreadSlot) * h->threadsPerWorker;
    if (h->headerBytes != roundUp(sizeof(Header), 64) || h->statCapacity != StatCapacity ||
        h->slotStride != stride || h->slotCount < 1 || h->slotCount > MaxSlots ||
        h->threadsPerWorker < 1 || h->threadsPerWorker > MaxThreads ||
        h->totalBytes != std::size_t(st.st_size) ||
        h->headerBytes + std::size_t(h->slotStride) * h->slotCount > h->totalBytes)
        return fail(QStringLiteral("shared state: layout mismatch (built by another berthd?)"));
    // Only now own the fd: on failure the caller still has it.
    state->m_fd = fd;
    return state;
}

std::unique_ptr<SharedState> SharedState::attachFromEnvironment(int *slotIndex, QString *error)
{
    const QByteArray fdText = qgetenv(FdVariable);
    const QByteArray slotText = qgetenv(SlotVariable);
    if (fdText.isEmpty() && slotText.isEmpty())
        return nullptr;
    bool fdOk = false;
    bool slotOk = false;
    const int fd = fdText.toInt(&fdOk);
    const int slot = slotText.toInt(&slotOk);
    if (!fdOk || !slotOk) {
        if (error)
            *error = QStringLiteral("%1='%2' / %3='%4' are not numbers")
                         .arg(QLatin1StringView(FdVariable), QString::fromLatin1(fdText),
                              QLatin1StringView(SlotVariable), QString::fromLatin1(slotText));
        return nullptr;
    }
    std::unique_ptr<SharedState> state = attach(fd, error);
    if (!state)
        return nullptr;
    if (slot < 0 || slot >= state->slotCount()) {
        if (error)
            *error = QStringLiteral("%1=%2 is outside 0..%3")
                         .arg(QLatin1StringView(SlotVariable))
                         .arg(slot)
                         .arg(state->slotCount() - 1);
        return nullptr;
    }
    // Children this worker may start (CGI, daemons) have no business with the region.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (slotIndex)
        *slotIndex = slot;
    return state;
}

int SharedState::slotCount() const
{
    return int(header()->slotCount);
}

int SharedState::threadsPerWorker() const
{
    return int(header()->threadsPerWorker);
}

std::int64_t SharedState::createdMs() const
{
    return header()->createdMs;
}

WorkerSlot *SharedState::slot(int index)
{
    if (index < 0 || index >= slotCount())
        return nullptr;
    const Header *h = header();
    return reinterpret_cast<WorkerSlot *>(static_cast<char *>(m_base) + h->headerBytes +
                                          std::size_t(h->slotStride) * std::size_t(index));
}

const WorkerSlot *SharedState::slot(int index) const
{
    return const_cast<SharedState *>(this)->slot(index);
}

int SharedState::statCount() const
{
    return qMin(int(header()->statCount.load(std::memory_order_acquire)), int(StatCapacity));
}

QString SharedState::statName(int index) const
{
    if (index < 0 || index >= statCount())
        return {};
    const StatNameEntry &e = header()->names[index];
    if (e.state.load(std::memory_order_acquire) != EntryReady)
        return {};
    return QString::fromUtf8(e.name, qsizetype(::strnlen(e.name, NameBytes)));
}

StatType SharedState::statType(int index) const
{
    if (index < 0 || index >= statCount())
        return StatType::Worker;
    const StatNameEntry &e = header()->names[index];
    if (e.state.load(std::memory_order_acquire) != EntryReady ||
        e.type > std::uint32_t(StatType::Max))
        return StatType::Worker;
    return StatType(e.type);
}

namespace {

// Waits (bounded) until another process has named a claimed entry. False: it never did.
bool waitReady(const StatNameEntry &e)
{
    if (e.state.load(std::memory_order_acquire) == EntryReady)
        return true;
    const auto deadline = std::chrono::steady_clock::now() + NameWait;
    while (std::chrono::steady_clock::now() < deadline) {
        ::sched_yield();
        if (e.state.load(std::memory_order_acquire) == EntryReady)
            return true;
    }
    return false;
}

bool entryIs(const StatNameEntry &e, const QByteArray &utf8)
{
    return ::strnlen(e.name, SharedState::NameBytes) == std::size_t(utf8.size()) &&
           std::memcmp(e.name, utf8.constData(), std::size_t(utf8.size())) == 0;
}

} // namespace

int SharedState::findStat(const QString &name) const
{
    const QByteArray utf8 = name.toUtf8();
    const int count = statCount();
    for (int i = 0; i < count; ++i) {
        const StatNameEntry &e = header()->names[i];
        if (waitReady(e) && entryIs(e, utf8))
            return i;
    }
    return -1;
}

int SharedState::publishStat(const QString &name, StatType type)
{
    const QByteArray utf8 = name.toUtf8();
    if (utf8.isEmpty() || utf8.size() >= NameBytes)
        return -1;
    Header *h = header();
    int scanned = 0;
    for (;;) {
        std::int32_t count = h->statCount.load(std::memory_order_acquire);
        // Scan everything claimed so far; a name is appended only by the CAS below from the count
        // we scanned up to, so two processes racing for the same new name cannot both add it.
        for (; scanned < count && scanned < StatCapacity; ++scanned) {
            const StatNameEntry &e = h->names[scanned];
            if (waitReady(e) && entryIs(e, utf8))
                return scanned;
        }
        if (count >= StatCapacity)
            return -1;
        if (h->statCount.compare_exchange_weak(count, count + 1, std::memory_order_acq_rel)) {
            StatNameEntry &e = h->names[count];
            std::memcpy(e.name, utf8.constData(), std::size_t(utf8.size()));
            e.name[utf8.size()] = '\0';
            e.type = std::uint32_t(type);
            e.state.store(EntryReady, std::memory_order_release);
            return count;
        }
    }
}

bool SharedState::publishStatAt(int index, const QString &name, StatType type, QString *error)
{
    auto fail = [&](const QString &message) {
        if (error)
            *error = message;
        return false;
    };
    const QByteArray utf8 = name.toUtf8();
    if (utf8.isEmpty() || utf8.size() >= NameBytes || index < 0 || index >= StatCapacity)
        return fail(QStringLiteral("stat '%1' does not fit the shared name table").arg(name));
    Header *h = header();
    for (;;) {
        std::int32_t count = h->statCount.load(std::memory_order_acquire);
        if (index > count)
            return fail(
                QStringLiteral("stat '%1' would leave a gap at entry %2").arg(name).arg(count));
        if (index < count) {
            const StatNameEntry &e = h->names[index];
            if (waitReady(e) && entryIs(e, utf8))
                return true;
            return fail(QStringLiteral("stat '%1' is entry %2 here but the shared table has "
                                       "'%3' there (the master and this worker declared stats "
                                       "differently)")
                            .arg(name)
                            .arg(index)
                            .arg(statName(index)));
        }
        // Nothing is published unless it lands exactly at index: a mismatch must not leave
        // stray names behind. findStat reads the count afresh: another process (the first
        // children attach together) may have published this very name at index since we read
        // it, which is agreement, not a mismatch.
        const int elsewhere = findStat(name);
        if (elsewhere == index)
            return true;
        if (elsewhere >= 0)
            return fail(QStringLiteral("stat '%1' is entry %2 in the shared table but %3 here")
                            .arg(name)
                            .arg(elsewhere)
                            .arg(index));
        if (h->statCount.compare_exchange_weak(count, count + 1, std::memory_order_acq_rel)) {
            StatNameEntry &e = h->names[index];
            std::memcpy(e.name, utf8.constData(), std::size_t(utf8.size()));
            e.name[utf8.size()] = '\0';
            e.type = std::uint32_t(type);
            e.state.store(EntryReady, std::memory_order_release);
            return true;
        }
    }
}

bool SharedState::acquireConnection(int slotIndex, int limit)
{
    WorkerSlot *s = slot(slotIndex);
    std::atomic<std::int32_t> &total = header()->connections;
    if (total.fetch_add(1, std::memory_order_relaxed) >= limit) {
        total.fetch_sub(1, std::memory_order_relaxed);
        return false;
    }
    if (s)
        s->connections.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void SharedState::releaseConnection(int slotIndex)
{
    if (WorkerSlot *s = slot(slotIndex))
        s->connections.fetch_sub(1, std::memory_order_relaxed);
    header()->connections.fetch_sub(1, std::memory_order_relaxed);
}

int SharedState::connectionCount() const
{
    return header()->connections.load(std::memory_order_relaxed);
}

void SharedState::markServerStopping()
{
    header()->stopping.store(1, std::memory_order_relaxed);
}

bool SharedState::serverStopping() const
{
    return header()->stopping.load(std::memory_order_relaxed) != 0;
}

namespace {

// A worker that died (or a slot about to be reused) can't close its connections any more: the
// kernel did, so its share of the server-wide count goes back.
void returnConnections(std::atomic<std::int32_t> &total, WorkerSlot *s)
{
    if (const std::int32_t held = s->connections.exchange(0, std::memory_order_relaxed))
        total.fetch_sub(held, std::memory_order_relaxed);
}

} // namespace

std::uint32_t SharedState::prepareSlot(int index)
{
    WorkerSlot *s = slot(index);
    if (!s)
        return 0;
    const std::uint32_t generation = s->generation.fetch_add(1, std::memory_order_acq_rel) + 1;
    s->pid.store(0, std::memory_order_relaxed);
    s->startedMs.store(QDateTime::currentMSecsSinceEpoch(), std::memory_order_relaxed);
    s->requestsServed.store(0, std::memory_order_relaxed);
    // A child killed mid-update leaves the sequence odd; make it even, then clear the text.
    const std::uint32_t statusSeq = s->statusSeq.load(std::memory_order_relaxed);
    s->statusSeq.store(statusSeq + (statusSeq & 1u), std::memory_order_relaxed);
    s->setStatus(QString());
    returnConnections(header()->connections, s);
    s->values[StatsRegistry::ActiveConnections].store(0, std::memory_order_relaxed);
    for (int t = 0; t < s->threadCount.load(std::memory_order_relaxed); ++t) {
        ThreadSlot *ts = s->thread(t);
        ts->heartbeatMs.store(0, std::memory_order_relaxed);
        ts->tid.store(0, std::memory_order_relaxed);
        ts->requestStartedMs.store(0, std::memory_order_relaxed);
        ts->requests.store(0, std::memory_order_relaxed);
        ts->counters[StatsRegistry::ActiveConnections].store(0, std::memory_order_relaxed);
        // A worker killed mid-publish leaves the sequence odd; make it even again.
        const std::uint32_t seq = ts->requestSeq.load(std::memory_order_relaxed);
        ts->requestSeq.store(seq + (seq & 1u) + 2, std::memory_order_relaxed);
    }
    // Release: whoever sees Starting sees the reset fields and the new generation.
    s->state.store(int(WorkerState::Starting), std::memory_order_release);
    return generation;
}

void SharedState::markExited(int index)
{
    WorkerSlot *s = slot(index);
    if (!s)
        return;
    s->state.store(int(WorkerState::Exited), std::memory_order_release);
    returnConnections(header()->connections, s);
    s->values[StatsRegistry::ActiveConnections].store(0, std::memory_order_relaxed);
    for (int t = 0; t < s->threadCount.load(std::memory_order_relaxed); ++t) {
        ThreadSlot *ts = s->thread(t);
        ts->heartbeatMs.store(0, std::memory_order_relaxed);
        ts->requestStartedMs.store(0, std::memory_order_relaxed);
        ts->counters[StatsRegistry::ActiveConnections].store(0, std::memory_order_relaxed);
    }
}

void SharedState::setService(int index, const QString &kind, const QString &name, int restarts,
                             int lastExitStatus)
{
    WorkerSlot *s = slot(index);
    if (!s)
        return;
    storeText(s->serviceKind, kind);
    storeText(s->serviceName, name);
    s->restarts.store(restarts, std::memory_order_relaxed);
    s->lastExitStatus.store(lastExitStatus, std::memory_order_relaxed);
}

void SharedState::recordExit(int index, int waitStatus, bool failed)
{
    WorkerSlot *s = slot(index);
    if (!s)
        return;
    s->lastExitStatus.store(waitStatus, std::memory_order_relaxed);
    if (failed)
        s->state.store(int(WorkerState::Failed), std::memory_order_release);
}

} // namespace Berth::Core
