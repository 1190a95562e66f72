#include "logsink.h"

#include "syslogclient.h"

#include <QFile>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <utility>
#include <vector>

namespace Berth::Log {

namespace {

using Clock = std::chrono::steady_clock;

// The writer writes at least this often, and at once when a thread has this much pending.
constexpr auto WriteInterval = std::chrono::milliseconds(100);
constexpr qsizetype DefaultEagerBytes = 64 * 1024;
// A write that has not returned for this long means the sink is stalled: sync() stops waiting.
constexpr auto StallAfter = std::chrono::milliseconds(200);
// How long the destructor gives the writer to finish before leaving it behind.
constexpr auto StopWait = std::chrono::seconds(2);

std::atomic<quint64> s_sinkSerial{0};

qint64 nowNs()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

// Writes all of data, retrying on EINTR and short writes; gives up on an error (disk full,
// closed pipe): a log must not take the server down.
void writeAll(int fd, const QByteArray &data)
{
    const char *p = data.constData();
    qsizetype left = data.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, p, size_t(left));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        left -= n;
    }
}

} // namespace

// One thread's pending lines for one sink. Its lock is taken by that thread for each line and
// by the writer to take the blocks: never contended for longer than a few moves.
struct LogSink::ThreadBuffer
{
    // A block of lines: the first `used` bytes of data; data.size() is the room.
    struct Block
    {
        QByteArray data;
        qsizetype used = 0;
    };

    std::mutex mutex;
    // Lines are written into the current block through a pointer (no QByteArray call per line).
    // A full block is set aside whole, not copied into a bigger one; the writer takes them all.
    Block current;
    std::vector<Block> full;
    qsizetype pending = 0;   // bytes in every block: what MaxPendingBytes bounds
    qsizetype lastBatch = 0; // bytes the writer took last time: the size to start again with
    quint64 lines = 0;       // appended by this thread, ever
    quint64 taken = 0;       // of those, collected by the writer

    // Room for `bytes` more after the pending ones (mutex held).
    char *room(qsizetype bytes)
    {
        if (Q_UNLIKELY(current.data.size() - current.used < bytes))
            nextBlock(bytes);
        return current.data.data() + current.used;
    }
    Q_DECL_COLD_FUNCTION void nextBlock(qsizetype bytes)
    {
        // After a collection, room for twice the last batch: a steady load fills one block per
        // batch; then blocks twice as large. Never beyond the bound of what a thread may hold,
        // but for the line being written.
        const qsizetype wanted =
            current.data.isEmpty() && full.empty() ? 2 * lastBatch + 4096 : 2 * current.data.size();
        const qsizetype size = qBound<qsizetype>(4096, wanted, MaxPendingBytes);
        if (current.used > 0)
            full.push_back(std::move(current));
        current = Block{QByteArray(qMax(size, bytes), Qt::Uninitialized), 0};
    }
};

struct LogSink::State
{
    quint64 serial = ++s_sinkSerial;
    std::atomic<int> fd{-1};
    std::atomic<int> retiredFd{-1}; // replaced by reopen(); the writer closes it

    std::mutex mutex; // buffers, wake, stopping, written/appended counters
    std::condition_variable wake;
    std::condition_variable progress;
    std::vector<std::shared_ptr<ThreadBuffer>> buffers;
    bool wakeRequested = false;
    bool stopping = false;
    quint64 written = 0; // lines the writer has handed to write(), ever
    // whenWritten() callbacks, by the appended count they wait for; run by the writer.
    std::vector<std::pair<quint64, std::function<void()>>> waiters;

    // Lines of buffers that left `buffers` (their threads ended, every line taken). Counted per
    // buffer rather than in one shared atomic, so that appending takes no lock or
    // read-modify-write another serving thread also takes (bench/results/threads.md).
    quint64 retiredLines = 0;
    std::atomic<qint64> dropped{0};
    qint64 reported = 0;                   // writer only
    std::atomic<qint64> writeStartedNs{0}; // 0: not in a write
    std::atomic<int> syslogPriority{-1};
    std::atomic<SyslogClient *> syslog{nullptr};
    std::atomic<qsizetype> eagerBytes{DefaultEagerBytes};
    // The writer sleeps without a deadline until a line comes (it wrote nothing for a whole
    // interval): an idle process does not wake ten times a second per sink. Read by every
    // append (relaxed: see run() for why that is enough), written only when the writer parks
    // and when the first line after that wakes it.
    std::atomic<bool> parked{false};
    std::atomic<quint64> rounds{0};

