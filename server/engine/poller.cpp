#include "poller.h"

#include "epolldispatcher.h"

#include <QSocketNotifier>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <sys/epoll.h>
#include <unistd.h>

namespace Berth::Engine {

namespace {

constexpr int MaxEventsPerWake = 256;

thread_local Poller *t_current = nullptr;

std::uint32_t eventMask(bool read, bool write)
{
    return (read ? EPOLLIN | EPOLLRDHUP : 0u) | (write ? EPOLLOUT : 0u);
}

} // namespace

Poller::Poller(QObject *parent)
    : QObject(parent)
{
    if (!t_current) {
        t_current = this;
        if (EpollDispatcher *dispatcher = EpollDispatcher::forCurrentThread()) {
            m_epoll = dispatcher->attachPoller(this);
            if (m_epoll >= 0) {
                m_dispatcher = dispatcher;
                return;
            }
        }
    }
    m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
    if (m_epoll < 0)
        return;
    m_notifier = new QSocketNotifier(m_epoll, QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, &Poller::dispatch);
}

Poller::~Poller()
{
    if (t_current == this)
        t_current = nullptr;
    if (m_dispatcher) {
        for (int fd : m_exclusive)
            ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, fd, nullptr);
        m_dispatcher->detachPoller(this);
    } else if (m_epoll >= 0) {
        ::close(m_epoll);
    }
}

void Poller::detachFromDispatcher()
{
    m_dispatcher = nullptr;
    m_epoll = -1;
    m_exclusive.clear();
}

Poller *Poller::forCurrentThread()
{
    if (!t_current) {
        // Lives as long as the thread; its notifier belongs to this thread's event loop.
        thread_local std::unique_ptr<Poller> own;
        own = std::make_unique<Poller>();
    }
    return t_current;
}

bool Poller::add(int fd, Handler *handler, bool read, bool write)
{
    epoll_event event{};
    event.events = eventMask(read, write);
    event.data.ptr = handler;
    return ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event) == 0;
}

bool Poller::addExclusive(int fd, Handler *handler)
{
    epoll_event event{};
    event.events = EPOLLIN | EPOLLEXCLUSIVE;
    event.data.ptr = handler;
    if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event) != 0)
        return false;
    if (m_dispatcher)
        m_exclusive.push_back(fd);
    return true;
}

void Poller::update(int fd, Handler *handler, bool read, bool write)
{
    epoll_event event{};
    event.events = eventMask(read, write);
    event.data.ptr = handler;
    ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, fd, &event);
}

void Poller::remove(int fd)
{
    ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, fd, nullptr);
    if (!m_exclusive.empty())
        m_exclusive.erase(std::remove(m_exclusive.begin(), m_exclusive.end(), fd),
                          m_exclusive.end());
}

void Poller::deferToTurnEnd(void (*fn)(void *), void *arg)
{
    // With the dispatcher, work deferred from a timer or a notifier runs when its turn ends.
    if (m_depth > 0 || m_dispatcher) {
        m_deferred.push_back({fn, arg});
        return;
    }
    QMetaObject::invokeMethod(
        this, [fn, arg] { fn(arg); }, Qt::QueuedConnection);
}

void Poller::runDeferred()
{
    while (!m_deferred.empty()) {
        m_running.swap(m_deferred);
        for (const Deferred &d : m_running)
            d.fn(d.arg);
        m_running.clear();
    }
}

void Poller::runDeferredOutsideBatch()
{
    if (m_depth > 0 || m_deferred.empty())
        return;
    ++m_depth;
    runDeferred();
    --m_depth;
}

void Poller::dispatch()
{
    epoll_event events[MaxEventsPerWake];
    const int n = ::epoll_wait(m_epoll, events, MaxEventsPerWake, 0);
    dispatchBatch(events, n);
}

void Poller::dispatchBatch(const epoll_event *events, int n)
{
    ++m_depth;
    if (n > 0 && m_turnBegin)
        m_turnBegin();
    for (int i = 0; i < n; ++i) {
        // Handlers are deleted later, never during dispatch, so a pointer from this batch stays
        // valid even when an earlier handler of the batch closed that connection.
        auto *handler = static_cast<Handler *>(events[i].data.ptr);
        const std::uint32_t e = events[i].events;
        // Errors and hang-ups surface as readable: the next read reports them.
        const bool readable = e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
        const bool writable = e & (EPOLLOUT | EPOLLHUP | EPOLLERR);
        handler->onPollEvents(readable, writable);
    }
    if (n > 0 && m_turnEnd)
        m_turnEnd();
    if (m_depth == 1) // still counted: what the deferred work defers runs in this loop too
        runDeferred();
    --m_depth;
}

} // namespace Berth::Engine
