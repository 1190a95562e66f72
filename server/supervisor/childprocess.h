#pragma once

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

#include <sys/types.h>

namespace Berth::Supervisor {

// What a supervisor passes to one child: `berthd child --service KIND --name NAME`, with
// - its listeners from fd 3 (LISTEN_FDS, LISTEN_PID: the systemd convention),
// - the shared state (BERTH_SHARED_FD, BERTH_WORKER_SLOT),
// - a readiness pipe the child writes one byte to when it serves (BERTH_READY_FD),
// - the configuration snapshot (BERTH_SNAPSHOT_FD),
// - its end of the broadcast channel to the master, when it has one (BERTH_BUS_FD).
struct ChildLaunch
{
    QString kind;
    QString name;
    QList<int> listenFds;
    // The FileDescriptorName (listener name=) of each of listenFds, "" for none: the child
    // matches a socket adopted by name (from systemd) by that name again, since its address
    // need not be the listener's.
    QStringList listenNames;
    int sharedFd = -1;
    int slot = 0;
    int snapshotFd = -1;
    int busFd = -1;
    int index = 0; // which of the group's children (0 .. count - 1), in BERTH_CHILD_INDEX
};

struct LaunchedChild
{
    pid_t pid = 0;
    int readyFd = -1; // read end of the readiness pipe (close-on-exec), the caller's to close
};

// fork() + exec of this executable. After fork only async-signal-safe calls: everything is
// built before. The child gets SIGTERM if the master dies (PR_SET_PDEATHSIG).
std::optional<LaunchedChild> launchChild(const ChildLaunch &launch, QString *error);

// The environment variable that carries the readiness pipe to a child.
constexpr const char *ReadyFdVariable = "BERTH_READY_FD";
// The environment variable that carries the child's index in its group (ServiceSetup::index).
constexpr const char *ChildIndexVariable = "BERTH_CHILD_INDEX";

} // namespace Berth::Supervisor
