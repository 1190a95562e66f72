#pragma once

#include <QtGlobal>

namespace Berth::Tests {

// A blocking TCP socket connected to 127.0.0.1:port, or -1 when the connect failed. The
// caller closes it.
int connectToLoopback(quint16 port);

} // namespace Berth::Tests
