#include "servercontext.h"

#include "sharedstate.h"
#include "statsregistry.h"

namespace Berth::Core {

bool ServerContext::isServerStopping() const
{
    // With a master, its word decides: old workers drain on every reload while the server
    // stays. Without shared memory (tests, a bare server) this process is the server.
    if (stats && stats->shared())
        return stats->shared()->serverStopping();
    return isDraining();
}

} // namespace Berth::Core
