#pragma once

#include <QString>

namespace Berth::Core {

// Opens a non-blocking, close-on-exec TCP listening socket on ip:port (IPv4 or IPv6 literal,
// "*" or empty for every IPv4 address). Returns the fd, or -1 with *error set. v6Only: an IPv6
// socket takes IPv6 clients only (else IPv4 ones too, as IPv4-mapped addresses).
int openListeningSocket(const QString &ip, quint16 port, QString *error, int backlog = 1024,
                        bool v6Only = true);

// Opens a non-blocking, close-on-exec UDP socket bound to ip:port (same address rules). Returns
// the fd, or -1 with *error set.
int openDatagramSocket(const QString &ip, quint16 port, QString *error);

} // namespace Berth::Core
