#pragma once

// The Berth plugin API: what a shared library loaded by `call = plugin:NAME` implements.
// Installed as <berth/plugin.h>; see docs/plugins.md ("write your first Berth app").
//
// A plugin exports one C symbol, `berth_plugin_info` (BERTH_PLUGIN below). berthd reads its
// apiVersion before running any of the plugin's code, and refuses a plugin built against
// another version. The plugin then registers what it provides (HTTP apps, TCP and UDP apps,
// daemons) with the Registrar; each factory gets its configuration section to validate, reports
// problems as file:line diagnostics (`berthd check`) and declares its stats.

#include "daemon/daemon.h"
#include "pipeline/appregistry.h"
#include "socketapps/socketappregistry.h"

#include <QByteArrayView>
#include <QStringList>
#include <QtGlobal>

#include <functional>

// Bumped whenever a header a plugin includes changes incompatibly (a class layout, a virtual
// function, a factory signature): a plugin runs only in the berthd whose API it was built for.
#define BERTH_PLUGIN_API_VERSION 1

namespace Berth::Http {
struct Request;
}

namespace Berth::Plugins {

// What an auth handler decided about a bearer token: accepted, with the request's user and
// roles, or refused, with the reason sent as the 401's error_description and logged to cef.log.
struct AuthVerdict
{
    bool accepted = false;
    QString user;
    QStringList roles;
    QString reason;
};

// An auth handler (Skitai's handle_token), named by berth.gateway's `auth_handler =
// plugin:LIBRARY[:NAME]`: maps a bearer token the gateway did not find in its tokens file and
// could not verify as a JWT to a user and roles. It runs on the request's event-loop thread,
// once per such request, so it must answer at once (look the token up in memory, not over the
// network). The token is the bytes after "Bearer ", already checked to be a b64token.
using AuthHandler = std::function<AuthVerdict(QByteArrayView token, const Http::Request &request)>;

// What a plugin registers its apps with. The names are those a configuration picks with
// `call = plugin:LIBRARY:NAME`; `call = plugin:LIBRARY` picks the plugin's only app of the kind
// the section needs ([app:*], [tcp:*], [udp:*], [daemon:*]).
class Registrar
{
public:
    virtual ~Registrar() = default;
    virtual void addApp(const QString &name, Pipeline::AppFactory factory) = 0;
    virtual void addStreamApp(const QString &name, SocketApps::StreamAppFactory factory) = 0;
    virtual void addDatagramApp(const QString &name, SocketApps::DatagramAppFactory factory) = 0;
    // kind.name is the app name; kind.validate may be empty.
    virtual void addDaemon(Daemons::DaemonKind kind) = 0;
    // Not virtual, so plugins built before it existed keep their layout; berthd defines it.
    void addAuthHandler(const QString &name, AuthHandler handler);
};

// The stats of an HTTP app, published as "<section>.<name>" ("app:hello.greetings") in
// berth.stats, Prometheus and `berthd status`. Inert (every call a no-op) when the app is only
// being validated (`berthd check`). Declare while the app is built.
SocketApps::AppStats appStats(const Pipeline::AppSetup &setup);

} // namespace Berth::Plugins

extern "C" {

// What `berth_plugin_info` holds. Plain data: berthd checks apiVersion and qtVersion before it
// calls registerPlugin.
struct BerthPluginInfo
{
    int apiVersion;   // BERTH_PLUGIN_API_VERSION the plugin was built with
    int qtVersion;    // QT_VERSION the plugin was built with (the major.minor must match)
    const char *name; // for logs: "hello"
    const char *version;
    void (*registerPlugin)(Berth::Plugins::Registrar &registrar);
};
}

// In exactly one source file of the plugin:
//     BERTH_PLUGIN("hello", "1.0", registerHello)
// with `void registerHello(Berth::Plugins::Registrar &registrar)`.
#define BERTH_PLUGIN(NAME, VERSION, FUNCTION)                                                      \
    extern "C" __attribute__((visibility("default"))) const BerthPluginInfo berth_plugin_info = {  \
        BERTH_PLUGIN_API_VERSION, QT_VERSION, NAME, VERSION, FUNCTION};
