#pragma once

#include <QStringList>

namespace Berth::Cli {

// berthd cron: the [crontab:line] jobs of a configuration (docs/cron.md).
//
//   berthd cron [-c FILE]... list [--json]
//       every job as FILE:LINE, its schedule and command, and its next five run times in
//       [cron] timezone; --json prints [{"file", "line", "schedule", "command", "next": [five
//       ISO 8601 times with UTC offset]}] (the contract scripts and the console rely on).
//   berthd cron [-c FILE]... run FILE:LINE
//       runs that job now in this process, as the agent would (/bin/sh -c, the clean
//       environment plus [cron] environment), its output on this stdout/stderr; exits with the
//       job's status (128 + N when killed by signal N).
//
// Exit codes: 0 done, 1 configuration errors or no such job, 2 bad usage. With
// BERTH_TEST_APPS=1, BERTH_TEST_NOW (ISO 8601) replaces the current time for list.
int runCronCommand(const QStringList &arguments);

// For `berthd status`: one line per job from the agent's cron.state ("cron FILE:LINE
// (SCHEDULE): last run TIME (ok, status 0), next TIME"); empty without cron jobs.
QStringList cronStatusLines(const QStringList &configFiles);

} // namespace Berth::Cli
