#include "programstate.h"

#include <sys/wait.h>

namespace Berth::Daemons {

QString programStateName(ProgramState state)
{
    switch (state) {
    case ProgramState::Stopped:
        return QStringLiteral("STOPPED");
    case ProgramState::Starting:
        return QStringLiteral("STARTING");
    case ProgramState::Running:
        return QStringLiteral("RUNNING");
    case ProgramState::Backoff:
        return QStringLiteral("BACKOFF");
    case ProgramState::Stopping:
        return QStringLiteral("STOPPING");
    case ProgramState::Exited:
        return QStringLiteral("EXITED");
    case ProgramState::Fatal:
        return QStringLiteral("FATAL");
    }
    return QStringLiteral("UNKNOWN");
}

ProgramStateMachine::ProgramStateMachine(ProgramPolicy policy)
    : m_policy(policy)
{}

qint64 ProgramStateMachine::nextDeadlineMs() const
{
    switch (m_state) {
    case ProgramState::Starting:
        return m_startedAtMs + m_policy.startSecondsMs;
    case ProgramState::Backoff:
    case ProgramState::Exited:
        return m_retryAtMs;
    case ProgramState::Stopping:
        return m_killAtMs;
    default:
        return -1;
    }
}

ProgramStateMachine::Action ProgramStateMachine::start(qint64)
{
    switch (m_state) {
    case ProgramState::Starting:
    case ProgramState::Running:
    case ProgramState::Stopping: // the caller restarts once it is stopped
        return Action::None;
    default:
        m_failedStarts = 0;
        m_retryAtMs = -1;
        return Action::Spawn;
    }
}

ProgramStateMachine::Action ProgramStateMachine::stop(qint64 nowMs)
{
    switch (m_state) {
    case ProgramState::Starting:
    case ProgramState::Running:
        m_state = ProgramState::Stopping;
        m_killAtMs = nowMs + m_policy.stopTimeoutMs;
        return Action::SendStopSignal;
    case ProgramState::Stopping:
        return Action::None;
    default:
        m_state = ProgramState::Stopped;
        m_retryAtMs = -1;
        return Action::None;
    }
}

void ProgramStateMachine::spawned(qint64 nowMs)
{
    if (m_spawns++ > 0)
        ++m_restarts;
    m_state = ProgramState::Starting;
    m_startedAtMs = nowMs;
    m_retryAtMs = -1;
    m_killAtMs = -1;
}

void ProgramStateMachine::spawnFailed(qint64 nowMs)
{
    m_startedAtMs = nowMs;
    failedStart(nowMs);
}

void ProgramStateMachine::failedStart(qint64 nowMs)
{
    ++m_failedStarts;
    if (m_failedStarts > m_policy.startRetries) {
        m_state = ProgramState::Fatal;
        m_retryAtMs = -1;
        return;
    }
    m_state = ProgramState::Backoff;
    m_retryAtMs = nowMs + backoffDelay();
}

qint64 ProgramStateMachine::backoffDelay() const
{
    qint64 delay = qMax<qint64>(0, m_policy.backoffMs);
    for (int i = 1; i < m_failedStarts && delay < m_policy.backoffCapMs; ++i)
        delay *= 2;
    return qMin(delay, m_policy.backoffCapMs);
}

void ProgramStateMachine::exited(qint64 nowMs, int waitStatus)
{
    m_lastExitStatus = waitStatus;
    switch (m_state) {
    case ProgramState::Stopping:
        m_state = ProgramState::Stopped;
        m_killAtMs = -1;
        return;
    case ProgramState::Starting:
        // Not up long enough to count as started (a start_seconds of 0 never gets here: poll()
        // promoted it at once).
        failedStart(nowMs);
        return;
    case ProgramState::Running: {
        m_state = ProgramState::Exited;
        m_failedStarts = 0;
        const bool clean = WIFEXITED(waitStatus) && WEXITSTATUS(waitStatus) == 0;
        const bool again = m_policy.autorestart == Autorestart::Always ||
                           (m_policy.autorestart == Autorestart::OnFailure && !clean);
        m_retryAtMs = again ? nowMs + qMin(m_policy.backoffMs, m_policy.backoffCapMs) : -1;
        return;
    }
    default:
        return;
    }
}

ProgramStateMachine::Action ProgramStateMachine::poll(qint64 nowMs)
{
    switch (m_state) {
    case ProgramState::Starting:
        if (nowMs - m_startedAtMs >= m_policy.startSecondsMs) {
            m_state = ProgramState::Running;
            m_failedStarts = 0;
        }
        return Action::None;
    case ProgramState::Backoff:
    case ProgramState::Exited:
        if (m_retryAtMs >= 0 && nowMs >= m_retryAtMs) {
            m_retryAtMs = -1;
            return Action::Spawn;
        }
        return Action::None;
    case ProgramState::Stopping:
        if (m_killAtMs >= 0 && nowMs >= m_killAtMs) {
            m_killAtMs = -1;
            return Action::KillGroup;
        }
        return Action::None;
    default:
        return Action::None;
    }
}

} // namespace Berth::Daemons
