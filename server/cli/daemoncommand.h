#pragma once

#include <QStringList>

namespace Berth::Cli {

// berthd daemon: supervisorctl's start, stop, restart and status for the daemons of a running
// server ([daemon:NAME], docs/daemons.md), through the master's control socket.
//
//   berthd daemon [-c FILE]... start|stop|restart|status NAME
//
// Sends `service daemon:NAME VERB`; the master forwards it to every child of the daemon (one
// per instance) and relays their answers. stop waits until the program has stopped (it stays
// stopped until start or a reload that changes its section); start and restart wait until it
// is RUNNING (or failed to start). Prints the answer; exit 0 when every instance reached the
// state asked for, 1 otherwise, 2 for bad usage.
int runDaemonCommand(const QStringList &arguments);

} // namespace Berth::Cli
