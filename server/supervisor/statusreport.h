#pragma once

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

} // namespace Berth::Core
