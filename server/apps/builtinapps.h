#pragma once

namespace Berth::Pipeline {
class AppRegistry;
}
namespace Berth::SocketApps {
class SocketAppRegistry;
}

namespace Berth::Apps {

// Registers every built-in app (berth.echo, berth.static, berth.stats, berth.heartbeat ...).
void registerBuiltinApps(Pipeline::AppRegistry &registry);
// A registry holding every built-in app, built once (the composition root's default).
const Pipeline::AppRegistry &builtinApps();
// Registers every built-in TCP and UDP app (berth.tcp_echo, berth.udp_echo).
void registerBuiltinSocketApps(SocketApps::SocketAppRegistry &registry);

} // namespace Berth::Apps
