#include "workerhealth.h"

#include "crashreport.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include <execinfo.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

namespace Berth::Core {

namespace {

// The calling event-loop thread's slot; null in threads that publish nothing.
thread_local ThreadSlot *t_slot = nullptr;

// Packs text into NUL-padded words, at most words*8-1 bytes, cut on a UTF-8 boundary. Only the
// words up to the one holding the terminating NUL are stored: every reader stops at the first
// NUL (textOf(), the crash report), so later words are never read, and this runs per request
// (a short URL is one or two stores, not 32). Whole words go from the text to the slot
// directly; only the last one is assembled.
template <std::size_t N> void storeText(std::atomic<std::uint64_t> (&words)[N], QByteArrayView text)
{
    qsizetype length = qMin<qsizetype>(text.size(), qsizetype(N * 8 - 1));
    if (length < text.size()) {
        while (length > 0 && (static_cast<unsigned char>(text[length]) & 0xc0) == 0x80)
            --length;
    }
    const char *bytes = text.data();
    const std::size_t full = std::size_t(length) / 8;
    for (std::size_t i = 0; i < full; ++i) {
        std::uint64_t word;
        std::memcpy(&word, bytes + i * 8, 8);
        words[i].store(word, std::memory_order_relaxed);
    }
    const std::size_t rest = std::size_t(length) % 8;
    std::uint64_t last = 0;
    if (rest != 0) {
        char tail[8] = {};
        if constexpr (Q_BYTE_ORDER == Q_LITTLE_ENDIAN) {
            if (full > 0) {
                // The 8 bytes that end the text, shifted down past those stored already.
                std::memcpy(&last, bytes + length - 8, 8);
                last >>= 8 * (8 - rest);
                words[full].store(last, std::memory_order_relaxed);
                return;
            }
        }
        // A short text ("GET"): in pieces of 4, 2 and 1 bytes (no byte loop, no memcpy call).
        const char *from = bytes + full * 8;
        std::size_t at = 0;
        if (rest & 4) {
            std::memcpy(tail, from, 4);
            at = 4;
        }
        if (rest & 2) {
            std::memcpy(tail + at, from + at, 2);
            at += 2;
        }
        if (rest & 1)
            tail[at] = from[at];
        std::memcpy(&last, tail, 8);
    }
    words[full].store(last, std::memory_order_relaxed);
}

template <std::size_t N>
void loadText(const std::atomic<std::uint64_t> (&words)[N], char (&buffer)[N * 8])
{
    for (std::size_t i = 0; i < N; ++i) {
        const std::uint64_t word = words[i].load(std::memory_order_relaxed);
        std::memcpy(buffer + i * 8, &word, 8);
    }
}

template <std::size_t N> QString textOf(const char (&buffer)[N])
{
    return QString::fromUtf8(buffer, qsizetype(::strnlen(buffer, N)));
}

// Seqlock writer side (one writer: the owning thread). The release fence keeps the data stores
// after the odd sequence; the final release store publishes them with the even one.
template <typename Write> void publish(ThreadSlot *slot, Write write)
{
    const std::uint32_t seq = slot->requestSeq.load(std::memory_order_relaxed);
    slot->requestSeq.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    write();
    slot->requestSeq.store(seq + 2, std::memory_order_release);
}

// --- the stack-dump signal handler: async-signal-safe code only below ---

std::atomic<int> g_dumpFd{-1};
static_assert(std::atomic<int>::is_always_lock_free);

void writeAll(int fd, const char *data, std::size_t size)
{
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        data += n;
        size -= std::size_t(n);
    }
}

// Appends the decimal form of value at out; returns the new end. No locale, no allocation.
char *appendNumber(char *out, long value)
{
    char digits[24];
    int n = 0;
    unsigned long v =
        value < 0 ? 0ul - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
    do {
        digits[n++] = char('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (value < 0)
        *out++ = '-';
    while (n > 0)
        *out++ = digits[--n];
    return out;
}

char *appendText(char *out, const char *text)
{
    while (*text)
        *out++ = *text++;
    return out;
}

void stackDumpHandler(int, siginfo_t *, void *)
{
    const int savedErrno = errno;
    const int fd = g_dumpFd.load(std::memory_order_relaxed);
    if (fd >= 0) {
        void *frames[64];
        const int count = ::backtrace(frames, 64);
        char line[96];
        char *p = appendText(line, "berth stack pid=");
        p = appendNumber(p, long(::getpid()));
        p = appendText(p, " tid=");
        p = appendNumber(p, long(::gettid()));
        p = appendText(p, " frames=");
        p = appendNumber(p, count);
        *p++ = '\n';
        writeAll(fd, line, std::size_t(p - line));
        writeRawFrames(fd, frames, count);
        static const char end[] = "berth stack end\n";
        writeAll(fd, end, sizeof end - 1);
    }
    errno = savedErrno;
}

} // namespace

bool ThreadHealth::attach(WorkerSlot *slot, int index)
{
    ThreadSlot *thread = slot ? slot->thread(index) : nullptr;
    t_slot = thread;
    // The thread's stats go to its own counters from now on (StatsRegistry::add()).
    t_boundThread = thread ? BoundThread{slot, thread} : BoundThread{};
    if (!thread)
        return false;
    thread->tid.store(std::int32_t(::gettid()), std::memory_order_relaxed);
    thread->heartbeatMs.store(monotonicMs(), std::memory_order_relaxed);
    return true;
}

void ThreadHealth::detach()
{
    if (t_slot) {
        t_slot->heartbeatMs.store(0, std::memory_order_relaxed);
        t_slot->tid.store(0, std::memory_order_relaxed);
    }
    t_slot = nullptr;
    t_boundThread = {};
}

ThreadSlot *ThreadHealth::current()
{
    return t_slot;
}

void ThreadHealth::beat()
{
    if (t_slot)
        t_slot->heartbeatMs.store(monotonicMs(), std::memory_order_relaxed);
}

void ThreadHealth::beginRequest(QByteArrayView method, QByteArrayView url, QByteArrayView txn,
                                QByteArrayView client)
{
    if (t_slot)
        beginRequest(method, url, txn, client, monotonicMs());
}

void ThreadHealth::beginRequest(QByteArrayView method, QByteArrayView url, QByteArrayView txn,
                                QByteArrayView client, std::int64_t now)
{
    ThreadSlot *slot = t_slot;
    if (!slot)
        return;
    publish(slot, [&] {
        storeText(slot->method, method);
        storeText(slot->url, url);
        storeText(slot->txn, txn);
        storeText(slot->client, client);
        slot->requestStartedMs.store(now, std::memory_order_relaxed);
    });
}

void ThreadHealth::endRequest()
{
    ThreadSlot *slot = t_slot;
    if (!slot)
        return;
    publish(slot, [&] { slot->requestStartedMs.store(0, std::memory_order_relaxed); });
}

bool readThreadRequest(const ThreadSlot &thread, ThreadRequest *request)
{
    char method[ThreadSlot::MethodBytes];
    char url[ThreadSlot::UrlBytes];
    char txn[ThreadSlot::TxnBytes];
    char client[ThreadSlot::ClientBytes];
    // A request publish is a few hundred bytes of stores, so a handful of retries always
    // suffices unless the writer is publishing in a tight loop.
    for (int attempt = 0; attempt < 1000; ++attempt) {
        const std::uint32_t before = thread.requestSeq.load(std::memory_order_acquire);
        if (before & 1u) {
            ::sched_yield();
            continue;
        }
        const std::int64_t started = thread.requestStartedMs.load(std::memory_order_relaxed);
        loadText(thread.method, method);
        loadText(thread.url, url);
        loadText(thread.txn, txn);
        loadText(thread.client, client);
        // Keeps the loads above before the re-read of the sequence.
        std::atomic_thread_fence(std::memory_order_acquire);
        if (thread.requestSeq.load(std::memory_order_relaxed) != before)
            continue;
        ThreadRequest r;
        r.startedMs = started;
        r.busy = started > 0;
        if (r.busy) {
            // Buffers hold at most N-1 text bytes and NUL padding, but a worker could write
            // anything into shared memory: textOf() never reads past the buffer.
            r.method = textOf(method);
            r.url = textOf(url);
            r.txn = textOf(txn);
            r.client = textOf(client);
        }
        *request = std::move(r);
        return true;
    }
    return false;
}

QStringList describeThread(const WorkerSlot &slot, int thread, qint64 nowMs)
{
    QStringList lines;
    const ThreadSlot *t = slot.thread(thread);
    if (!t)
        return lines;
    lines << QStringLiteral("thread %1 tid %2")
                 .arg(thread)
                 .arg(t->tid.load(std::memory_order_relaxed));
    const qint64 beat = t->heartbeatMs.load(std::memory_order_relaxed);
    lines << (beat > 0
                  ? QStringLiteral("last heartbeat %1 ms ago").arg(qMax<qint64>(0, nowMs - beat))
                  : QStringLiteral("no heartbeat yet"));
    ThreadRequest request;
    if (!readThreadRequest(*t, &request)) {
        lines << QStringLiteral("request: unreadable (being rewritten)");
        return lines;
    }
    if (!request.busy) {
        lines << QStringLiteral("idle");
        return lines;
    }
    lines << QStringLiteral("request %1 %2").arg(request.method, request.url);
    lines << QStringLiteral("txn %1").arg(request.txn);
    lines << QStringLiteral("client %1").arg(request.client);
    lines << QStringLiteral("running %1 ms").arg(qMax<qint64>(0, nowMs - request.startedMs));
    return lines;
}

QList<StuckThread> findStuck(const SharedState &state, qint64 timeoutMs, qint64 nowMs)
{
    QList<StuckThread> stuck;
    for (int s = 0; s < state.slotCount(); ++s) {
        const WorkerSlot &slot = *state.slot(s);
        if (!slot.isLive())
            continue;
        const int threads = slot.threadCount.load(std::memory_order_relaxed);
        for (int t = 0; t < threads; ++t) {
            const ThreadSlot &ts = *slot.thread(t);
            const qint64 beat = ts.heartbeatMs.load(std::memory_order_relaxed);
            if (beat <= 0 || nowMs - beat <= timeoutMs)
                continue;
            StuckThread st;
            st.slot = s;
            st.thread = t;
            st.pid = pid_t(slot.pid.load(std::memory_order_relaxed));
            st.tid = pid_t(ts.tid.load(std::memory_order_relaxed));
            st.silentMs = nowMs - beat;
            readThreadRequest(ts, &st.request);
            stuck.append(st);
        }
    }
    return stuck;
}

bool installStackDumpHandler(int fd)
{
    // backtrace() loads libgcc_s on first use (dlopen, malloc): do that now, not in the handler.
    void *warmup[4];
    ::backtrace(warmup, 4);
    prepareStackDumps();
    g_dumpFd.store(fd, std::memory_order_relaxed);
    struct sigaction action
    {};
    action.sa_sigaction = stackDumpHandler;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    return ::sigaction(SIGUSR2, &action, nullptr) == 0;
}

bool requestStackDump(pid_t pid, pid_t tid)
{
    return pid > 0 && tid > 0 && ::tgkill(pid, tid, SIGUSR2) == 0;
}

} // namespace Berth::Core
