#pragma once

#include <config/config.h>

#include <QStringList>

namespace Berth::Supervisor {

// Reads the files and checks them as `berthd check` does: the schema, then every registered
// service kind's own validation (ServiceKind::validate); secrets in world-readable files and
// unreadable secret files (Config::checkSecrets). Without side effects. *loaded (when
// given) gets the configuration read.
Config::Diagnostics checkConfiguration(const QStringList &files, Config::Config *loaded = nullptr);
// The same checks on a configuration already read; the findings, each once, in file order.
Config::Diagnostics checkLoaded(const Config::Config &config);

} // namespace Berth::Supervisor
