#pragma once

#include "runtime/statsregistry.h"

#include <QString>

namespace Berth::SocketApps {

// The stats of one TCP or UDP app (brim's stats_conf): each name is declared once per app and
// published as "<section>.<name>" ("tcp:echo.byte_count"), so two apps never share a counter
// and every process (berth.stats, Prometheus, `berthd status`) sees which app a value belongs
// to. Without a registry (`berthd check` building an app to validate it) every call is a no-op.
class AppStats
{
public:
    AppStats() = default;
    AppStats(Core::StatsRegistry *registry, const QString &section)
        : m_registry(registry)
        , m_prefix(section + QLatin1Char('.'))
    {}

    // The stat's index for add()/set(), -1 when it could not be declared (ignored by both).
    // Declare while the app is built, before it serves.
    int declare(const QString &name, Core::StatType type)
    {
        return m_registry ? m_registry->declare(m_prefix + name, type) : -1;
    }
    void add(int stat, qint64 delta = 1)
    {
        if (m_registry)
            m_registry->add(stat, delta);
    }
    void set(int stat, qint64 value)
    {
        if (m_registry)
            m_registry->set(stat, value);
    }

private:
    Core::StatsRegistry *m_registry = nullptr;
    QString m_prefix;
};

} // namespace Berth::SocketApps
