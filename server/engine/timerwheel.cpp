#include "timerwheel.h"

#include <QTimer>

#include <algorithm>
#include <memory>

namespace Berth::Engine {

namespace {

thread_local TimerWheel *t_registered = nullptr;

// The wheel of a thread that registered none: a Qt timer of the thread advances it while
// timers are armed, and stops once none is (a thread that keeps no timeouts wakes for none).
struct FallbackWheel
{
    FallbackWheel()
        : wheel(TimerWheel::FallbackResolutionMs, 64, Core::monotonicMs())
    {
        timer.setInterval(int(TimerWheel::FallbackResolutionMs));
        QObject::connect(&timer, &QTimer::timeout, &timer, [this] {
            wheel.advance(wheel.now());
            if (wheel.count() == 0) // 64 buckets: cheap enough at this rate
                timer.stop();
        });
    }
    TimerWheel wheel;
    QTimer timer;
};

// Floor division: a clock may start below zero (an injected one).
qint64 tickOf(qint64 ms, qint64 resolution)
{
    const qint64 q = ms / resolution;
    return (ms % resolution != 0 && ms < 0) ? q - 1 : q;
}

} // namespace

void TimerWheel::Head::linkAlone()
{
    Timer *self = this;
    // A head is its own neighbour when its bucket is empty.
    static_cast<TimerWheel::Timer *>(self)->m_prev = self;
    static_cast<TimerWheel::Timer *>(self)->m_next = self;
}

TimerWheel::Timer *TimerWheel::Head::first() const
{
    return m_next;
}

bool TimerWheel::Head::empty() const
{
    return m_next == this;
}

TimerWheel::TimerWheel(qint64 resolutionMs, int slots, qint64 now)
    : m_resolution(std::max<qint64>(1, resolutionMs))
    , m_tick(tickOf(now, m_resolution))
    , m_buckets(size_t(std::max(1, slots)))
{}

TimerWheel::~TimerWheel()
{
    if (t_registered == this)
        t_registered = nullptr;
    // Timers outlive the wheel in some teardown orders: leave them disarmed, not pointing here.
    for (Head &head : m_buckets) {
        while (!head.empty())
            head.first()->unlink();
    }
}

void TimerWheel::insertBefore(Timer &position, Timer &timer)
{
    timer.m_prev = position.m_prev;
    timer.m_next = &position;
    position.m_prev->m_next = &timer;
    position.m_prev = &timer;
}

void TimerWheel::arm(Timer &timer, qint64 deadline)
{
    timer.unlink();
    timer.m_deadline = deadline;
    // A deadline already past goes into the bucket the next advance walks first.
    insertBefore(bucket(std::max(tickOf(deadline, m_resolution), m_tick)), timer);
    if (Q_UNLIKELY(deadline < m_sleepUntil))
        wakeEarly();
}

void TimerWheel::wakeEarly()
{
    m_sleepUntil = Awake;
    if (m_wake)
        m_wake();
}

qint64 TimerWheel::nextDeadline(qint64 limit) const
{
    qint64 earliest = limit;
    const qint64 slots = qint64(m_buckets.size());
    const qint64 last = std::min(tickOf(limit, m_resolution), m_tick + slots - 1);
    for (qint64 t = m_tick; t <= last; ++t) {
        const Head &head = m_buckets[size_t(((t % slots) + slots) % slots)];
        for (const Timer *timer = head.first(); timer != &head; timer = timer->m_next)
            earliest = std::min(earliest, timer->m_deadline);
        // A later bucket holds later deadlines only (its own tick's, or rounds after): done once
        // this one's range holds the earliest so far.
        if (earliest < (t + 1) * m_resolution)
            break;
    }
    return earliest;
}

int TimerWheel::advance(qint64 now)
{
    const qint64 target = std::max(tickOf(now, m_resolution), m_tick);
    qint64 from = m_tick;
    if (target - from >= qint64(m_buckets.size()))
        from = target - qint64(m_buckets.size()) + 1; // a long gap: every bucket once
    // Collect first, fire after: onTimer() may arm timers (itself included) into the buckets
    // being walked, or disarm and destroy others that are due.
    Head due;
    for (qint64 t = from; t <= target; ++t) {
        Head &head = bucket(t);
        Timer *timer = head.first();
        while (timer != &head) {
            Timer *next = timer->m_next;
            if (timer->m_deadline <= now) {
                timer->unlink();
                insertBefore(due, *timer);
            }
            timer = next;
        }
    }
    m_tick = target;
    int fired = 0;
    while (!due.empty()) {
        Timer *timer = due.first();
        timer->unlink();
        ++fired;
        timer->onTimer(now);
    }
    return fired;
}

void TimerWheel::rebase(qint64 now)
{
    Head all;
    for (Head &head : m_buckets) {
        while (!head.empty()) {
            Timer *timer = head.first();
            timer->unlink();
            insertBefore(all, *timer);
        }
    }
    m_tick = tickOf(now, m_resolution);
    while (!all.empty()) {
        Timer *timer = all.first();
        arm(*timer, timer->m_deadline);
    }
}

TimerWheel &TimerWheel::forCurrentThread()
{
    if (t_registered)
        return *t_registered;
    // Lives as long as the thread; its timer belongs to this thread's event loop.
    thread_local std::unique_ptr<FallbackWheel> fallback;
    if (!fallback)
        fallback = std::make_unique<FallbackWheel>();
    if (!fallback->timer.isActive())
        fallback->timer.start();
    return fallback->wheel;
}

void TimerWheel::setForCurrentThread(TimerWheel *wheel)
{
    t_registered = wheel;
}

int TimerWheel::count() const
{
    int n = 0;
    for (const Head &head : m_buckets) {
        for (const Timer *t = head.first(); t != &head; t = t->m_next)
            ++n;
    }
    return n;
}

} // namespace Berth::Engine
