#pragma once

#include "childspec.h"

#include <config/diagnostic.h>

#include <QList>
#include <QString>

#include <functional>
#include <memory>

namespace Berth::Config {
class Config;
}

namespace Berth::Supervisor {

class Service;
struct ServiceSetup;

// A service kind: how the configuration asks for it, how it is validated and built. The
// supervisor, the child host and `berthd check` know services only through these entries, so a
// new kind is one folder plus one line in the composition root (services/builtinservices.cpp).
struct ServiceKind
{
    QString kind;
    // The child groups the configuration asks for (none when the kind is not configured).
    std::function<QList<ChildSpec>(const Config::Config &)> childSpecs;
    // Validation without side effects: reports problems on config (Config::addDiagnostic); must
    // not create, truncate or chown a file, bind a socket or start a thread.
    std::function<void(const Config::Config &)> validate;
    // One instance for one process.
    std::function<std::unique_ptr<Service>(const ServiceSetup &)> create;
    // Optional: the sockets the kind's children serve (TCP listeners, UDP sockets), opened by the
    // master before it drops privileges. ChildSpec::listeners index into this list.
    // Defaults to none, so kinds without sockets leave it out of their initializer.
    std::function<QList<Core::ListenSpec>(const Config::Config &)> listeners = {};
};

class ServiceRegistry
{
public:
    void add(ServiceKind kind);
    const ServiceKind *find(const QString &kind) const;
    const QList<ServiceKind> &kinds() const { return m_kinds; }

    // Every kind's child specs for config, in registration order, with listenSpecs filled.
    QList<ChildSpec> childSpecs(const Config::Config &config) const;
    // Every kind's sockets, in registration order (HTTP's first): what the master opens.
    QList<Core::ListenSpec> listenSpecs(const Config::Config &config) const;
    // Every kind's validation; the diagnostics end up on config.
    void validate(const Config::Config &config) const;

    // The kinds this process knows. The composition root fills it once at start-up
    // (Services::registerBuiltinServices, from berthd's main), before anything reads it: the
    // layers that use it never name a kind.
    static ServiceRegistry &builtin();

private:
    QList<ServiceKind> m_kinds;
};

} // namespace Berth::Supervisor
