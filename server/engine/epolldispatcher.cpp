#include "epolldispatcher.h"

#include "poller.h"

#include <QCoreApplication>
#include <QLoggingCategory>
#include <QSocketNotifier>
#include <QThread>
#include <QTimerEvent>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <limits>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcDispatcher, "berth.engine.dispatcher")

namespace Berth::Engine {

namespace {

constexpr int MaxEventsPerWake = 256;
constexpr std::int64_t NsPerMs = 1000 * 1000;
constexpr std::int64_t NsPerSecond = 1000 * NsPerMs;

// epoll_event.data of the set's three kinds of members. A Poller handler is a pointer, so its
// two low bits are zero; the dispatcher's own descriptors set one of them.
constexpr std::uint64_t NotifierTag = 1; // (fd << 2) | 1
constexpr std::uint64_t WakeTag = 2;

// Qt::CoarseTimer: the extremes are treated as Qt does (short ones are precise, long ones are
// very coarse), in between the timeout may move up to 5% later onto a round multiple, so the
// timers of a thread tend to wake it together.
constexpr qint64 CoarsePreciseBelowMs = 20;
constexpr qint64 CoarseVeryCoarseFromMs = 20000;

std::int64_t roundUp(std::int64_t value, std::int64_t step)
{
    return (value + step - 1) / step * step;
}

} // namespace

struct EpollDispatcher::Timer
{
    int id;
    qint64 interval; // ms; seconds for Qt::VeryCoarseTimer
    Qt::TimerType type;
    QObject *object;
    std::int64_t timeoutNs; // CLOCK_MONOTONIC
    // While its event is being delivered: the activating frame's pointer to this timer, cleared
    // by unregisterTimer() so that frame knows the timer is gone.
    Timer **activateRef = nullptr;
};

EpollDispatcher::EpollDispatcher(QObject *parent)
    : QAbstractEventDispatcher(parent)
    , m_epoll(::epoll_create1(EPOLL_CLOEXEC))
    , m_wakeFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))
{
    if (m_epoll < 0 || m_wakeFd < 0)
        return;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = WakeTag;
    if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_wakeFd, &event) != 0) {
        ::close(m_wakeFd);
        m_wakeFd = -1;
    }
}

EpollDispatcher::~EpollDispatcher()
{
    if (m_poller)
        m_poller->detachFromDispatcher();
    for (Timer *t : m_timers) {
        if (t->activateRef)
            *t->activateRef = nullptr;
        delete t;
    }
    if (m_wakeFd >= 0)
        ::close(m_wakeFd);
    if (m_epoll >= 0)
        ::close(m_epoll);
}

bool EpollDispatcher::installOn(QThread *thread)
{
    if (qEnvironmentVariable("BERTH_EVENT_DISPATCHER") == QLatin1String("qt"))
        return false;
    auto *dispatcher = new EpollDispatcher;
    if (!dispatcher->isValid()) {
        qCWarning(lcDispatcher) << "epoll dispatcher unavailable:" << qt_error_string(errno)
                                << "- keeping Qt's";
        delete dispatcher;
        return false;
    }
    thread->setEventDispatcher(dispatcher); // the thread owns it from here
    return true;
}

EpollDispatcher *EpollDispatcher::forCurrentThread()
{
    return qobject_cast<EpollDispatcher *>(QAbstractEventDispatcher::instance());
}

// ---- the loop turn

bool EpollDispatcher::processEvents(QEventLoop::ProcessEventsFlags flags)
{
    m_interrupt.store(false, std::memory_order_relaxed);
    Q_EMIT awake();
    QCoreApplication::sendPostedEvents();

    const bool includeTimers = !(flags & QEventLoop::X11ExcludeTimers);
    const bool includeNotifiers = !(flags & QEventLoop::ExcludeSocketNotifiers);
    const bool canWait =
        (flags & QEventLoop::WaitForMoreEvents) && !m_interrupt.load(std::memory_order_relaxed);
    if (canWait)
        Q_EMIT aboutToBlock();
    if (m_interrupt.load(std::memory_order_relaxed))
        return false;

    int timeoutMs = 0;
    if (canWait) {
        timeoutMs = includeTimers ? msUntilNextTimer(nowNs()) : -1;
        if ((includeNotifiers && !m_alwaysReady.empty()) || (m_poller && m_poller->hasDeferred()))
            timeoutMs = 0;
    }
    int handled = includeNotifiers ? waitAndDispatch(timeoutMs) : waitForWakeUpOnly(timeoutMs);
    if (includeTimers)
        handled += activateTimers();
    if (m_poller)
        m_poller->runDeferredOutsideBatch();
    return handled > 0;
}

