#include "offloadpool.h"

#include "statsregistry.h"

#include <config/config.h>
#include <crypto/cryptoutil.h>

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QLoggingCategory>
#include <QScopeGuard>
#include <QThread>

#include <sys/resource.h>
#include <unistd.h>

namespace Berth::Core {

namespace {

Q_LOGGING_CATEGORY(lcOffload, "berth.offload")

// How long the destructor waits for jobs that are running before it leaves their threads.
constexpr int StopWaitMs = 3000;
// Niceness of the pool threads relative to the process: weight 110 against 1024 for a thread at
// 0, so an event loop competing for a core gets about nine tenths of it.
constexpr int PoolThreadNice = 10;

thread_local int t_poolThreadIndex = -1;
thread_local std::shared_ptr<ThreadMailbox> t_mailbox;

} // namespace

std::shared_ptr<ThreadMailbox> ThreadMailbox::current()
{
    if (t_mailbox)
        return t_mailbox;
    auto mailbox = std::make_shared<ThreadMailbox>();
    auto *receiver = new QObject;
    mailbox->m_receiver = receiver;
    std::weak_ptr<ThreadMailbox> weak = mailbox;
    // Under the mutex, so that a post() in flight either lands before the receiver is deleted
    // (and is dropped with the thread's other posted events) or sees it gone.
    QObject::connect(receiver, &QObject::destroyed, [weak] {
        if (auto box = weak.lock()) {
            QMutexLocker lock(&box->m_mutex);
            box->m_receiver = nullptr;
        }
    });
    QThread *home = QThread::currentThread();
    QCoreApplication *app = QCoreApplication::instance();
    if (app && app->thread() == home) {
        receiver->setParent(app); // the main thread: goes with the application
    } else {
        // finished() is emitted in the thread itself, while its event dispatcher still exists:
        // the receiver dies in its own thread, before the thread's data does.
        QObject::connect(
            home, &QThread::finished, receiver, [receiver] { delete receiver; },
            Qt::DirectConnection);
    }
    t_mailbox = mailbox;
    return mailbox;
}

bool ThreadMailbox::post(std::function<void()> function)
{
    QMutexLocker lock(&m_mutex);
    if (!m_receiver)
        return false;
    return QMetaObject::invokeMethod(m_receiver, std::move(function), Qt::QueuedConnection);
}

OffloadSettings OffloadSettings::fromConfig(const Config::Config &config)
{
    const QString server = QStringLiteral("server");
    OffloadSettings settings;
    // The schema reports values out of range; these bounds only keep the pool sane.
    const qint64 threads = config.getInt(server, QStringLiteral("offload_threads"));
    const qint64 queue = config.getInt(server, QStringLiteral("offload_queue"));
    settings.threads = int(qBound(qint64(1), threads, qint64(256)));
    settings.queueCapacity = int(qBound(qint64(1), queue, qint64(1'000'000)));
    return settings;
}

OffloadPool::OffloadPool(OffloadSettings settings, StatsRegistry *stats)
    : m_settings(std::move(settings))
    , m_state(std::make_shared<State>())
{
    m_state->settings = m_settings;
    m_state->stats = stats;
}

OffloadPool::~OffloadPool()
{
    std::deque<Entry> dropped;
    {
        QMutexLocker lock(&m_state->mutex);
        m_state->stopping = true;
        dropped.swap(m_state->queue);
        m_state->wake.wakeAll();
    }
    if (m_state->stats)
        m_state->stats->add(StatsRegistry::OffloadQueued, -qint64(dropped.size()));
    dropped.clear(); // outside the lock: a job's captures may take locks of their own
    const QDeadlineTimer deadline(StopWaitMs);
    for (auto &thread : m_threads) {
        if (!thread->wait(deadline)) {
            qCWarning(lcOffload) << "an offload thread is still busy at shutdown; leaving it";
            (void)thread.release(); // it holds the shared state; the process is ending
        }
    }
}

int OffloadPool::queued() const
{
    QMutexLocker lock(&m_state->mutex);
    return int(m_state->queue.size());
}

int OffloadPool::running() const
{
    QMutexLocker lock(&m_state->mutex);
    return m_state->running;
}

int OffloadPool::currentThreadIndex()
{
    return t_poolThreadIndex;
}

bool OffloadPool::enqueue(Admission admission, Job job)
{
    std::shared_ptr<ThreadMailbox> mailbox = ThreadMailbox::current();
    State &state = *m_state;
    const bool background = admission == Admission::Background;
    const qsizetype limit =
        background ? qMax(1, m_settings.queueCapacity / 2) : m_settings.queueCapacity;
    {
        QMutexLocker lock(&state.mutex);
        if (!state.stopping && qsizetype(state.queue.size()) < limit) {
            if (m_threads.empty())
                startThreads();
            state.queue.push_back({std::move(job), std::move(mailbox)});
            if (state.stats) // under the lock: counted before a thread can take it off
                state.stats->add(StatsRegistry::OffloadQueued);
            state.wake.wakeOne();
            return true;
        }
    }
    if (state.stats && !background)
        state.stats->add(StatsRegistry::OffloadRejected);
    return false; // the job (and what it captured) is destroyed here, in the caller's thread
}

void OffloadPool::startThreads()
{
    for (int i = 0; i < m_settings.threads; ++i) {
        std::unique_ptr<QThread> thread(
            QThread::create([state = m_state, i] { runThread(state, i); }));
        thread->setObjectName(QStringLiteral("offload-%1").arg(i));
        thread->start();
        m_threads.push_back(std::move(thread));
    }
}

void OffloadPool::runThread(const std::shared_ptr<State> &shared, int index)
{
    t_poolThreadIndex = index;
    // Serving comes first: a pool thread runs at a lower CPU priority than the event loops, so
    // twenty bcrypt checks at once can't take the cores from the thread answering a static file
    // (Linux nice values are per thread). The bounded queue keeps the backlog honest when the
    // cores are saturated: it fills and answers 503 rather than growing.
    ::setpriority(PRIO_PROCESS, pid_t(::gettid()), PoolThreadNice);
    State &state = *shared;
    // Jobs hash, seal and sign with OpenSSL (see Crypto::releaseThreadState for why now).
    const auto releaseOpenSsl = qScopeGuard([] { Crypto::releaseThreadState(); });
    for (;;) {
        Entry entry;
        {
            QMutexLocker lock(&state.mutex);
            while (!state.stopping && state.queue.empty())
                state.wake.wait(&state.mutex);
            if (state.stopping)
                return;
            entry = std::move(state.queue.front());
            state.queue.pop_front();
            ++state.running;
            // Under the lock, as queued() and running(): whoever sees the job running sees it
            // counted in the stats too.
            if (state.stats) {
                state.stats->add(StatsRegistry::OffloadQueued, -1);
                state.stats->add(StatsRegistry::OffloadJobs);
            }
        }
        // No exceptions on the request path: work that throws is a bug in it, and taking the
        // worker down (terminate) is what every other thread of the server would do too.
        std::function<void()> continuation = entry.job();
        entry.job = nullptr;
        // Posted before the job stops counting as running: whoever sees the pool idle finds
        // every result in its thread's event queue already (or dropped).
        if (continuation && !state.stopping.load())
            entry.mailbox->post(std::move(continuation));
        QMutexLocker lock(&state.mutex);
        --state.running;
    }
}

} // namespace Berth::Core
