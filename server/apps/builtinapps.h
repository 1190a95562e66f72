#pragma once

namespace Berth::Pipeline {
class AppRegistry;
}

namespace Berth::Apps {

// Registers every built-in app (berth.echo, berth.static, berth.stats, berth.heartbeat ...).
void registerBuiltinApps(Pipeline::AppRegistry &registry);
// A registry holding every built-in app, built once (the composition root's default).
const Pipeline::AppRegistry &builtinApps();

} // namespace Berth::Apps
