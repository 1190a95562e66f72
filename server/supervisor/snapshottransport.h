#pragma once

#include <config/snapshot.h>

#include <QString>

#include <optional>

namespace Berth::Supervisor {

// How a configuration snapshot travels from the master to a child: a sealed memfd the child
// inherits (like the shared-state fd), named by BERTH_SNAPSHOT_FD.
constexpr const char *SnapshotFdVariable = "BERTH_SNAPSHOT_FD";

// A read-only memfd holding snapshot.text() (close-on-exec: the launcher dup2()s it into the
// child). -1 with *error on failure.
int snapshotMemfd(const Config::Snapshot &snapshot, QString *error);
// Child: reads and closes the fd named by BERTH_SNAPSHOT_FD.
std::optional<Config::Snapshot> readSnapshotFromEnvironment(QString *error);

} // namespace Berth::Supervisor
