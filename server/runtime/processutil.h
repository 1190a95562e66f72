#pragma once

#include <QString>
#include <QStringList>

#include <sys/types.h>

namespace Berth::Config {
class Config;
}

namespace Berth::Core {

// The small pieces of process life the master needs, each a thin wrapper around the system call
// that does it, so they can be tested one by one.

// pid files: "<pid>\n", written atomically (write to a temp file, rename).
bool writePidFile(const QString &path, QString *error);
// The pid in the file, 0 if the file is missing or unreadable, -1 if it holds garbage.
pid_t readPidFile(const QString &path);
// True if pid is a running berthd (not a recycled pid of another program).
bool isBerthdRunning(pid_t pid);
// Seconds the process has been running (from /proc), or -1.
qint64 processUptimeSeconds(pid_t pid);

// Drops root: supplementary groups, gid, uid (in that order), after the listeners are open.
// An empty user keeps the current one. Refuses to keep running as root without a user unless
// allowRoot is set.
bool dropPrivileges(const QString &user, const QString &group, bool allowRoot, QString *error);
// Hands paths (log directory and files opened as root) to the user and group privileges will
// drop to, so workers and log reopening (USR1) can still write them. No-op when not root or no
// user is configured.
bool chownForUser(const QStringList &paths, const QString &user, const QString &group,
                  QString *error);
// The whole privilege step of [server]: umask, hand ownedPaths (log dir and files, pid file) to
// user/group, then drop to them (refusing root without user unless allow_root).
bool becomeConfiguredUser(const Config::Config &config, const QStringList &ownedPaths,
                          QString *error);
// What a server creates as root and must still write after dropping privileges: log_dir, the
// log files in it, and the pid file.
QStringList ownedPaths(const Config::Config &config, const QString &pidFile);
// "022" (octal) -> umask; false for a bad value.
bool applyUmask(const QString &text, QString *error);

// systemd's notify protocol (no-ops outside systemd): READY=1, RELOADING=1, STOPPING=1.
void notifySystemd(const char *state);

// "exited with status 3", "killed by signal 9 (Killed)", "dumped core on signal 11 ...".
QString describeWaitStatus(int status);

// Turns the calling process into a daemon (fork, setsid, fork, stdin/stdout/stderr to
// /dev/null). Returns in the daemon with a pipe fd through which it must report readiness
// ("OK") or an error line to the original process, which waits for it and exits with 0 or 1.
// Returns -1 in the daemon if the pipe could not be made (then nobody waits).
int daemonize();
void reportToStarter(int fd, const QString &message);

// This executable's absolute path and an open fd to it, both taken at the first call of either:
// workers are started from the fd (fexecve), so respawns and reloads keep running the binary
// the master runs even after a package upgrade replaced or removed the file (USR2 moves to the
// new one). The path is what the file was called then (argv[0] of children, USR2's target).
QString selfExecutable();
int selfExecutableFd();

} // namespace Berth::Core