    std::mutex reporterMutex;
    DropReporter reporter;

    std::thread writer;

    void run(const LogSink *sink);
    // Wakes a parked writer (a line came); it writes that line one interval later, as any.
    void unpark();
    // Takes every thread's pending lines; *lines gets how many lines were ever taken.
    QByteArray collect(quint64 *lines);
    // Lines appended so far by every thread (mutex held).
    quint64 appendedLocked() const;
};

quint64 LogSink::State::appendedLocked() const
{
    quint64 total = retiredLines;
    for (const auto &buffer : buffers) {
        std::lock_guard bufferLock(buffer->mutex);
        total += buffer->lines;
    }
    return total;
}

QByteArray LogSink::State::collect(quint64 *lines)
{
    // A line is counted under its buffer's lock together with its bytes, so the lines counted
    // as taken here are exactly the ones in the batch (and every one taken before).
    std::vector<ThreadBuffer::Block> pieces;
    {
        std::lock_guard lock(mutex);
        // Buffers of threads that have ended and have nothing left go.
        std::erase_if(buffers, [this](const std::shared_ptr<ThreadBuffer> &b) {
            std::lock_guard bufferLock(b->mutex);
            const bool done = b.use_count() == 1 && b->pending == 0;
            if (done)
                retiredLines += b->lines;
            return done;
        });
        quint64 taken = retiredLines;
        pieces.reserve(buffers.size());
        for (const auto &buffer : buffers) {
            std::lock_guard bufferLock(buffer->mutex);
            // Every block goes, the current one too: a thread that stops logging holds no
            // memory for it past the next collection.
            for (ThreadBuffer::Block &block : buffer->full)
                pieces.push_back(std::move(block));
            buffer->full.clear();
            if (!buffer->current.data.isEmpty())
                pieces.push_back(std::exchange(buffer->current, {}));
            buffer->lastBatch = std::exchange(buffer->pending, 0);
            buffer->taken = buffer->lines;
            taken += buffer->taken;
        }
        *lines = taken;
    }
    // Joined outside the lock: a serving thread's flush() waits for none of this.
    QByteArray batch;
    for (ThreadBuffer::Block &piece : pieces) {
        if (piece.used == 0)
            continue; // a block taken back from a thread that logged nothing since
        piece.data.truncate(piece.used);
        batch += piece.data;
    }
    return batch;
}

void LogSink::State::unpark()
{
    {
        std::lock_guard lock(mutex);
        if (!parked.load(std::memory_order_relaxed))
            return; // another thread's line woke it first
        parked.store(false, std::memory_order_relaxed);
    }
    wake.notify_one();
}

