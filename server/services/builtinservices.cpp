// The composition root of service kinds: the one place that names them. A new kind is a folder
// under services/ plus one line here; the supervisor, the child host and `berthd check` only
// see the registry.
#include "builtinservices.h"

#include "admin/adminservice.h"
#include "cron/cronservice.h"
#include "daemon/daemonservice.h"
#include "gatewayhealth/healthservice.h"
#include "http/httpservice.h"
#include "mailer/mailerservice.h"
#include "service/serviceregistry.h"
#include "socketapps/socketappservice.h"
#include "ticker/tickerservice.h"

namespace Berth::Services {

void registerBuiltinServices(Supervisor::ServiceRegistry &registry)
{
    if (registry.find(QStringLiteral("http")))
        return;
    registerHttpService(registry);
    registerTickerService(registry);
    registerCronService(registry);
    registerMailerService(registry);
    registerSocketAppServices(registry);
    Daemons::registerDaemonService(registry);
    Admin::registerAdminService(registry);
    registerHealthService(registry);
}

} // namespace Berth::Services
