#include "builtinapps.h"

#include "echo/echoapp.h"
#include "fault/faultapp.h"
#include "heartbeat/heartbeatapp.h"
#include "staticfiles/staticfileapp.h"
#include "stats/statsapp.h"

namespace Berth::Apps {

void registerBuiltinApps(Pipeline::AppRegistry &registry)
{
    registerEchoApp(registry);
    registerHeartbeatApp(registry);
    registerStaticFileApp(registry);
    registerStatsApp(registry);
    registerFaultApp(registry);
}

} // namespace Berth::Apps
