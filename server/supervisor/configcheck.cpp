#include "configcheck.h"

#include "service/serviceregistry.h"

#include <config/secrets.h>
#include <config/validator.h>

namespace Berth::Supervisor {

Config::Diagnostics checkLoaded(const Config::Config &config)
{
    for (const Config::Diagnostic &d : Config::validate(config))
        config.addDiagnostic(d);
    for (const Config::Diagnostic &d : Config::checkSecrets(config))
        config.addDiagnostic(d);
    ServiceRegistry::builtin().validate(config);
    return Config::uniqueDiagnostics(config.diagnostics());
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
