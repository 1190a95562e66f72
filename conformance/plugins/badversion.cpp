// Claims a plugin API version this berthd does not provide: refused before any of its code runs.
#include <berth/plugin.h>

namespace {
void registerNothing(Berth::Plugins::Registrar &) {}
} // namespace

extern "C" __attribute__((visibility("default"))) const BerthPluginInfo berth_plugin_info = {
    BERTH_PLUGIN_API_VERSION + 1, QT_VERSION, "badversion", "1.0", registerNothing};
