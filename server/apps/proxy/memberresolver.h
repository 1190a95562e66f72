#pragma once

#include "upstream/memberaddress.h"

#include <QList>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

namespace Berth::Core {
class OffloadPool;
}

namespace Berth::Gateway {

// The socket addresses of a group's members. Literal addresses and unix paths are fixed; DNS
// names are resolved when the group is built (configuration time, not on an event loop) and
// again every `resolve_interval` in the background on the offload pool, so a member that moves
// (a container rescheduled, a blue/green switch behind a name) is followed without a reload. A
// failed lookup keeps the last good address (nginx's resolver with `valid=`). Shared by the
// group's event-loop threads: reads take a short lock, never a lookup.
class MemberResolver
{
public:
    using Lookup =
        std::function<bool(const Upstream::MemberAddress &, Upstream::ResolvedAddress *)>;

    // intervalMs <= 0: names are resolved once. lookup: getaddrinfo by default (tests inject).
    MemberResolver(QList<Upstream::MemberAddress> members, std::int64_t intervalMs,
                   Lookup lookup = {});

    // Resolves every name now, blocking: at configuration time only.
    void resolveAll(std::int64_t nowMs);
    // The address to connect to for `member` (invalid when its name never resolved). When the
    // names are due (nowMs past the interval) and `pool` is given, one background refresh is
    // started; the answer is still the current address.
    Upstream::ResolvedAddress address(int member, std::int64_t nowMs, Core::OffloadPool *pool);

    bool hasNames() const { return m_hasNames; }

private:
    struct State
    {
        std::mutex mutex;
        QList<Upstream::ResolvedAddress> addresses;
    };
    void refresh(std::int64_t nowMs, Core::OffloadPool *pool);

    const QList<Upstream::MemberAddress> m_members;
    const std::int64_t m_intervalMs;
    const Lookup m_lookup;
    bool m_hasNames = false;
    // Shared with a refresh in flight, which may outlive the group (a reload).
    std::shared_ptr<State> m_state = std::make_shared<State>();
    std::atomic<std::int64_t> m_dueMs{0};
    std::shared_ptr<std::atomic<bool>> m_refreshing = std::make_shared<std::atomic<bool>>(false);
};

} // namespace Berth::Gateway