void LogSink::State::run(const LogSink *sink)
{
    bool idle = false; // the last round found nothing to write
    for (;;) {
        bool stop = false;
        {
            std::unique_lock lock(mutex);
            if (idle && !wakeRequested && !stopping) {
                // Parked is published before the lines are counted, each buffer under its
                // lock. An append counts its line under that lock and reads parked after it:
                // either the count below sees the line (no sleep), or the append's lock came
                // after ours, so it sees parked set and wakes the writer. A buffer added later
                // is added under `mutex`, after the wait released it: the same holds.
                parked.store(true, std::memory_order_relaxed);
                if (appendedLocked() == written) {
                    wake.wait(lock, [this] {
                        return wakeRequested || stopping || !parked.load(std::memory_order_relaxed);
                    });
                }
                parked.store(false, std::memory_order_relaxed);
            }
            wake.wait_for(lock, WriteInterval, [this] { return wakeRequested || stopping; });
            wakeRequested = false;
            stop = stopping;
        }
        rounds.fetch_add(1, std::memory_order_relaxed);
        quint64 upTo = 0;
        const QByteArray batch = collect(&upTo);
        const int out = fd.load() >= 0 ? fd.load() : STDERR_FILENO;
        if (!batch.isEmpty()) {
            writeStartedNs.store(nowNs());
            writeAll(out, batch);
            writeStartedNs.store(0);
            if (const int priority = syslogPriority.load(std::memory_order_acquire);
                priority >= 0) {
                for (qsizetype start = 0; start < batch.size();) {
                    qsizetype end = batch.indexOf('\n', start);
                    if (end < 0)
                        end = batch.size();
                    syslog.load(std::memory_order_relaxed)
                        ->send(priority, QByteArrayView(batch).sliced(start, end - start));
                    start = end + 1;
                }
            }
        }
        const int retired = retiredFd.exchange(-1);
        if (retired > STDERR_FILENO)
            ::close(retired);
        std::vector<std::function<void()>> ready;
        {
            std::lock_guard lock(mutex);
            written = qMax(written, upTo);
            std::erase_if(waiters, [&](auto &waiter) {
                if (waiter.first > written)
                    return false;
                ready.push_back(std::move(waiter.second));
                return true;
            });
        }
        progress.notify_all();
        for (auto &callback : ready)
            callback();
        const qint64 lost = dropped.load() - reported;
        if (lost > 0) {
            // The sink took a batch again: say what it cost, where the operator looks.
            reported += lost;
            std::lock_guard lock(reporterMutex);
            if (reporter)
                reporter(*sink, lost);
        }
        if (stop)
            return;
        idle = batch.isEmpty();
    }
}

LogSink::LogSink(const QString &path)
    : m_path(path)
    , m_state(std::make_shared<State>())
{
    m_state->writer = std::thread([state = m_state, this] {
#ifdef Q_OS_LINUX
        // Named for top -H and the like (and the tests that count its wake-ups).
        pthread_setname_np(pthread_self(), "berth-log");
#endif
        state->run(this);
    });
}

LogSink::~LogSink()
{
    {
        // The reporter may name this sink, or log through it: not from here on.
        std::lock_guard lock(m_state->reporterMutex);
        m_state->reporter = nullptr;
    }
    {
        std::lock_guard lock(m_state->mutex);
        m_state->stopping = true;
    }
    m_state->wake.notify_all();
    // The writer writes what is pending and ends; one stuck in a write to a stalled sink is
    // left behind (it holds the state it uses), so that the process can still exit.
    const auto deadline = Clock::now() + StopWait;
    std::shared_ptr<State> state = m_state;
    while (Clock::now() < deadline) {
        std::unique_lock lock(state->mutex);
        if (state->progress.wait_for(lock, std::chrono::milliseconds(20),
                                     [&] { return state->written >= state->appendedLocked(); }) &&
            state->writeStartedNs.load() == 0)
            break;
    }
    if (state->writeStartedNs.load() == 0) {
        state->writer.join();
        const int fd = state->fd.load();
        if (fd > STDERR_FILENO)
            ::close(fd);
    } else {
        state->writer.detach();
    }
}

int LogSink::fd() const
{
    return m_state->fd.load();
}

qint64 LogSink::droppedLines() const
{
    return m_state->dropped.load();
}

void LogSink::setDropReporter(DropReporter reporter)
{
    std::lock_guard lock(m_state->reporterMutex);
    m_state->reporter = std::move(reporter);
}

void LogSink::setEagerBytes(qsizetype bytes)
{
    m_state->eagerBytes.store(qBound<qsizetype>(1, bytes, MaxPendingBytes),
                              std::memory_order_relaxed);
}

void LogSink::setSyslogPriority(int priority, SyslogClient *client)
{
    m_state->syslog.store(client ? client : &SyslogClient::process(), std::memory_order_relaxed);
    // Release: the writer that sees the priority (acquire) sees the client stored before it.
    m_state->syslogPriority.store(priority, std::memory_order_release);
}

