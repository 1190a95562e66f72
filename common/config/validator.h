#pragma once

#include "config.h"
#include "schema.h"

namespace Berth::Config {

// Checks a configuration against the schema, as `berthd check` and the admin console do.
// Returns everything found, in file order: the load problems already in config.diagnostics()
// (and any conversion errors getters have recorded), then per section
//  - unknown sections and keys (warnings, with "did you mean" when a known name is close),
//  - values that do not convert to the key's type or are out of range (errors, in the same
//    words the getters use),
//  - missing required keys, unknown apps (errors).
// Only the Config is inspected: no file is opened and no route is parsed.
Diagnostics validate(const Config &config, const Schema &schema = Schema::builtin());

// Levenshtein distance (insertions, deletions, substitutions).
int editDistance(const QString &a, const QString &b);
// The candidate closest to word within edit distance 2 (the first one on a tie), or an empty
// string: the "did you mean" of every unknown-name message.
QString didYouMean(const QString &word, const QStringList &candidates);

} // namespace Berth::Config
