#pragma once

#include "config.h"

namespace Berth::Config {

// What `berthd check -T` prints (nginx -T): the merged configuration, after includes and
// ${ENV} expansion, one section at a time in first-seen order with the effective value of each
// key, every line followed by "; file:line" naming where it came from. Secrets are masked
// (maskedValue). `$` is written as `$$` and include lines are commented out, so the text
// parses back to the same values without reading any other file.
QString dumpConfig(const Config &config);

// A value as it may be shown to people: "********" for a non-empty value of a key the schema
// marks secret (KeySpec::secret), and in any value the password of a URL's user info
// (postgresql://user:PASSWORD@host) replaced by "********".
QString maskedValue(const Config &config, const QString &section, const QString &key,
                    const QString &value);

} // namespace Berth::Config
