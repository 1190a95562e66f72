#include "builtinapps.h"

#include "pipeline/appregistry.h"
#include "plugin/pluginloader.h"

#include "basicauth/basicauthapp.h"
#include "compose/composeapp.h"
#include "debug/debugapp.h"
#include "echo/echoapp.h"
#include "fault/faultapp.h"
#include "gateway/gatewayapp.h"
#include "heartbeat/heartbeatapp.h"
#include "logcollector/logcollectorapp.h"
#include "mail/mailapp.h"
#include "metrics/metricsapp.h"
#include "proxy/proxyapp.h"
#include "ratelimit/ratelimitapp.h"
#include "session/sessionapp.h"
#include "sessiondemo/sessiondemoapp.h"
#include "socketapps/socketappregistry.h"
#include "staticfiles/staticfileapp.h"
#include "stats/statsapp.h"
#include "tcpecho/tcpechoapp.h"
#include "udpecho/udpechoapp.h"
#include "websocket/wschatapp.h"
#include "websocket/wsechoapp.h"
#include "wsgi/wsgiapp.h"

namespace Berth::Apps {

void registerBuiltinApps(Pipeline::AppRegistry &registry)
{
    registerEchoApp(registry);
    registerHeartbeatApp(registry);
    registerStaticFileApp(registry);
    registerStatsApp(registry);
    registerMetricsApp(registry);
    registerFaultApp(registry);
    registerDebugApp(registry);
    registerSessionApp(registry);
    registerSessionDemoApp(registry);
    registerBasicAuthApp(registry);
    registerRateLimitApp(registry);
    registerLogCollectorApp(registry);
    registerMailApp(registry);
    registerWsEchoApp(registry);
    registerWsChatApp(registry);
    Gateway::registerProxyApp(registry);
    Gateway::registerGatewayApp(registry);
    Compose::registerComposeApp(registry);
    Wsgi::registerWsgiApp(registry);
    Plugins::registerPluginApps(registry);
}

} // namespace Berth::Apps

namespace Berth::Apps {

const Pipeline::AppRegistry &builtinApps()
{
    static const Pipeline::AppRegistry registry = [] {
        Pipeline::AppRegistry r;
        registerBuiltinApps(r);
        return r;
    }();
    return registry;
}

} // namespace Berth::Apps

namespace Berth::Apps {

void registerBuiltinSocketApps(SocketApps::SocketAppRegistry &registry)
{
    registerTcpEchoApp(registry);
    registerUdpEchoApp(registry);
    Plugins::registerPluginSocketApps(registry);
}

} // namespace Berth::Apps
