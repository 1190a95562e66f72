#pragma once

#include <QString>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace Berth::Core {

// CLOCK_MONOTONIC in ms: one clock for every process on the host, so the master can compare a
// worker's heartbeat with its own now.
std::int64_t monotonicMs();

// brim's stat types: how a per-worker value is aggregated across workers.
enum class StatType {
    Worker, // per worker only, no aggregate
    Sum,
    Min,
    Max,
};

QString statTypeName(StatType type);

// Where a worker slot is in its life. Written by the master (Starting, Exited) and the worker
// (Running, Draining).
enum class WorkerState : std::int32_t {
    Empty = 0, // never used
    Starting = 1,
    Running = 2,
    Draining = 3,
    Exited = 4,
    Failed = 5, // the master gave up restarting it (crash loop); kept until a reload
};

QString workerStateName(WorkerState state);

// What one event-loop thread of a worker is doing. Written only by that thread, read by anyone.
// The request text is published with a seqlock (requestSeq odd while the thread writes), and the
// text lives in atomic 64-bit words so a reader racing the writer reads stale or mixed words —
// never undefined behaviour — and then throws them away because the sequence moved.
struct alignas(64) ThreadSlot
{
    static constexpr int MethodBytes = 16;
    static constexpr int UrlBytes = 256;
    static constexpr int TxnBytes = 40;
    static constexpr int ClientBytes = 64;

    std::atomic<std::int64_t> heartbeatMs;      // CLOCK_MONOTONIC ms of the last beat, 0 = none
    std::atomic<std::int32_t> tid;              // gettid() of the thread, 0 = not attached
    std::atomic<std::uint32_t> requestSeq;      // seqlock over the request fields below
    std::atomic<std::int64_t> requestStartedMs; // CLOCK_MONOTONIC ms, 0 = idle
    std::atomic<std::uint64_t> method[MethodBytes / 8]; // NUL-terminated text, at most N-1 bytes
    // (the words after the NUL may hold an older, longer text: readers stop at the NUL)
    std::atomic<std::uint64_t> url[UrlBytes / 8];
    std::atomic<std::uint64_t> txn[TxnBytes / 8];
    std::atomic<std::uint64_t> client[ClientBytes / 8];

    // This thread's share of the worker's first CounterCount stats (the built-in ones every
    // request updates; see StatsRegistry::add()). Only this thread writes them, with a plain
    // load and store: no read-modify-write, so the threads of one worker never contend for a
    // cache line on the request path (one shared counter bounced between cores costs more than
    // the rest of a small request). WorkerSlot::value() sums them with the slot's own values.
    // Relaxed: a count guards no other memory. Like values, they persist when the slot is reused.
    static constexpr int CounterCount = 64;
    alignas(64) std::atomic<std::int64_t> counters[CounterCount];
    // Requests this thread answered in the current worker process (prepareSlot() clears it).
    std::atomic<std::int64_t> requests;
};

// One worker process's region: identity, life state, its stats and its threads. The ThreadSlot
// array follows the struct directly in the mapping (threadCount of them), so a slot is
// self-contained and describeThread() needs nothing but the slot. Values persist when the master
// reuses the slot for a new worker (as brim's per-worker stats do), so counters summed over
// slots only ever grow; requestsServed and the thread data are per worker process.
struct alignas(64) WorkerSlot
{
    static constexpr int StatCapacity = 512;
    static constexpr int KindBytes = 16;
    static constexpr int NameBytes = 48;
    static constexpr int StatusBytes = 160;

    std::atomic<std::int32_t> pid;
    std::atomic<std::uint32_t> generation;    // +1 each time the master (re)uses the slot
    std::atomic<std::int64_t> startedMs;      // wall clock, ms since the epoch
    std::atomic<std::int32_t> state;          // WorkerState
    std::atomic<std::int32_t> threadCount;    // fixed by SharedState::create()
    std::atomic<std::int64_t> requestsServed; // by threads without a ThreadSlot; see served()
    // Written by the master only, before it starts a child in the slot and when the child
    // exits: which service the child runs, how often the master restarted that child, and the
    // wait status of the last exit (-1: none yet).
    std::atomic<std::uint64_t> serviceKind[KindBytes / 8]; // NUL-padded text
    std::atomic<std::uint64_t> serviceName[NameBytes / 8];
    std::atomic<std::int32_t> restarts;
    std::atomic<std::int32_t> lastExitStatus;
    // This worker's share of the server-wide connection count (see acquireConnection()), so the
    // master can give it back when the worker dies with connections open.
    std::atomic<std::int32_t> connections;
    // One line the service of the child says about itself (a daemon: "RUNNING pid 123, up
    // 40 s"), shown by `berthd status`. Written by the child only, under a seqlock (statusSeq
    // odd while it writes), in atomic words like ThreadSlot's request text.
    std::atomic<std::uint32_t> statusSeq;
    std::atomic<std::uint64_t> statusText[StatusBytes / 8];
    std::atomic<std::int64_t> values[StatCapacity];

    WorkerState workerState() const { return WorkerState(state.load(std::memory_order_acquire)); }
    // Stat `index` of this slot: values[index] plus every thread's share (ThreadSlot::counters).
    // Each part is one relaxed load, so a reader racing the writers gets a value that was true
    // at some moment for each part.
    std::int64_t value(int index) const;
    // Requests the current worker process answered: requestsServed plus every thread's count.
    std::int64_t served() const;
    QString kind() const;
    QString name() const;
    // The child's own status line (see statusText): set by the child, read by anyone; an
    // empty string when none was set or the writer is mid-update after a few retries.
    void setStatus(const QString &text);
    QString status() const;
    // Starting, Running or Draining: a process that may still write the slot.
    bool isLive() const;
    ThreadSlot *thread(int index);
    const ThreadSlot *thread(int index) const;
};

