#pragma once

#include "http/exchange.h"

#include <memory>

namespace Berth::Core {

// Tells a continuation of offloaded work whether the exchange it was for still lives: the
// client may have gone, or a timeout ended the exchange, while the work ran. Copies share one
// liveness flag.
//
// It watches through the exchange's abort handler, which it takes over while the work runs
// (the app's own abort handling belongs in onAbort). Call release() before answering or passing
// the exchange on, so that the next app can set its own handler. Kept apart so that it can
// become a thin wrapper over the engine's weak exchange handle when that lands.
class ExchangeWatch
{
public:
    explicit ExchangeWatch(Http::Exchange &exchange, Http::Exchange::EventHandler onAbort = {})
        : m_exchange(&exchange)
        , m_alive(std::make_shared<bool>(true))
    {
        exchange.setAbortHandler([alive = m_alive, onAbort = std::move(onAbort)] {
            *alive = false;
            if (onAbort)
                onAbort();
        });
    }

    // Only in the exchange's own thread (the flag is not atomic: the engine runs the abort
    // handler in that thread, and so does the pool deliver results).
    bool alive() const { return *m_alive; }
    // The exchange, or null once it died.
    Http::Exchange *get() const { return *m_alive ? m_exchange : nullptr; }

    // Stops watching (the abort handler is cleared) and returns the exchange, or null if it
    // died.
    Http::Exchange *release() const
    {
        if (!*m_alive)
            return nullptr;
        m_exchange->setAbortHandler(nullptr);
        return m_exchange;
    }

private:
    Http::Exchange *m_exchange;
    std::shared_ptr<bool> m_alive;
};

} // namespace Berth::Core
