#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

namespace Berth::Apps {

// berth.fault: misbehaves on purpose so tests can watch the server survive it (qtbase's
// crashingServer, Qt Creator's processtestapp). Registered only when the environment has
// BERTH_TEST_APPS=1, so it can't be enabled by a configuration file alone.
//   mode = throw          throws std::runtime_error before responding (its abort handler
//                         counts, see `aborts`)
//   mode = throw_after    starts a chunked response, then throws
//   mode = never          never answers (the client's timeout or the server's stop ends it)
//   mode = slow           answers "slow\n" after `delay` without blocking the thread
//   mode = block          blocks its event-loop thread for `delay` (a hung worker)
//   mode = crash          aborts the process (a crashing worker: SIGABRT)
//   mode = segv           writes through a null pointer (SIGSEGV)
//   mode = throw_async    throws from a timer it runs through the exchange after `delay`
//   mode = throw_in_body  reads the body and throws from its body-data callback
//   mode = read_body      reads the body slowly (pausing `delay` after each piece) and counts
//                         its abort handler runs (logged to app.log too)
//   mode = aborts         answers the abort count of this process (read_body and throw):
//                         "aborts N\n"
class FaultApp final : public Pipeline::App
{
public:
    enum class Mode {
        Throw,
        ThrowAfterStart,
        Never,
        Slow,
        Block,
        Crash,
        Segv,
        ThrowAsync,
        ThrowInBody,
        ReadBody,
        Aborts,
    };
    FaultApp(Mode mode, qint64 delayMs)
        : m_mode(mode)
        , m_delayMs(delayMs)
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

private:
    Mode m_mode;
    qint64 m_delayMs;
};

void registerFaultApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
