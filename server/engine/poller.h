#pragma once

#include <QObject>

#include <cstdint>
#include <functional>
#include <vector>

class QSocketNotifier;
struct epoll_event;

namespace Berth::Engine {

class EpollDispatcher;

// Readiness for many sockets through one epoll set per event-loop thread. Qt's Unix event
// dispatchers poll() every registered socket on each wake-up, which costs O(connections) per
// event: with 10,000 idle keep-alive clients that scan was 82% of berthd's CPU. Here Qt watches
// one descriptor, the epoll set, and only ready sockets are visited. Level-triggered, so a
// handler that leaves data unread is called again, as with QSocketNotifier.
//
// When the thread runs an EpollDispatcher, the first Poller made in it has no epoll set of its
// own: its sockets go into the dispatcher's, which the thread sleeps in, and the dispatcher hands
// their events back as a batch (no notifier, no second epoll_wait per wake-up). Other Pollers,
// and every Poller of a thread on Qt's dispatcher, keep their own set behind a QSocketNotifier.
class Poller final : public QObject
{
    Q_OBJECT
public:
    class Handler
    {
    public:
        virtual ~Handler() = default;
        virtual void onPollEvents(bool readable, bool writable) = 0;
    };

    explicit Poller(QObject *parent = nullptr);
    ~Poller() override;

    // The poller of the calling thread: the first one made in it (the event-loop thread's
    // ConnectionManager, a socket app's loop), or one made on first use (tests), for the code
    // that opens its own sockets there (the gateway's upstream connections).
    static Poller *forCurrentThread();

    bool isValid() const { return m_epoll >= 0; }
    // True when this Poller's sockets sit in the set the thread's EpollDispatcher sleeps in
    // (so an EPOLLEXCLUSIVE listener wakes one waiting thread).
    bool inDispatcherSet() const { return m_dispatcher != nullptr; }
    // Registers fd with its interest; call update() when the interest changes and remove()
    // before closing fd.
    bool add(int fd, Handler *handler, bool read, bool write);
    // A listening socket shared with other threads and processes: EPOLLEXCLUSIVE, so a new
    // connection does not wake every epoll set that watches it (nginx's default). Read interest
    // only; it can't be updated, only removed and added again.
    bool addExclusive(int fd, Handler *handler);
    void update(int fd, Handler *handler, bool read, bool write);
    void remove(int fd);

    // Called around each batch of events dispatched (one loop turn): the owner reads its clock
    // once per turn instead of once per event.
    void setTurnHooks(std::function<void()> begin, std::function<void()> end)
    {
        m_turnBegin = std::move(begin);
        m_turnEnd = std::move(end);
    }

    // Runs fn(arg) once the batch of events being dispatched is over (after the turn-end hook;
    // the outermost batch when they nest), for work that must wait until no handler of the
    // batch is on the stack: deleting what a handler closed. Called outside a batch (a timer),
    // it runs when the EpollDispatcher's turn ends, or as a queued call under Qt's dispatcher.
    // Within a batch or under the EpollDispatcher it costs no system call: a queued call
    // (deleteLater(), invokeMethod) writes the event loop's eventfd each time, and reads it on
    // the next turn.
    void deferToTurnEnd(void (*fn)(void *), void *arg);

private:
    friend class EpollDispatcher;

    struct Deferred
    {
        void (*fn)(void *);
        void *arg;
    };

    void dispatch();
    // One turn's events: the turn hooks around the handlers, then the deferred work.
    void dispatchBatch(const epoll_event *events, int count);
    void runDeferred();
    void detachFromDispatcher(); // the dispatcher is going: its set closes with it
    bool hasDeferred() const { return !m_deferred.empty(); }
    void runDeferredOutsideBatch(); // the dispatcher's turn is over

    std::function<void()> m_turnBegin;
    std::function<void()> m_turnEnd;
    int m_depth = 0; // batches being dispatched (a handler may run a nested loop)
    std::vector<Deferred> m_deferred;
    std::vector<Deferred> m_running; // keeps its capacity between turns
    int m_epoll = -1;
    QSocketNotifier *m_notifier = nullptr;
    EpollDispatcher *m_dispatcher = nullptr; // when m_epoll is the dispatcher's set
    // Listening sockets added here: in the dispatcher's set they would outlive this Poller (the
    // set is not closed with it), so the destructor removes them. Connections remove theirs.
    std::vector<int> m_exclusive;
};

} // namespace Berth::Engine
