#include "daemon.h"

namespace Berth::Daemons {

void DaemonRegistry::add(DaemonKind kind)
{
    for (DaemonKind &existing : m_kinds) {
        if (existing.name == kind.name) {
            existing = std::move(kind);
            return;
        }
    }
    m_kinds.append(std::move(kind));
}

void DaemonRegistry::addPrefix(DaemonKind kind)
{
    m_prefixes.append(std::move(kind));
}

const DaemonKind *DaemonRegistry::find(const QString &name) const
{
    for (const DaemonKind &kind : m_kinds) {
        if (kind.name == name)
            return &kind;
    }
    for (const DaemonKind &kind : m_prefixes) {
        if (name.startsWith(kind.name))
            return &kind;
    }
    return nullptr;
}

QStringList DaemonRegistry::names() const
{
    QStringList names;
    for (const DaemonKind &kind : m_kinds)
        names.append(kind.name);
    return names;
}

DaemonRegistry &DaemonRegistry::builtin()
{
    static DaemonRegistry registry;
    return registry;
}

} // namespace Berth::Daemons
