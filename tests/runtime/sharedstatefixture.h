// A fresh SharedState for the runtime tests: slots x threads, or null (the reason is logged).
#pragma once

#include "runtime/sharedstate.h"

#include <QDebug>
#include <QString>

#include <memory>

inline std::unique_ptr<Berth::Core::SharedState> makeShared(int slots, int threads)
{
    QString error;
    auto shared = Berth::Core::SharedState::create(slots, threads, &error);
    if (!shared)
        qWarning() << error;
    return shared;
}
