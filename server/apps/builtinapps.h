#pragma once

namespace Berth::Pipeline {
class AppRegistry;
}

namespace Berth::Apps {

// Registers every built-in app (berth.echo, berth.static, berth.stats, berth.heartbeat ...).
void registerBuiltinApps(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
