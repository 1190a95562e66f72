#pragma once

#include <QString>
#include <QtGlobal>

namespace Berth::Daemons {

// supervisord's process states. The numbers are what the `daemon_state` stat holds (shared
// memory), so another child (depends_on) and `berthd status` can read them.
enum class ProgramState : int {
    Stopped = 0,  // not running, on purpose (before the first start, after `daemon stop`)
    Starting = 1, // started, not yet up for start_seconds
    Running = 2,
    Backoff = 3,  // it exited while starting; waiting before the next try
    Stopping = 4, // stop signal sent, waiting for the exit (then KILL of the process group)
    Exited = 5,   // it exited from RUNNING (and may be restarted, see autorestart)
    Fatal = 6,    // it could not be started (start_retries failed starts in a row)
};

QString programStateName(ProgramState state);

enum class Autorestart { Always, OnFailure, Never };

// The policy of [daemon:NAME], in milliseconds.
struct ProgramPolicy
{
    Autorestart autorestart = Autorestart::Always;
    qint64 startSecondsMs = 1000;
    int startRetries = 3;
    qint64 backoffMs = 1000;
    qint64 backoffCapMs = 30'000;
    qint64 stopTimeoutMs = 10'000;
};

// The state machine of one supervised program, without processes or timers: the caller tells it
// what happened (with the time, so tests drive it with a fake clock) and does what it answers.
//
//   STOPPED --start--> STARTING --start_seconds--> RUNNING --exit--> EXITED --(autorestart)-->
//   STARTING ... ; STARTING --exit--> BACKOFF --delay--> STARTING, or FATAL after start_retries
//   failed starts in a row; STARTING/RUNNING --stop--> STOPPING --exit--> STOPPED, and
//   --stop_timeout--> kill the process group.
//
// The back-off delay is backoff, doubled at each failed start in a row, capped at backoff_cap;
// a program that exits from RUNNING is restarted after backoff (one crash is not a loop).
class ProgramStateMachine
{
public:
    // What the caller does after an event or poll().
    enum class Action { None, Spawn, SendStopSignal, KillGroup };

    explicit ProgramStateMachine(ProgramPolicy policy = {});

    ProgramState state() const { return m_state; }
    const ProgramPolicy &policy() const { return m_policy; }
    int restarts() const { return m_restarts; }             // spawns after the first one
    int failedStarts() const { return m_failedStarts; }     // in a row
    int lastExitStatus() const { return m_lastExitStatus; } // wait status, -1: none yet
    qint64 startedAtMs() const { return m_startedAtMs; }    // of the current run
    // When poll() next has something to do, -1: nothing pending.
    qint64 nextDeadlineMs() const;

    // `start` (also the first start): Spawn unless it is already starting or running. Clears
    // FATAL and the failed-start count.
    Action start(qint64 nowMs);
    // `stop`: SendStopSignal when a process runs (STOPPING), else the program is STOPPED at once
    // (a pending restart is dropped). Nothing to do when already stopped.
    Action stop(qint64 nowMs);
    // The program was spawned (Spawn done): STARTING from now.
    void spawned(qint64 nowMs);
    // The spawn itself failed (exec error): counts as a failed start.
    void spawnFailed(qint64 nowMs);
    // The process ended with waitStatus (waitpid's).
    void exited(qint64 nowMs, int waitStatus);
    // Time passed: STARTING -> RUNNING after start_seconds; a due restart (Spawn); a stop that
    // took too long (KillGroup, once).
    Action poll(qint64 nowMs);

private:
    void failedStart(qint64 nowMs);
    qint64 backoffDelay() const;

    ProgramPolicy m_policy;
    ProgramState m_state = ProgramState::Stopped;
    int m_restarts = 0;
    int m_spawns = 0;
    int m_failedStarts = 0;
    int m_lastExitStatus = -1;
    qint64 m_startedAtMs = 0;
    qint64 m_retryAtMs = -1; // BACKOFF / EXITED: when to spawn again, -1: not at all
    qint64 m_killAtMs = -1;  // STOPPING: when to kill the group, -1: done
};

} // namespace Berth::Daemons
