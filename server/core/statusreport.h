#pragma once

#include <QStringList>

#include <sys/types.h>

namespace Berth::Core {

// `berthd status`: one line per worker of the master `masterPid` — pid, state, uptime and
// requests served — read from the master's shared memory (found through /proc/PID/fd), or from
// /proc alone when the server runs as one process.
QStringList describeWorkers(pid_t masterPid);

} // namespace Berth::Core