bool LogSink::open(QString *error)
{
    if (m_path.isEmpty()) {
        m_state->fd.store(STDERR_FILENO);
        return true;
    }
    const QByteArray native = QFile::encodeName(m_path);
    const int fd = ::open(native.constData(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        if (error)
            *error = QStringLiteral("cannot open log file '%1': %2")
                         .arg(m_path, QString::fromLocal8Bit(std::strerror(errno)));
        return false;
    }
    const int old = m_state->fd.exchange(fd);
    if (old > STDERR_FILENO) {
        // The writer may be writing to it: it closes it after that batch.
        const int previous = m_state->retiredFd.exchange(old);
        if (previous > STDERR_FILENO)
            ::close(previous);
        flush();
    }
    return true;
}

bool LogSink::reopen(QString *error)
{
    return open(error);
}

LogSink::ThreadBuffer &LogSink::threadBuffer()
{
    // Keyed by the sink's serial, not its address: a new sink at a freed one's address must
    // not inherit its buffers. The map never drops an entry while the thread lives, so the
    // last one found stays valid: a thread mostly logs to one sink at a time (request.log).
    thread_local std::unordered_map<quint64, std::shared_ptr<ThreadBuffer>> buffers;
    thread_local quint64 lastSerial = 0; // serials start at 1
    thread_local ThreadBuffer *last = nullptr;
    if (lastSerial == m_state->serial)
        return *last;
    std::shared_ptr<ThreadBuffer> &buffer = buffers[m_state->serial];
    if (!buffer) {
        buffer = std::make_shared<ThreadBuffer>();
        std::lock_guard lock(m_state->mutex);
        m_state->buffers.push_back(buffer);
    }
    lastSerial = m_state->serial;
    last = buffer.get();
    return *buffer;
}

void LogSink::append(QByteArrayView line)
{
    appendFormatted(
        line.size(),
        [](char *out, const void *context) {
            const auto &text = *static_cast<const QByteArrayView *>(context);
            if (!text.isEmpty())
                std::memcpy(out, text.data(), size_t(text.size()));
            return out + text.size();
        },
        &line);
}

void LogSink::appendFormatted(qsizetype maxBytes, LineFormatter format, const void *context)
{
    ThreadBuffer &buffer = threadBuffer();
    bool eager = false;
    {
        std::lock_guard lock(buffer.mutex);
        char *start = buffer.room(maxBytes + 1);
        char *end = format(start, context);
        const qsizetype size = end - start + 1; // with its newline
        if (buffer.pending + size > MaxPendingBytes) {
            m_state->dropped.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        *end = '\n';
        buffer.current.used += size;
        buffer.pending += size;
        // Counted under the buffer's lock: a collection that saw this count also saw the line.
        ++buffer.lines;
        eager = buffer.pending >= m_state->eagerBytes.load(std::memory_order_relaxed);
    }
    if (eager)
        flush();
    else if (Q_UNLIKELY(m_state->parked.load(std::memory_order_relaxed)))
        m_state->unpark();
}

bool LogSink::isWriterParked() const
{
    return m_state->parked.load(std::memory_order_relaxed);
}

quint64 LogSink::writerRounds() const
{
    return m_state->rounds.load(std::memory_order_relaxed);
}

void LogSink::flush()
{
    {
        std::lock_guard lock(m_state->mutex);
        m_state->wakeRequested = true;
    }
    m_state->wake.notify_one();
}

void LogSink::whenWritten(std::function<void()> done)
{
    {
        std::lock_guard lock(m_state->mutex);
        const quint64 target = m_state->appendedLocked();
        if (m_state->written < target) {
            m_state->waiters.emplace_back(target, std::move(done));
            m_state->wakeRequested = true;
            done = nullptr;
        }
    }
    if (done) {
        done(); // already written
        return;
    }
    m_state->wake.notify_one();
}

bool LogSink::sync(int timeoutMs)
{
    quint64 target = 0;
    {
        std::lock_guard lock(m_state->mutex);
        target = m_state->appendedLocked();
    }
    flush();
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    std::unique_lock lock(m_state->mutex);
    for (;;) {
        if (m_state->written >= target)
            return true;
        const qint64 started = m_state->writeStartedNs.load();
        if (started && nowNs() - started > std::chrono::nanoseconds(StallAfter).count())
            return false; // stalled: waiting would only stall the caller too
        if (Clock::now() >= deadline)
            return false;
        m_state->progress.wait_for(lock, std::chrono::milliseconds(10));
    }
}

} // namespace Berth::Log
