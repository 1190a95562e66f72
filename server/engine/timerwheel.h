#pragma once

#include "runtime/sharedstate.h"

#include <QtGlobal>

#include <functional>
#include <limits>
#include <vector>

namespace Berth::Engine {

// A hashed timer wheel: one per event-loop thread, for the timeouts of its connections. Arming
// and disarming are O(1) (an intrusive list per bucket, no allocation); advancing the clock
// walks only the buckets that came due since the last advance, so thousands of idle
// connections cost nothing between their deadlines (the 100 ms scan over every connection it
// replaces cost O(connections) ten times a second).
//
// A timer fires at the first advance() whose time is at or past its deadline, that is at most
// one resolution late when advance() is called every resolution. A deadline further away than
// the wheel's span (slots x resolution) stays in its bucket for the rounds it takes. The wheel
// is single-threaded: everything happens in the thread that owns it.
class TimerWheel
{
public:
    // What a wheel holds: a base of the object whose time it keeps (a Connection). Destroying
    // a Timer disarms it.
    class Timer
    {
    public:
        Timer() = default;
        Timer(const Timer &) = delete;
        Timer &operator=(const Timer &) = delete;
        virtual ~Timer() { unlink(); }

        bool isArmed() const { return m_next != nullptr; }
        qint64 deadline() const { return m_deadline; }

    protected:
        // The deadline passed (now is the wheel's time). The timer is disarmed when this runs;
        // it may arm itself again, or destroy itself.
        virtual void onTimer(qint64 now) = 0;

    private:
        friend class TimerWheel;
        void unlink()
        {
            if (!m_next)
                return;
            m_prev->m_next = m_next;
            m_next->m_prev = m_prev;
            m_prev = m_next = nullptr;
        }

        Timer *m_prev = nullptr;
        Timer *m_next = nullptr;
        qint64 m_deadline = 0;
    };

    // resolutionMs: the width of a bucket; slots: how many (a power of two is not required).
    // now: the wheel's starting time, on the same clock as every later call.
    TimerWheel(qint64 resolutionMs, int slots, qint64 now);
    ~TimerWheel();
    TimerWheel(const TimerWheel &) = delete;
    TimerWheel &operator=(const TimerWheel &) = delete;

    // Arms (or moves) timer to fire at deadline; a deadline already past fires on the next
    // advance().
    void arm(Timer &timer, qint64 deadline);
    // Arms timer unless it is armed for an earlier time already: for callers that only know a
    // deadline may have come closer.
    void armNoLater(Timer &timer, qint64 deadline)
    {
        if (!timer.isArmed() || deadline < timer.deadline())
            arm(timer, deadline);
    }
    static void disarm(Timer &timer) { timer.unlink(); }

    // Moves the wheel's time to now and fires every timer whose deadline is at or before it.
    // Returns how many fired. Timers armed by onTimer() for a time already past fire on the
    // next advance, not in this one (no loop of a timer re-arming itself).
    int advance(qint64 now);

    // Moves the wheel's time to now, forwards or back, keeping every timer armed: for a clock
    // that is swapped (tests inject one). O(timers).
    void rebase(qint64 now);

    // The earliest deadline among the timers armed for no later than limit, else limit: how long
    // an owner that advances the wheel only when there is something to do may sleep. Walks the
    // buckets from the last advance on, until one holds a deadline (at most every bucket once).
    qint64 nextDeadline(qint64 limit) const;
    // An owner that will not advance the wheel before time (it sleeps until then) is told of a
    // timer armed for earlier: arm() calls the wake hook, once, and the wheel is awake after it
    // (every deadline accepted silently) until the next sleepUntil(). Awake is the default.
    void sleepUntil(qint64 time) { m_sleepUntil = time; }
    void stayAwake() { m_sleepUntil = Awake; }
    bool isAsleep() const { return m_sleepUntil != Awake; }
    void setWakeHook(std::function<void()> wake) { m_wake = std::move(wake); }

    qint64 resolution() const { return m_resolution; }
    // Armed timers (walks every bucket: for tests and diagnostics).
    int count() const;

    // The clock deadlines are on: the one set (the owner's, which tests inject), else the
    // monotonic clock in milliseconds.
    qint64 now() const { return m_clock ? m_clock() : Core::monotonicMs(); }
    void setClock(std::function<qint64()> clock) { m_clock = std::move(clock); }

    // The calling thread's wheel, for code that keeps the timeouts of sockets it opens there
    // itself (the gateway's upstream connections): the one registered for the thread (its
    // ConnectionManager's, advanced by the manager's tick), else one made on first use and
    // advanced every FallbackResolutionMs by a Qt timer of the thread (unit tests, a
    // service's own thread), which runs only while timers are armed. Call it again on each
    // arm: that is what restarts the fallback's timer.
    static TimerWheel &forCurrentThread();
    // Registers wheel as the calling thread's (null: unregisters it); a registered wheel
    // unregisters itself when it is destroyed.
    static void setForCurrentThread(TimerWheel *wheel);
    static constexpr qint64 FallbackResolutionMs = 50;

private:
    // Sentinel of a bucket's circular list; its onTimer() is never called.
    class Head final : public Timer
    {
    public:
        Head() { linkAlone(); }
        void linkAlone();
        void onTimer(qint64) override {}
        Timer *first() const;
        bool empty() const;
    };

    Head &bucket(qint64 tick) { return m_buckets[size_t(tick % qint64(m_buckets.size()))]; }
    static void insertBefore(Timer &position, Timer &timer);

    static constexpr qint64 Awake = std::numeric_limits<qint64>::min();
    Q_DECL_COLD_FUNCTION void wakeEarly();

    std::function<qint64()> m_clock;
    std::function<void()> m_wake;
    qint64 m_sleepUntil = Awake; // arming for earlier than this calls m_wake
    qint64 m_resolution;
    qint64 m_tick; // the bucket of the last advance, walked again by the next one
    std::vector<Head> m_buckets;
};

} // namespace Berth::Engine
