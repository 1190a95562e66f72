#pragma once

#include "runtime/listeners.h"

#include <QList>
#include <QString>

namespace Berth::Config {
class Config;
}

namespace Berth::Services {

// One [tcp:NAME] or [udp:NAME] section, read once.
struct SocketAppSettings
{
    bool datagram = false; // [udp:*]
    QString section;       // "tcp:echo"
    QString name;          // "echo"
    QString call;          // "berth.tcp_echo"
    Core::ListenSpec listen;
    int workers = 1; // processes (at least 1)
    int threads = 1;
    int maxConnections = 0; // per process; 0: no limit
    qint64 idleTimeoutMs = 0;
    qint64 sendTimeoutMs = 0;
    qsizetype outputBuffer = 256 * 1024;
    int maxDatagramBytes = 65507;
    qint64 gracefulTimeoutMs = 0; // [server] graceful_timeout: how long a drain waits

    static SocketAppSettings fromConfig(const Config::Config &config, const QString &section);
    // Every [tcp:*] (datagram false) or [udp:*] section, in file order.
    static QList<SocketAppSettings> all(const Config::Config &config, bool datagram);
};

} // namespace Berth::Services
