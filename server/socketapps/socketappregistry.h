#pragma once

#include "appstats.h"
#include "datagramapp.h"
#include "streamapp.h"

#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>

namespace Berth::Config {
class Config;
}

namespace Berth::SocketApps {

// What a factory gets to build one app from its [tcp:NAME] or [udp:NAME] section (brim's
// parse_conf): the app reads its own keys with the config getters, which report bad values as
// file:line diagnostics, and adds its own with Config::addDiagnostic. `berthd check` builds
// each app once with inert stats to collect those.
struct SocketAppSetup
{
    const Config::Config &config;
    QString section; // "tcp:echo"
    QString name;    // "echo"
    AppStats stats;  // declare the app's stats here (byte_count, connection_count ...)
};

using StreamAppFactory = std::function<std::unique_ptr<StreamApp>(SocketAppSetup &setup)>;
using DatagramAppFactory = std::function<std::unique_ptr<DatagramApp>(SocketAppSetup &setup)>;

// Maps `call = berth.tcp_echo` to the code that builds the app. Filled once at start-up by the
// composition root (Apps::registerBuiltinSocketApps); the plugin loader resolves `plugin:` calls
// through a prefix. The service kinds (services/socketapps) never name an app.
class SocketAppRegistry
{
public:
    void addStream(const QString &call, StreamAppFactory factory);
    void addDatagram(const QString &call, DatagramAppFactory factory);
    // Calls resolved by prefix (`plugin:`): the factory reads the whole call from
    // setup.config's `call` key. An exact name wins.
    void addStreamPrefix(const QString &prefix, StreamAppFactory factory);
    void addDatagramPrefix(const QString &prefix, DatagramAppFactory factory);
    const StreamAppFactory *stream(const QString &call) const;
    const DatagramAppFactory *datagram(const QString &call) const;
    QStringList streamCalls() const;
    QStringList datagramCalls() const;

    static SocketAppRegistry &builtin();

private:
    QHash<QString, StreamAppFactory> m_stream;
    QHash<QString, DatagramAppFactory> m_datagram;
    QList<std::pair<QString, StreamAppFactory>> m_streamPrefixes;
    QList<std::pair<QString, DatagramAppFactory>> m_datagramPrefixes;
};

} // namespace Berth::SocketApps
