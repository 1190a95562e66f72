#pragma once

namespace Berth::Supervisor {
class ServiceRegistry;
}

namespace Berth::Services {

// Registers every service kind berthd ships (http, and berth.ticker for the tests) in registry.
// Called once by the composition root (berthd's main) before the registry is read; calling it
// again adds nothing.
void registerBuiltinServices(Supervisor::ServiceRegistry &registry);

} // namespace Berth::Services
