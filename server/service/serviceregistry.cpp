#include "serviceregistry.h"

#include <config/config.h>

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
        if (k.childSpecs)
            specs.append(k.childSpecs(config));
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
