#pragma once

namespace Berth::Console {

// Registers the icons of resources/console.qrc (compiled into the static library, whose
// initialiser the linker would otherwise drop). Idempotent.
void initResources();

} // namespace Berth::Console
