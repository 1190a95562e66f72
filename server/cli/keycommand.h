#pragma once

#include <QStringList>

namespace Berth::Cli {

// berthd keys: the operator's side of the sessions' AppCipher key chain (docs/cipher.md), on the
// database named by [sessions] store, opened with the configured [sessions] keynum and secret.
//
//   berthd keys [-c FILE]... list
//       every key on record: keynum, activation time, state (active, pending, retired), which
//       one the configuration names; never a secret. Exit 1 if the configured keynum/secret
//       does not open the chain.
//   berthd keys [-c FILE]... rotate --keynum N --secret-file PATH [--when ISO8601|+DURATION]
//       registers key N (its secret read from PATH) as the newest key, active from --when
//       (default: now), with the current key wrapped under it; then prints what to change in
//       the configuration of every node.
//
// arguments is the whole command line (QCoreApplication::arguments()): Cli's generic parser
// stops at the word `keys` and leaves the rest to this one. Returns the process exit code:
// 0 done, 1 failed, 2 bad usage.
int runKeyCommand(const QStringList &arguments);

} // namespace Berth::Cli
