// Needs a function no berthd exports: dlopen (RTLD_NOW) fails naming it.
#include <berth/plugin.h>

void berthNoSuchFunction(); // defined nowhere

namespace {
void registerMissing(Berth::Plugins::Registrar &)
{
    berthNoSuchFunction();
}
} // namespace

BERTH_PLUGIN("missingsymbol", "1.0", registerMissing)
