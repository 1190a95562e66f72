#include "balancer.h"

#include <limits>

namespace Berth::Gateway {

namespace {

// nginx's smooth weighted round-robin, unrolled once: a:5 b:1 c:1 gives a a b a c a a, so a
// heavy member's turns are spread out rather than bunched.
std::vector<int> smoothSequence(const QList<MemberSpec> &members, bool backup)
{
    std::vector<int> indexes;
    int total = 0;
    for (int i = 0; i < members.size(); ++i) {
        if (members[i].backup == backup) {
            indexes.push_back(i);
            total += members[i].weight;
        }
    }
    std::vector<int> sequence;
    std::vector<int> current(indexes.size(), 0);
    for (int step = 0; step < total; ++step) {
        int best = -1;
        for (size_t k = 0; k < indexes.size(); ++k) {
            current[k] += members[indexes[k]].weight;
            if (best < 0 || current[k] > current[size_t(best)])
                best = int(k);
        }
        current[size_t(best)] -= total;
        sequence.push_back(indexes[size_t(best)]);
    }
    return sequence;
}

} // namespace

bool Balancer::parseMethod(const QString &text, Method *method)
{
    if (text == QLatin1String("round_robin"))
        *method = Method::RoundRobin;
    else if (text == QLatin1String("least_conn"))
        *method = Method::LeastConn;
    else if (text == QLatin1String("ip_hash"))
        *method = Method::IpHash;
    else if (text == QLatin1String("random_two"))
        *method = Method::RandomTwo;
    else
        return false;
    return true;
}

Balancer::Balancer(QList<MemberSpec> members, Method method, int maxFails, qint64 failTimeoutMs)
    : m_members(std::move(members))
    , m_method(method)
    , m_maxFails(maxFails)
    , m_failTimeoutMs(failTimeoutMs)
{
    for (int i = 0; i < m_members.size(); ++i)
        m_states.push_back(std::make_unique<MemberState>());
    m_primarySequence = smoothSequence(m_members, false);
    m_backupSequence = smoothSequence(m_members, true);
}

bool Balancer::isDown(int member, qint64 nowMs) const
{
    return m_states[size_t(member)]->downUntilMs.load(std::memory_order_relaxed) > nowMs;
}

bool Balancer::eligible(int member, quint64 tried, qint64 nowMs, bool *full) const
{
    if (member < 64 && (tried & (quint64(1) << member)))
        return false;
    if (isDown(member, nowMs) || (m_health && m_health(member, nowMs) == 1))
        return false;
    const int limit = m_members[member].maxConns;
    if (limit > 0 && m_states[size_t(member)]->inFlight.load(std::memory_order_relaxed) >= limit) {
        *full = true;
        return false;
    }
    return true;
}

int Balancer::pickFrom(const std::vector<int> &sequence, quint32 clientHash, quint64 tried,
                       qint64 nowMs, bool *anyFull)
{
    const size_t n = sequence.size();
    if (n == 0)
        return -1;
    auto load = [this](int member) {
        return double(m_states[size_t(member)]->inFlight.load(std::memory_order_relaxed)) /
               m_members[member].weight;
    };
    const quint64 turn = m_counter.fetch_add(1, std::memory_order_relaxed);
    switch (m_method) {
    case Method::RoundRobin:
    case Method::IpHash: {
        const size_t start = m_method == Method::IpHash ? clientHash % n : turn % n;
        for (size_t k = 0; k < n; ++k) {
            const int member = sequence[(start + k) % n];
            if (eligible(member, tried, nowMs, anyFull))
                return member;
        }
        return -1;
    }
    case Method::LeastConn: {
        int best = -1;
        double bestLoad = std::numeric_limits<double>::max();
        for (size_t k = 0; k < n; ++k) {
            const int member = sequence[(turn + k) % n]; // ties go round the sequence
            if (!eligible(member, tried, nowMs, anyFull))
                continue;
            if (load(member) < bestLoad) {
                best = member;
                bestLoad = load(member);
            }
        }
        return best;
    }
    case Method::RandomTwo: {
        // xorshift: cheap, and good enough to spread load.
        auto next = [this] {
            quint64 x = m_random.load(std::memory_order_relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m_random.store(x, std::memory_order_relaxed);
            return x;
        };
        const int a = sequence[next() % n];
        const int b = sequence[next() % n];
        const bool okA = eligible(a, tried, nowMs, anyFull);
        const bool okB = eligible(b, tried, nowMs, anyFull);
        if (okA && okB)
            return load(b) < load(a) ? b : a;
        if (okA || okB)
            return okA ? a : b;
        for (size_t k = 0; k < n; ++k) { // both unusable: the first one that is
            const int member = sequence[(turn + k) % n];
            if (eligible(member, tried, nowMs, anyFull))
                return member;
        }
        return -1;
    }
    }
    return -1;
}

Balancer::Pick Balancer::pick(quint32 clientHash, quint64 tried, qint64 nowMs, int *member)
{
    bool anyFull = false;
    int chosen = pickFrom(m_primarySequence, clientHash, tried, nowMs, &anyFull);
    if (chosen < 0)
        chosen = pickFrom(m_backupSequence, clientHash, tried, nowMs, &anyFull);
    if (chosen >= 0) {
        *member = chosen;
        return Pick::Chosen;
    }
    return anyFull ? Pick::Busy : Pick::NoneUp;
}

void Balancer::started(int member)
{
    MemberState &s = *m_states[size_t(member)];
    s.inFlight.fetch_add(1, std::memory_order_relaxed);
    s.requests.fetch_add(1, std::memory_order_relaxed);
}

void Balancer::released(int member)
{
    m_states[size_t(member)]->inFlight.fetch_sub(1, std::memory_order_relaxed);
}

Balancer::Transition Balancer::succeeded(int member, qint64 latencyUs)
{
    MemberState &s = *m_states[size_t(member)];
    s.inFlight.fetch_sub(1, std::memory_order_relaxed);
    s.recentFails.store(0, std::memory_order_relaxed);
    // EWMA with alpha 1/8, as TCP's smoothed RTT.
    const qint64 old = s.latencyEwmaUs.load(std::memory_order_relaxed);
    s.latencyEwmaUs.store(old == 0 ? latencyUs : old + (latencyUs - old) / 8,
                          std::memory_order_relaxed);
    s.downUntilMs.store(0, std::memory_order_relaxed);
    return s.markedDown.exchange(false, std::memory_order_relaxed) ? Transition::CameUp
                                                                   : Transition::None;
}

Balancer::Transition Balancer::failed(int member, qint64 nowMs)
{
    MemberState &s = *m_states[size_t(member)];
    s.inFlight.fetch_sub(1, std::memory_order_relaxed);
    s.failures.fetch_add(1, std::memory_order_relaxed);
    if (m_maxFails <= 0)
        return Transition::None;
    const qint64 windowStart = s.failWindowStartMs.load(std::memory_order_relaxed);
    int fails = 0;
    if (nowMs - windowStart > m_failTimeoutMs) {
        s.failWindowStartMs.store(nowMs, std::memory_order_relaxed);
        s.recentFails.store(1, std::memory_order_relaxed);
        fails = 1;
    } else {
        fails = s.recentFails.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    if (fails < m_maxFails)
        return Transition::None;
    s.recentFails.store(0, std::memory_order_relaxed);
    s.downUntilMs.store(nowMs + m_failTimeoutMs, std::memory_order_relaxed);
    return s.markedDown.exchange(true, std::memory_order_relaxed) ? Transition::None
                                                                  : Transition::WentDown;
}

} // namespace Berth::Gateway
