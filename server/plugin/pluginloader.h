#pragma once

#include "plugin.h"

#include <QString>

namespace Berth::Plugins {

// What one `plugin:` call names: the library and, optionally, which of its apps.
struct PluginCall
{
    QString library; // "hello" (searched in [berth] plugin_dirs) or "/path/libhello.so"
    QString app;     // "" : the plugin's only app of the kind the section needs
};

// "plugin:hello", "plugin:hello:greeter", "plugin:/opt/libhello.so:greeter".
PluginCall parsePluginCall(const QString &call);

// The file a `plugin:NAME` library names: NAME with a '/' is a path (relative to the
// directory of the file holding the call); otherwise libNAME.so then NAME.so in each of
// [berth] plugin_dirs. Empty (and *error listing where it looked) when none exists.
QString findPluginFile(const Config::Config &config, const QString &section, const QString &library,
                       QString *error);

// The composition root registers these once: they resolve `call = plugin:...` for [app:*],
// [tcp:*], [udp:*] and [daemon:*]. A library is loaded (dlopen, RTLD_NOW) at most once per
// process and never unloaded; a failure (no such file, undefined symbol, not a Berth plugin,
// another API version, a throwing registration) is a file:line error at the `call` key that
// names the file, and the app is not built.
void registerPluginApps(Pipeline::AppRegistry &registry);
// The auth handler `key = plugin:LIBRARY[:NAME]` of section names (berth.gateway's
// auth_handler), loading the library; nullptr and *error when there is none. The handler lives
// as long as the process.
const AuthHandler *authHandlerFor(const Config::Config &config, const QString &section,
                                  const QString &key, QString *error);
void registerPluginSocketApps(SocketApps::SocketAppRegistry &registry);
void registerPluginDaemons(Daemons::DaemonRegistry &registry);

} // namespace Berth::Plugins
