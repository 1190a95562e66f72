#pragma once

#include "engine/connectionmanager.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

namespace Berth::Http2 {

// The HTTP/2 counters of runtime/statsregistry (berth.stats "protocols", Prometheus).
enum class Stat {
    Connections = Core::StatsRegistry::Http2Connections,
    StreamsOpen = Core::StatsRegistry::Http2StreamsOpen,
    GoawaysSent = Core::StatsRegistry::Http2GoawaysSent,
    ResetsSent = Core::StatsRegistry::Http2ResetsSent,
};

inline void addStat(Engine::ConnectionManager &manager, Stat stat, qint64 delta)
{
    if (auto *stats = manager.server() ? manager.server()->stats : nullptr)
        stats->add(int(stat), delta);
}

} // namespace Berth::Http2
