#pragma once

#include <QStringList>

namespace Berth::Cli {

// berthd mail: the operator's view of the [mailer] spool (docs/mail.md), working on the spool
// directory itself, so it works whether or not berthd runs, and safely beside the agent (state
// changes take the spool lock).
//
//   berthd mail [-c FILE]... queue [--json]
//       every message, like mailq: id, from, to, size, age, status (queued, deferred,
//       delivering, undelivered), attempts, next attempt, last error
//   berthd mail [-c FILE]... retry [ID]
//       ID (or every queued message) due now; an undelivered ID goes back to the queue
//   berthd mail [-c FILE]... purge ID
//       removes the message, queued or undelivered
//
// Returns the exit code: 0 done, 1 failed, 2 bad usage.
int runMailCommand(const QStringList &arguments);

} // namespace Berth::Cli
