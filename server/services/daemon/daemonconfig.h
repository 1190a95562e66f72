#pragma once

#include "externalprogram.h"
#include "programstate.h"

#include <config/snapshot.h>

#include <QList>
#include <QString>

namespace Berth::Config {
class Config;
}

namespace Berth::Supervisor {
struct ChildSpec;
}

namespace Berth::Daemons {

constexpr const char *SectionPrefix = "daemon:";
constexpr const char *Kind = "daemon";

// The [daemon:NAME] sections, read and checked (service kind `daemon`).
QList<Supervisor::ChildSpec> daemonChildSpecs(const Config::Config &config);
void validateDaemons(const Config::Config &config);

// What one instance runs: the policy, and for `command` the program. Assumes a validated
// configuration.
ProgramPolicy readPolicy(const Config::Config &config, const QString &section);
ProgramSpec readProgram(const Config::Config &config, const QString &section, int instance);
// depends_on of section, as daemon NAMEs.
QStringList dependenciesOf(const Config::Config &config, const QString &section);

} // namespace Berth::Daemons
