#pragma once

#include "config.h"

namespace Berth::Config {

// What `berthd check` says about the secrets of a configuration (Config::getSecret reads them):
// a warning for every secret written inline in a file anyone may read, and - recorded in
// config.diagnostics() by reading each secret once - the errors of `KEY_file` entries (file
// missing or unreadable, both KEY and KEY_file set). Opens the files, unlike validate().
Diagnostics checkSecrets(const Config &config);

} // namespace Berth::Config
