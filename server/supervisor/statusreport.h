#pragma once

#include <QJsonArray>
#include <QStringList>

#include <sys/types.h>

namespace Berth::Core {

class SharedState;

// `berthd status` without a control socket: one line per live child of the master `masterPid`
// (describeSlots()), read from its shared memory (found through /proc/PID/fd).
QStringList describeWorkers(pid_t masterPid);

// One line per live or failed slot — "worker slot 0: pid 123, http:http, running, up 4 s,
// 10 requests (slot total 12), restarts 1, last exit killed by signal 9 (Killed)" — followed,
// for each event-loop thread busy with a request, by "    thread 0: GET /url running 1234 ms
// (txn ..., client ...)".
QStringList describeSlots(const SharedState &shared);

// The same facts for `berthd status --json` (docs/operations.md documents the shape): one object
// per live or failed slot, {"slot", "kind", "name", "pid", "state", "uptime_seconds",
// "requests", "restarts", "last_exit" (text or null), "status" (a daemon's status line or null),
// "stats" {name: value}, "current_requests" [{"thread", "method", "url", "running_ms", "txn",
// "client"}]}.
QJsonArray slotsJson(const SharedState &shared);
// slotsJson() of the master `masterPid` through its shared memory; empty when there is none
// (a single process).
QJsonArray workersJson(pid_t masterPid);

} // namespace Berth::Core