int EpollDispatcher::waitAndDispatch(int timeoutMs)
{
    // On the stack: a handler may run a nested loop, which waits again before this batch ends.
    epoll_event events[MaxEventsPerWake];
    int n = ::epoll_wait(m_epoll, events, MaxEventsPerWake, timeoutMs);
    if (n < 0) {
        if (errno != EINTR)
            qCWarning(lcDispatcher) << "epoll_wait:" << qt_error_string(errno);
        n = 0;
    }
    int handled = 0;
    int forPoller = 0; // the Poller's events, moved to the front of the array
    for (int i = 0; i < n; ++i) {
        const std::uint64_t data = events[i].data.u64;
        if (data == WakeTag) {
            consumeWakeUp();
            ++handled;
        } else if (data & NotifierTag) {
            const auto it = m_fds.find(int(data >> 2));
            if (it == m_fds.end())
                continue;
            const std::uint32_t e = events[i].events;
            // As Qt's dispatcher reads poll(): errors and hang-ups wake the reader, errors the
            // writer too.
            if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
                markPending(it->second.notifiers[QSocketNotifier::Read]);
            if (e & (EPOLLOUT | EPOLLERR))
                markPending(it->second.notifiers[QSocketNotifier::Write]);
            if (e & EPOLLPRI)
                markPending(it->second.notifiers[QSocketNotifier::Exception]);
        } else {
            events[forPoller++] = events[i];
        }
    }
    for (int fd : m_alwaysReady) {
        const auto it = m_fds.find(fd);
        if (it != m_fds.end()) {
            markPending(it->second.notifiers[QSocketNotifier::Read]);
            markPending(it->second.notifiers[QSocketNotifier::Write]);
        }
    }
    if (m_poller)
        m_poller->dispatchBatch(events, forPoller);
    handled += forPoller;
    handled += activateNotifiers();
    return handled;
}

int EpollDispatcher::waitForWakeUpOnly(int timeoutMs)
{
    // Socket notifiers (and so the Poller's sockets) are excluded: only a wake-up or a timer
    // ends the wait. Level-triggered epoll keeps what is ready for the next full turn.
    pollfd wake{m_wakeFd, POLLIN, 0};
    const int n = ::poll(&wake, 1, timeoutMs);
    if (n > 0 && (wake.revents & POLLIN)) {
        consumeWakeUp();
        return 1;
    }
    return 0;
}

void EpollDispatcher::consumeWakeUp()
{
    eventfd_t value = 0;
    ::eventfd_read(m_wakeFd, &value);
    // A wakeUp() from here on writes again. One that came between the read and this store
    // wrote nothing, but the event it announced was queued before it: the sendPostedEvents()
    // that begins the next processEvents(), always before the next wait, delivers it.
    m_wakePending.store(false, std::memory_order_release);
}

void EpollDispatcher::wakeUp()
{
    // The first wake-up since the thread last read the eventfd writes; the others find the flag
    // set and cost one atomic exchange.
    if (!m_wakePending.exchange(true, std::memory_order_acq_rel)) {
        m_wakeWrites.fetch_add(1, std::memory_order_relaxed);
        ::eventfd_write(m_wakeFd, 1);
    }
}

void EpollDispatcher::interrupt()
{
    m_interrupt.store(true, std::memory_order_relaxed);
    wakeUp();
}

// ---- socket notifiers

void EpollDispatcher::registerSocketNotifier(QSocketNotifier *notifier)
{
    const int fd = int(notifier->socket());
    const int type = int(notifier->type());
    if (fd < 0 || type < 0 || type > 2)
        return;
    FdNotifiers &entry = m_fds[fd];
    if (entry.notifiers[type] && entry.notifiers[type] != notifier)
        qCWarning(lcDispatcher) << "several socket notifiers of one type for socket" << fd
                                << "- the last one registered gets the events";
    entry.notifiers[type] = notifier;
    updateEpoll(fd, entry);
}

void EpollDispatcher::unregisterSocketNotifier(QSocketNotifier *notifier)
{
    // Not called this batch even if already found ready (it may be deleted right after).
    std::replace(m_pending.begin() + qsizetype(m_pendingHead), m_pending.end(), notifier,
                 static_cast<QSocketNotifier *>(nullptr));
    const int fd = int(notifier->socket());
    const int type = int(notifier->type());
    const auto it = m_fds.find(fd);
    if (it == m_fds.end() || type < 0 || type > 2 || it->second.notifiers[type] != notifier)
        return;
    it->second.notifiers[type] = nullptr;
    updateEpoll(fd, it->second);
    const QSocketNotifier *const *n = it->second.notifiers;
    if (!n[0] && !n[1] && !n[2])
        m_fds.erase(it);
}

