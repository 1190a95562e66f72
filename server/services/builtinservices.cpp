// The composition root of service kinds: the one place that names them. A new kind is a folder
// under services/ plus one line here; the supervisor, the child host and `berthd check` only
// see the registry.
#include "http/httpservice.h"
#include "supervisor/serviceregistry.h"
#include "ticker/tickerservice.h"

namespace Berth::Supervisor {

void registerBuiltinServices(ServiceRegistry &registry)
{
    Services::registerHttpService(registry);
    Services::registerTickerService(registry);
}

} // namespace Berth::Supervisor
