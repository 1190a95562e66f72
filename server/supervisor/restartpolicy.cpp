#include "restartpolicy.h"

#include <QtGlobal>

namespace Berth::Supervisor {

RestartDecision decideRestart(const ChildSpec &spec, int *quickFailures, qint64 livedMs,
                              bool cleanExit)
{
    if (cleanExit) {
        *quickFailures = 0;
        if (spec.restart == ChildSpec::Restart::OnFailure)
            return {RestartDecision::Action::Leave, 0};
        return {RestartDecision::Action::Restart, 0};
    }
    // A child that ran a while restarts at once; one that dies at start-up backs off, so a crash
    // loop doesn't spin the CPU and flood the log.
    *quickFailures = livedMs < spec.quickExitMs ? *quickFailures + 1 : 0;
    if (spec.crashLoopLimit > 0 && *quickFailures >= spec.crashLoopLimit)
        return {RestartDecision::Action::GiveUp, 0};
    if (*quickFailures == 0)
        return {RestartDecision::Action::Restart, 0};
    const qint64 delay = spec.backoffStartMs << qMin(*quickFailures - 1, 20);
    return {RestartDecision::Action::Restart, qMin(spec.backoffCapMs, delay)};
}

} // namespace Berth::Supervisor
