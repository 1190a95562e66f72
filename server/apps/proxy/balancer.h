#pragma once

#include "upstream/memberaddress.h"

#include <QList>
#include <QString>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

namespace Berth::Gateway {

// One member of a group as configured: `members = a:5000 weight=3, b:5000, c:5000 backup`.
struct MemberSpec
{
    Upstream::MemberAddress address;
    int weight = 1;
    bool backup = false;
    int maxConns = 0; // 0: no limit
};

// What a worker knows about a member. Shared by the event-loop threads of one worker process
// (atomics, relaxed: every field is a counter or a deadline read on its own, and a stale read
// only makes one pick slightly less fair).
struct MemberState
{
    std::atomic<int> inFlight{0};
    std::atomic<qint64> downUntilMs{0}; // passive health: out until then (steady clock)
    std::atomic<int> recentFails{0};
    std::atomic<qint64> failWindowStartMs{0};
    std::atomic<bool> markedDown{false}; // for logging each transition once
    std::atomic<quint64> requests{0};
    std::atomic<quint64> failures{0};
    std::atomic<qint64> latencyEwmaUs{0};
};

// Chooses a member for each request: round_robin (smooth weighted, as nginx), least_conn
// (fewest in flight per weight), ip_hash (the client address picks, stable while members stay
// up) or random_two (two weighted random choices, the less loaded wins). Backups serve only
// when no primary can. Passive health as nginx: max_fails failures within fail_timeout take a
// member out for fail_timeout. Time is passed in (steady milliseconds) so tests drive the clock.
class Balancer
{
public:
    enum class Method { RoundRobin, LeastConn, IpHash, RandomTwo };
    static bool parseMethod(const QString &text, Method *method);

    enum class Pick {
        Chosen, // *member is the member to use
        Busy,   // members are up but every one is at max_conns: queue, then 503
        NoneUp, // every member is down (or already tried): 503 at once
    };
    // A member's change of state, for server.log.
    enum class Transition { None, WentDown, CameUp };

    Balancer(QList<MemberSpec> members, Method method, int maxFails, qint64 failTimeoutMs);

    int size() const { return int(m_members.size()); }
    const MemberSpec &spec(int member) const { return m_members[member]; }
    MemberState &state(int member) { return *m_states[member]; }
    const MemberState &state(int member) const { return *m_states[member]; }

    // Active health checks (shared memory, from the gateway health service): 1 when the member
    // failed its checks. Called on every pick, from any event-loop thread, with the pick's
    // clock (steady milliseconds) so it can keep a verdict for a while without reading one.
    using HealthSource = std::function<int(int member, qint64 nowMs)>;
    void setHealthSource(HealthSource source) { m_health = std::move(source); }

    // tried: members this request already failed on (bit i = member i), skipped.
    Pick pick(quint32 clientHash, quint64 tried, qint64 nowMs, int *member);
    bool isDown(int member, qint64 nowMs) const;

    // Bookkeeping around one request on a member.
    void started(int member);
    Transition succeeded(int member, qint64 latencyUs);
    Transition failed(int member, qint64 nowMs);
    // The request ended without a verdict on the member (the client left).
    void released(int member);

private:
    bool eligible(int member, quint64 tried, qint64 nowMs, bool *full) const;
    int pickFrom(const std::vector<int> &sequence, quint32 clientHash, quint64 tried, qint64 nowMs,
                 bool *anyFull);

    QList<MemberSpec> m_members;
    std::vector<std::unique_ptr<MemberState>> m_states;
    std::vector<int> m_primarySequence; // smooth weighted round-robin order of the primaries
    std::vector<int> m_backupSequence;
    HealthSource m_health;
    Method m_method;
    int m_maxFails;
    qint64 m_failTimeoutMs;
    std::atomic<quint64> m_counter{0};
    std::atomic<quint64> m_random{0x9e3779b97f4a7c15ull};
};

} // namespace Berth::Gateway
