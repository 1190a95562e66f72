#pragma once

#include <QAbstractEventDispatcher>

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

class QThread;
struct epoll_event;

namespace Berth::Engine {

class Poller;

// A Qt event dispatcher (Linux) whose thread sleeps in one epoll_wait, with the timeout of its
// nearest Qt timer. Under Qt's glib dispatcher every wake-up of an event-loop thread cost a
// poll() of the Poller's epoll set, then the Poller's own epoll_wait, then glib's
// prepare/query/check/dispatch; here the Poller's sockets sit in the dispatcher's own epoll set
// (Poller attaches to it) and their batch runs from the same epoll_wait. Being the set the
// thread really sleeps in, a listener added with EPOLLEXCLUSIVE wakes one waiting thread.
//
// It implements the whole QAbstractEventDispatcher contract as Qt's Unix dispatcher does:
// socket notifiers (read, write and exception on one descriptor), Qt timers (precise, coarse
// rounded within 5%, very coarse to the second), posted events, wakeUp() from any thread
// (coalesced: any number of wake-ups before the thread runs cost one eventfd write), interrupt(),
// the processEvents flags and nested event loops. Everything but wakeUp() and interrupt() is
// called in the dispatcher's thread.
class EpollDispatcher final : public QAbstractEventDispatcher
{
    Q_OBJECT
public:
    explicit EpollDispatcher(QObject *parent = nullptr);
    ~EpollDispatcher() override;

    // Gives thread an EpollDispatcher (call before thread->start()), unless the environment
    // says BERTH_EVENT_DISPATCHER=qt (the operators' way back to Qt's dispatcher). True when
    // installed.
    static bool installOn(QThread *thread);
    // The calling thread's dispatcher when it is an EpollDispatcher, else nullptr.
    static EpollDispatcher *forCurrentThread();

    bool isValid() const { return m_epoll >= 0 && m_wakeFd >= 0; }

    bool processEvents(QEventLoop::ProcessEventsFlags flags) override;

    void registerSocketNotifier(QSocketNotifier *notifier) override;
    void unregisterSocketNotifier(QSocketNotifier *notifier) override;

    void registerTimer(int timerId, qint64 interval, Qt::TimerType timerType,
                       QObject *object) override;
    bool unregisterTimer(int timerId) override;
    bool unregisterTimers(QObject *object) override;
    QList<TimerInfo> registeredTimers(QObject *object) const override;
    int remainingTime(int timerId) override;

    void wakeUp() override;
    void interrupt() override;

    // For tests: eventfd writes made by wakeUp() so far.
    quint64 wakeUpWrites() const { return m_wakeWrites.load(std::memory_order_relaxed); }

private:
    friend class Poller;

    struct Timer;
    struct FdNotifiers
    {
        QSocketNotifier *notifiers[3] = {nullptr, nullptr, nullptr}; // read, write, exception
        bool inEpoll = false;
        bool alwaysReady = false; // a regular file: epoll refuses it, poll() calls it ready
    };

    // Poller's side: one Poller per thread shares the epoll set; its events are handed back in
    // batches (see Poller::dispatchBatch).
    int attachPoller(Poller *poller);
    void detachPoller(Poller *poller);

    int waitAndDispatch(int timeoutMs);
    int waitForWakeUpOnly(int timeoutMs);
    void consumeWakeUp();
    void updateEpoll(int fd, FdNotifiers &entry);
    void markPending(QSocketNotifier *notifier);
    int activateNotifiers();

    std::int64_t nowNs() const;
    int msUntilNextTimer(std::int64_t now) const; // -1: no timer
    void insertTimer(Timer *timer);
    void computeNextTimeout(Timer &timer, std::int64_t now) const;
    int activateTimers();

    int m_epoll = -1;
    int m_wakeFd = -1;
    // Set by the first wakeUp() since the thread last read the eventfd: later ones write
    // nothing. Acquire/release pairs a poster's queued event with the thread's read of it.
    std::atomic<bool> m_wakePending{false};
    std::atomic<bool> m_interrupt{false};
    std::atomic<quint64> m_wakeWrites{0};

    Poller *m_poller = nullptr;
    std::unordered_map<int, FdNotifiers> m_fds;
    std::vector<int> m_alwaysReady;
    // Notifiers to activate, in order; nullptr once unregistered. A nested loop run by one of
    // them goes on from m_pendingHead.
    std::vector<QSocketNotifier *> m_pending;
    size_t m_pendingHead = 0;
    // Sorted by timeout, earliest first: a thread has a handful of Qt timers (the wheel's tick,
    // a few QTimers of apps), so an insertion into a vector beats any tree.
    std::vector<Timer *> m_timers;
    Timer *m_firstActivated = nullptr; // see activateTimers()
};

} // namespace Berth::Engine