static_assert(std::is_standard_layout_v<WorkerSlot>);
static_assert(std::is_standard_layout_v<ThreadSlot>);

// The ThreadSlot the calling thread counts into and the WorkerSlot it belongs to, set by
// ThreadHealth::attach() (null in threads that have none: they update the slot's values with
// an atomic add instead).
struct BoundThread
{
    WorkerSlot *worker = nullptr;
    ThreadSlot *thread = nullptr;
};
inline thread_local BoundThread t_boundThread;
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int32_t>::is_always_lock_free);
static_assert(sizeof(WorkerSlot) % alignof(ThreadSlot) == 0);

// The memory master and workers share: a header naming every stat, then one WorkerSlot (with its
// ThreadSlots) per worker. The master creates it (memfd, not close-on-exec) before starting any
// worker; a worker attaches to the inherited fd after exec. Every shared field is a lock-free
// std::atomic, so a worker killed mid-update can never leave a lock held, and readers (the stats
// app in any worker, `berthd status`, the master's watchdog) never block writers.
class SharedState
{
public:
    static constexpr std::uint64_t Magic = 0x4d48535f48545245ull; // "ERTH_SHM" little-endian
    // 4: the built-in stats gained the latency histogram (StatsRegistry::LatencyBucket0...).
    // 5: the header says whether the whole server is stopping (serverStopping()).
    // 6: per-thread counters in each ThreadSlot (ThreadSlot::counters, requests).
    static constexpr std::uint32_t Version = 6;
    static constexpr int StatCapacity = WorkerSlot::StatCapacity;
    static constexpr int NameBytes = 64; // a stat name is at most NameBytes - 1 UTF-8 bytes
    static constexpr int MaxSlots = 1024;
    static constexpr int MaxThreads = 256;

    // The environment variables a master sets for a worker it execs.
    static constexpr const char *FdVariable = "BERTH_SHARED_FD";
    static constexpr const char *SlotVariable = "BERTH_WORKER_SLOT";

    ~SharedState();
    SharedState(const SharedState &) = delete;
    SharedState &operator=(const SharedState &) = delete;

    // Master: a fresh, zeroed region. fd() is inheritable across exec.
    static std::unique_ptr<SharedState> create(int workerSlots, int threadsPerWorker,
                                               QString *error);
    // Worker: maps an inherited fd after checking magic, version and sizes. Owns fd on success
    // only; on failure the caller still has to close it.
    static std::unique_ptr<SharedState> attach(int fd, QString *error);
    // Worker: attach() to BERTH_SHARED_FD; *slotIndex gets BERTH_WORKER_SLOT. Returns nullptr
    // without an error when the variables are absent (single-process mode).
    static std::unique_ptr<SharedState> attachFromEnvironment(int *slotIndex, QString *error);

    int fd() const { return m_fd; }
    int slotCount() const;
    int threadsPerWorker() const;
    WorkerSlot *slot(int index);
    const WorkerSlot *slot(int index) const;
    // CLOCK_MONOTONIC ms at create(), comparable across processes.
    std::int64_t createdMs() const;

    // The stat name table. Entries are appended, never changed or removed.
    int statCount() const;
    // Empty while another process is still writing the entry.
    QString statName(int index) const;
    StatType statType(int index) const;
    int findStat(const QString &name) const;
    // Publishes name at exactly `index` if that is the next free entry, or confirms it is already
    // there. Returns false when the table holds something else at index or is full.
    bool publishStatAt(int index, const QString &name, StatType type, QString *error);
    // Returns the entry for name, appending it if new; -1 when full or the name is too long.
    int publishStat(const QString &name, StatType type);

    // max_connections is one limit for the whole server: a worker takes a unit here before it
    // serves an accepted connection and gives it back when the connection closes. One atomic
    // read-modify-write on one counter, so the limit is exact however many workers race (a
    // unit taken over the limit is given back at once). Relaxed ordering: the counter guards no
    // other memory, and RMWs on one atomic are totally ordered whatever the ordering argument.
    bool acquireConnection(int slotIndex, int limit);
    void releaseConnection(int slotIndex);
    int connectionCount() const;

    // The whole server is stopping (the master got TERM, or a single process did): set once,
    // never cleared. A worker that drains while this is false is an old generation making way
    // for a new one — the server itself stays (berth.heartbeat keeps answering 200).
    void markServerStopping();
    bool serverStopping() const;

    // Master, before starting a worker in the slot: bumps the generation, marks it Starting and
    // clears the per-process fields. Returns the new generation.
    std::uint32_t prepareSlot(int index);
    // Master, after the worker exited: marks it Exited and clears what died with the process
    // (active connections, per-thread state). Its counters stay and keep counting in sums.
    void markExited(int index);
    // Master: names the service whose child runs in the slot (before prepareSlot()).
    void setService(int index, const QString &kind, const QString &name, int restarts,
                    int lastExitStatus);
    // Master: records a child's exit (wait status); failed: the master gave up on the service.
    void recordExit(int index, int waitStatus, bool failed);

private:
    SharedState() = default;
    bool map(int fd, std::size_t size, QString *error);

    struct Header;
    Header *header() const;

    int m_fd = -1;
    void *m_base = nullptr;
    std::size_t m_size = 0;
};

} // namespace Berth::Core
