#include "configcheck.h"

#include "core/server.h"
#include "serviceregistry.h"

#include <config/validator.h>

namespace Berth::Supervisor {

Config::Diagnostics checkLoaded(const Config::Config &config)
{
    for (const Config::Diagnostic &d : Config::validate(config))
        config.addDiagnostic(d);
    ServiceRegistry::builtin().validate(config);
    return Core::uniqueDiagnostics(config.diagnostics());
}

Config::Diagnostics checkConfiguration(const QStringList &files, Config::Config *loaded)
{
    Config::Config config = Config::Config::load(files);
    const Config::Diagnostics diagnostics = checkLoaded(config);
    if (loaded)
        *loaded = config;
    return diagnostics;
}

} // namespace Berth::Supervisor
