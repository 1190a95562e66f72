#pragma once

#include "service/childspec.h"

namespace Berth::Supervisor {

// What the supervisor does when a child of a running service ended on its own.
struct RestartDecision
{
    enum class Action {
        Restart, // after delayMs (0: at once)
        Leave,   // a clean exit of an on-failure service: not restarted
        GiveUp,  // crash loop: mark the service failed
    };
    Action action = Action::Restart;
    qint64 delayMs = 0;
};

// The restart policy of spec, pure so it is tested without processes or clocks. quickFailures is
// the group's count of quick failures in a row, updated here: a failure within
// spec.quickExitMs of the start adds one, anything else resets it. The delay doubles from
// spec.backoffStartMs per quick failure, capped at spec.backoffCapMs.
RestartDecision decideRestart(const ChildSpec &spec, int *quickFailures, qint64 livedMs,
                              bool cleanExit);

} // namespace Berth::Supervisor
