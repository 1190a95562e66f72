#include "serviceregistry.h"

#include <config/config.h>

#include <algorithm>

namespace Berth::Supervisor {

void ServiceRegistry::add(ServiceKind kind)
{
    m_kinds.append(std::move(kind));
}

const ServiceKind *ServiceRegistry::find(const QString &kind) const
{
    for (const ServiceKind &k : m_kinds) {
        if (k.kind == kind)
            return &k;
    }
    return nullptr;
}

QList<ChildSpec> ServiceRegistry::childSpecs(const Config::Config &config) const
{
    QList<ChildSpec> specs;
    for (const ServiceKind &k : m_kinds) {
        if (!k.childSpecs)
            continue;
        const QList<Core::ListenSpec> sockets =
            k.listeners ? k.listeners(config) : QList<Core::ListenSpec>();
        for (ChildSpec spec : k.childSpecs(config)) {
            spec.listenSpecs.clear();
            for (int index : std::as_const(spec.listeners)) {
                if (index >= 0 && index < sockets.size())
                    spec.listenSpecs.append(sockets[index]);
            }
            specs.append(spec);
        }
    }
    return specs;
}

QList<Core::ListenSpec> ServiceRegistry::listenSpecs(const Config::Config &config) const
{
    QList<Core::ListenSpec> specs;
    for (const ServiceKind &k : m_kinds) {
        if (!k.listeners)
            continue;
        for (const Core::ListenSpec &spec : k.listeners(config)) {
            // Two kinds never share a socket; the validator reports the clash.
            const bool known = std::any_of(specs.cbegin(), specs.cend(),
                                           [&](const auto &s) { return s.sameSocket(spec); });
            if (!known)
                specs.append(spec);
        }
    }
    return specs;
}

void ServiceRegistry::validate(const Config::Config &config) const
{
    for (const ServiceKind &k : m_kinds) {
        if (k.validate)
            k.validate(config);
    }
}

ServiceRegistry &ServiceRegistry::builtin()
{
    static ServiceRegistry registry;
    return registry;
}

} // namespace Berth::Supervisor
