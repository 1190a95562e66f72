#pragma once

#include <QMutex>
#include <QWaitCondition>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <type_traits>
#include <vector>

class QObject;
class QThread;

namespace Berth::Config {
class Config;
}

namespace Berth::Core {

class StatsRegistry;

// A queue of functions run by the event loop of the thread that made it (its "home"): how a
// pool thread hands a result back. Posting is safe from any thread; once the home thread has
// finished (or, for the main thread, the application is gone), post() refuses and the function
// is destroyed in the posting thread instead.
class ThreadMailbox
{
public:
    // The calling thread's mailbox, made on first use. The thread needs a Qt event loop for
    // anything posted to run.
    static std::shared_ptr<ThreadMailbox> current();

    bool post(std::function<void()> function);

    ThreadMailbox() = default;
    ThreadMailbox(const ThreadMailbox &) = delete;
    ThreadMailbox &operator=(const ThreadMailbox &) = delete;

private:
    QMutex m_mutex;
    QObject *m_receiver = nullptr; // lives in the home thread; null once it is gone
};

// [server] offload_threads and offload_queue.
struct OffloadSettings
{
    int threads = 4;
    int queueCapacity = 256;

    static OffloadSettings fromConfig(const Config::Config &config);
};

// Blocking work off the event loop: a fixed set of threads per worker process with a bounded
// queue, for what can't be made non-blocking (bcrypt, QtSql, later SMTP, DNS, WSGI). An
// event-loop thread submits a job; a pool thread runs its work; the result goes back to the
// submitting thread's event loop (ThreadMailbox), where the continuation runs, never inline.
//
// Bounded on purpose: when the queue is full, submit() refuses at once (the app answers 503 and
// offload_rejected counts it) rather than letting a stalled database pile up requests without
// limit. Threads start on the first submit, so a process that never offloads costs nothing.
//
// A continuation runs later, when whatever it refers to may be gone: capture what decides that
// (an exchange watch, a weak pointer to the app), and only captures that are safe to destroy
// in any thread — a continuation that can't be delivered is destroyed where it stands.
class OffloadPool
{
public:
    explicit OffloadPool(OffloadSettings settings = {}, StatsRegistry *stats = nullptr);
    // Drops the queued jobs and waits a few seconds for the running ones (their results are not
    // delivered); a thread still stuck after that is left to finish on its own.
    ~OffloadPool();
    OffloadPool(const OffloadPool &) = delete;
    OffloadPool &operator=(const OffloadPool &) = delete;

    // Who waits for a job: a request (refused only when the queue is full, and counted in
    // offload_rejected then), or nobody (best-effort housekeeping, such as touching or purging
    // sessions: refused once the queue is half full, so that it never takes the places
    // requests need, and not counted).
    enum class Admission { Request, Background };

    // Runs work() in a pool thread, then done(result) in the calling thread (done() when work
    // returns void). False, with nothing run, when the queue is full or the pool is stopping.
    template <typename Work, typename Done>
    bool submit(Work work, Done done, Admission admission = Admission::Request)
    {
        using Result = std::invoke_result_t<Work &>;
        return enqueue(
            admission,
            [work = std::move(work), done = std::move(done)]() mutable -> std::function<void()> {
                if constexpr (std::is_void_v<Result>) {
                    work();
                    return std::move(done);
                } else {
                    return [done = std::move(done), result = work()]() mutable {
                        done(std::move(result));
                    };
                }
            });
    }

    int threadCount() const { return m_settings.threads; }
    int queueCapacity() const { return m_settings.queueCapacity; }
    int queued() const;  // jobs waiting for a thread
    int running() const; // jobs a thread is running (until their result is posted)

    // Inside a pool thread: its index (0 .. threadCount()-1), for per-thread resources such as
    // QtSql connections, which belong to the thread that opened them. -1 elsewhere.
    static int currentThreadIndex();

private:
    using Job = std::function<std::function<void()>()>;
    struct Entry
    {
        Job job;
        std::shared_ptr<ThreadMailbox> mailbox;
    };
    // What the pool threads use, shared with them: a thread stuck in a job at shutdown (a
    // query on a database that stopped answering) is left behind rather than waited for
    // forever, and must not outlive what it touches.
    struct State
    {
        OffloadSettings settings;
        StatsRegistry *stats = nullptr;
        mutable QMutex mutex;
        QWaitCondition wake;
        std::deque<Entry> queue;
        int running = 0;
        std::atomic<bool> stopping{false};
    };

    bool enqueue(Admission admission, Job job);
    void startThreads(); // m_state->mutex held
    static void runThread(const std::shared_ptr<State> &state, int index);

    const OffloadSettings m_settings;
    std::shared_ptr<State> m_state;
    std::vector<std::unique_ptr<QThread>> m_threads; // guarded by m_state->mutex
};

} // namespace Berth::Core
