#include "memberresolver.h"

#include "runtime/offloadpool.h"

namespace Berth::Gateway {

MemberResolver::MemberResolver(QList<Upstream::MemberAddress> members, std::int64_t intervalMs,
                               Lookup lookup)
    : m_members(std::move(members))
    , m_intervalMs(intervalMs)
    , m_lookup(lookup ? std::move(lookup) : Lookup(&Upstream::resolveBlocking))
{
    m_state->addresses.resize(m_members.size());
    for (int i = 0; i < m_members.size(); ++i) {
        if (!Upstream::resolveLiteral(m_members[i], &m_state->addresses[i]))
            m_hasNames = true;
    }
}

void MemberResolver::resolveAll(std::int64_t nowMs)
{
    for (int i = 0; i < m_members.size(); ++i) {
        Upstream::ResolvedAddress fresh;
        if (Upstream::resolveLiteral(m_members[i], &fresh) || !m_lookup(m_members[i], &fresh))
            continue;
        const std::lock_guard lock(m_state->mutex);
        m_state->addresses[i] = fresh;
    }
    m_dueMs.store(m_intervalMs > 0 ? nowMs + m_intervalMs : INT64_MAX, std::memory_order_relaxed);
}

Upstream::ResolvedAddress MemberResolver::address(int member, std::int64_t nowMs,
                                                  Core::OffloadPool *pool)
{
    if (m_hasNames && nowMs >= m_dueMs.load(std::memory_order_relaxed))
        refresh(nowMs, pool);
    const std::lock_guard lock(m_state->mutex);
    return m_state->addresses.value(member);
}

void MemberResolver::refresh(std::int64_t nowMs, Core::OffloadPool *pool)
{
    if (!pool || m_refreshing->exchange(true, std::memory_order_acq_rel))
        return; // no pool (tests, berthd check), or one refresh is already running
    // Due again one interval from now whatever the outcome: a resolver that is down is asked
    // once per interval, not once per request.
    m_dueMs.store(nowMs + m_intervalMs, std::memory_order_relaxed);
    // The flag is cleared by the job itself: its continuation may never be delivered (the
    // thread that asked may be gone by then).
    const bool queued = pool->submit(
        [members = m_members, lookup = m_lookup, state = m_state, refreshing = m_refreshing] {
            for (int i = 0; i < members.size(); ++i) {
                Upstream::ResolvedAddress fresh;
                if (Upstream::resolveLiteral(members[i], &fresh) || !lookup(members[i], &fresh))
                    continue; // literal, or the lookup failed: keep the last good address
                const std::lock_guard lock(state->mutex);
                state->addresses[i] = fresh;
            }
            refreshing->store(false, std::memory_order_release);
        },
        [] {}, Core::OffloadPool::Admission::Background);
    if (!queued)
        m_refreshing->store(false, std::memory_order_release);
}

} // namespace Berth::Gateway