void EpollDispatcher::updateEpoll(int fd, FdNotifiers &entry)
{
    const std::uint32_t mask = (entry.notifiers[QSocketNotifier::Read] ? EPOLLIN : 0u) |
                               (entry.notifiers[QSocketNotifier::Write] ? EPOLLOUT : 0u) |
                               (entry.notifiers[QSocketNotifier::Exception] ? EPOLLPRI : 0u);
    if (entry.alwaysReady) {
        if (!mask) {
            m_alwaysReady.erase(std::remove(m_alwaysReady.begin(), m_alwaysReady.end(), fd),
                                m_alwaysReady.end());
            entry.alwaysReady = false;
        }
        return;
    }
    if (!mask) {
        if (entry.inEpoll)
            ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, fd, nullptr); // fails harmlessly once closed
        entry.inEpoll = false;
        return;
    }
    epoll_event event{};
    event.events = mask;
    event.data.u64 = (std::uint64_t(fd) << 2) | NotifierTag;
    const int op = entry.inEpoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (::epoll_ctl(m_epoll, op, fd, &event) != 0) {
        // The descriptor was closed (which left the set) and reused behind the notifier's
        // back: add it again. EEXIST is not retried as a modification: the descriptor is
        // someone else's in this set (the Poller's), and must stay theirs.
        if (op == EPOLL_CTL_MOD && errno == ENOENT &&
            ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event) == 0) {
            entry.inEpoll = true;
            return;
        }
        if (errno == EPERM) {
            // A regular file or a directory: poll() reports those always ready, so does this.
            entry.alwaysReady = true;
            entry.inEpoll = false;
            m_alwaysReady.push_back(fd);
            return;
        }
        qCWarning(lcDispatcher) << "socket notifier for" << fd << ":" << qt_error_string(errno);
        entry.inEpoll = false;
        return;
    }
    entry.inEpoll = true;
}

void EpollDispatcher::markPending(QSocketNotifier *notifier)
{
    if (!notifier)
        return;
    if (std::find(m_pending.begin() + qsizetype(m_pendingHead), m_pending.end(), notifier) ==
        m_pending.end())
        m_pending.push_back(notifier);
}

int EpollDispatcher::activateNotifiers()
{
    int activated = 0;
    // Indexed, not iterated: a notifier's handler may register, unregister (which nulls its
    // entry) or run a nested loop that appends and activates further entries.
    while (m_pendingHead < m_pending.size()) {
        QSocketNotifier *notifier = m_pending[m_pendingHead++];
        if (!notifier)
            continue;
        QEvent event(QEvent::SockAct);
        QCoreApplication::sendEvent(notifier, &event);
        ++activated;
    }
    m_pending.clear();
    m_pendingHead = 0;
    return activated;
}

// ---- the Poller

int EpollDispatcher::attachPoller(Poller *poller)
{
    if (m_poller || !isValid())
        return -1;
    m_poller = poller;
    return m_epoll;
}

void EpollDispatcher::detachPoller(Poller *poller)
{
    if (m_poller == poller)
        m_poller = nullptr;
}

// ---- timers

std::int64_t EpollDispatcher::nowNs() const
{
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * NsPerSecond + ts.tv_nsec;
}

int EpollDispatcher::msUntilNextTimer(std::int64_t now) const
{
    // A timer whose event is being delivered (its handler runs a nested loop) does not count:
    // it fires again only once that delivery is over.
    for (const Timer *t : m_timers) {
        if (t->activateRef)
            continue;
        if (t->timeoutNs <= now)
            return 0;
        // Rounded up: waking early would only find nothing due and wait again.
        return int(std::min<std::int64_t>((t->timeoutNs - now + NsPerMs - 1) / NsPerMs,
                                          std::numeric_limits<int>::max()));
    }
    return -1;
}

void EpollDispatcher::insertTimer(Timer *timer)
{
    // After the timers due at the same time: equal timeouts fire in registration order.
    const auto at = std::upper_bound(
        m_timers.begin(), m_timers.end(), timer->timeoutNs,
        [](std::int64_t timeout, const Timer *t) { return timeout < t->timeoutNs; });
    m_timers.insert(at, timer);
}

