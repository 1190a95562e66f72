#pragma once

#include <QStringList>

namespace Berth::Cli {

// berthd log: the logs of a configuration's server ([server] log_dir, docs/operations.md).
//
//   berthd log [-c FILE]... [-s NAME] [-n BYTES] [-f]
//       prints the last BYTES (default 16K, from a line start) of the log NAME (default
//       server; Log::logNames() lists them: server, request, app, cef, cron, smtpda, admin-audit).
//       -f then follows it as `tail -F` does: new lines as they are written, and after a USR1
//       reopen or a rotation (the path names a new file) the new file from its start; a
//       truncated file is read again from its start. Runs until interrupted.
//
// Exit codes: 0 done, 1 configuration errors, no log_dir or an unreadable log, 2 bad usage.
int runLogCommand(const QStringList &arguments);

} // namespace Berth::Cli
