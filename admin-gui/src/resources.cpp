#include "resources.h"

#include <QtGlobal>

// Q_INIT_RESOURCE declares a function at global scope: call it from outside the namespace.
static void initConsoleResources()
{
    Q_INIT_RESOURCE(console);
}

namespace Berth::Console {

void initResources()
{
    static const bool done = (initConsoleResources(), true);
    Q_UNUSED(done);
}

} // namespace Berth::Console