void EpollDispatcher::registerTimer(int timerId, qint64 interval, Qt::TimerType timerType,
                                    QObject *object)
{
    if (timerId < 1 || interval < 0 || !object)
        return;
    const std::int64_t now = nowNs();
    auto *t = new Timer{timerId, interval, timerType, object, 0};
    if (t->type == Qt::CoarseTimer) {
        if (interval >= CoarseVeryCoarseFromMs)
            t->type = Qt::VeryCoarseTimer;
        else if (interval <= CoarsePreciseBelowMs)
            t->type = Qt::PreciseTimer;
    }
    if (t->type == Qt::VeryCoarseTimer) {
        // Whole seconds, on a second boundary: 23.5 s -> 24 s.
        t->interval = (interval + 500) / 1000;
        t->timeoutNs = roundUp(now, NsPerSecond) + t->interval * NsPerSecond;
    } else {
        t->timeoutNs = now + interval * NsPerMs;
        if (t->type == Qt::CoarseTimer) {
            // The largest round step within 5% of the interval.
            const qint64 slackMs = interval / 20;
            qint64 stepMs = 1;
            for (qint64 step : {1000, 500, 250, 100, 50, 25, 10, 5, 2}) {
                if (step <= slackMs) {
                    stepMs = step;
                    break;
                }
            }
            t->timeoutNs = roundUp(t->timeoutNs, stepMs * NsPerMs);
        }
    }
    insertTimer(t);
}

void EpollDispatcher::computeNextTimeout(Timer &t, std::int64_t now) const
{
    if (t.type == Qt::VeryCoarseTimer) {
        t.timeoutNs += t.interval * NsPerSecond;
        if (t.timeoutNs <= now)
            t.timeoutNs = roundUp(now, NsPerSecond) + t.interval * NsPerSecond;
        return;
    }
    // On the grid of the first timeout; a timer that fell behind (a busy thread) skips what it
    // missed instead of firing in a burst.
    t.timeoutNs += t.interval * NsPerMs;
    if (t.timeoutNs < now)
        t.timeoutNs = now + t.interval * NsPerMs;
}

bool EpollDispatcher::unregisterTimer(int timerId)
{
    for (auto it = m_timers.begin(); it != m_timers.end(); ++it) {
        Timer *t = *it;
        if (t->id != timerId)
            continue;
        if (t == m_firstActivated)
            m_firstActivated = nullptr;
        if (t->activateRef)
            *t->activateRef = nullptr;
        m_timers.erase(it);
        delete t;
        return true;
    }
    return false;
}

bool EpollDispatcher::unregisterTimers(QObject *object)
{
    bool any = false;
    for (auto it = m_timers.begin(); it != m_timers.end();) {
        Timer *t = *it;
        if (t->object != object) {
            ++it;
            continue;
        }
        if (t == m_firstActivated)
            m_firstActivated = nullptr;
        if (t->activateRef)
            *t->activateRef = nullptr;
        it = m_timers.erase(it);
        delete t;
        any = true;
    }
    return any;
}

QList<QAbstractEventDispatcher::TimerInfo> EpollDispatcher::registeredTimers(QObject *object) const
{
    QList<TimerInfo> list;
    for (const Timer *t : m_timers) {
        if (t->object == object)
            list.append(TimerInfo(
                t->id, int(t->type == Qt::VeryCoarseTimer ? t->interval * 1000 : t->interval),
                t->type));
    }
    return list;
}

int EpollDispatcher::remainingTime(int timerId)
{
    const std::int64_t now = nowNs();
    for (const Timer *t : m_timers) {
        if (t->id == timerId)
            return t->timeoutNs <= now ? 0 : int((t->timeoutNs - now + NsPerMs - 1) / NsPerMs);
    }
    return -1;
}

int EpollDispatcher::activateTimers()
{
    if (m_timers.empty())
        return 0;
    const std::int64_t now = nowNs();
    // Only the timers due now, each at most once: one re-armed already due (an interval of
    // 0, or a thread that fell behind) waits for the next turn, so sockets get their turn too.
    int due = 0;
    for (const Timer *t : m_timers) {
        if (t->timeoutNs > now)
            break;
        ++due;
    }
    int activated = 0;
    m_firstActivated = nullptr;
    while (due-- > 0 && !m_timers.empty()) {
        Timer *current = m_timers.front();
        if (current->timeoutNs > now)
            break;
        if (!m_firstActivated)
            m_firstActivated = current;
        else if (m_firstActivated == current)
            break; // went round: every due timer had its turn
        m_timers.erase(m_timers.begin());
        computeNextTimeout(*current, now);
        insertTimer(current);
        if (current->interval > 0)
            ++activated;
        // Not re-entered: a timer whose handler runs a nested loop is not delivered again
        // from inside it.
        if (current->activateRef)
            continue;
        current->activateRef = &current;
        QTimerEvent event(current->id);
        QCoreApplication::sendEvent(current->object, &event);
        if (current) // else unregistered (and deleted) by its handler
            current->activateRef = nullptr;
    }
    m_firstActivated = nullptr;
    return activated;
}

} // namespace Berth::Engine
