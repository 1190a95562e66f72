#pragma once

#include <QtGlobal>

namespace Berth::Tests {

// A blocking TCP socket connected to 127.0.0.1:port, or -1 when the connect failed. The
// caller closes it.
int connectToLoopback(quint16 port);

// A non-blocking TCP socket listening on ip (dotted IPv4) at a free port, written to *port; -1
// when that failed. The caller closes it.
int listenOn(const char *ip, quint16 *port);

} // namespace Berth::Tests
