#pragma once

#include "app.h"

#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>

namespace Berth::Config {
class Config;
}

namespace Berth::Core {
class ServerContext;
}

namespace Berth::Pipeline {

// What a factory gets to build one app from its [app:NAME] section.
struct AppSetup
{
    const Config::Config &config; // getters report bad values as file:line diagnostics
    QString section;              // "app:echo"
    QString name;                 // "echo"
    Core::ServerContext *server =
        nullptr; // stats, start time, draining state; may be null in tests
};

using AppFactory = std::function<std::unique_ptr<App>(const AppSetup &setup)>;
// Builds an app named by a prefix: `call` is the whole name ("plugin:shop", "@users",
// "wsgi:/srv/site/app.py:app").
using PrefixAppFactory =
    std::function<std::unique_ptr<App>(const QString &call, const AppSetup &setup)>;
// Builds the app that serves a directory route (`/ = /var/www`): the static-file app, which
// registers itself here so the router never names an app. setup.section is "routes:line"; the
// app reads server-wide keys ([server] open_file_cache) from setup.config.
using DirectoryAppFactory =
    std::function<std::unique_ptr<App>(const QString &root, const AppSetup &setup)>;

// Maps `call = berth.echo` to the code that builds the app. The composition root fills it
// (Apps::builtinApps() registers the built-in apps); plugins register through the same table.
// The pipeline layer never names an app.
class AppRegistry
{
public:
    void add(const QString &call, AppFactory factory);
    // Calls resolved by prefix rather than by exact name: `plugin:` (the plugin loader gets
    // "plugin:shop" or "plugin:/path/libshop.so"). An exact name wins.
    void addCallPrefix(const QString &prefix, PrefixAppFactory factory);
    // Route values that name their app inline, without an [app:NAME] section: `@users` (a
    // gateway member group, configured by [@users]), `wsgi:/srv/site/app.py:app`. The factory
    // gets the whole token as call and as setup.name, and "routes:line" as setup.section.
    void addRouteScheme(const QString &prefix, PrefixAppFactory factory);
    // An app a route may name without an [app:NAME] section: `gateway` is berth.gateway
    // configured by [api-gateway]. An [app:NAME] section of that name, when present, wins.
    void addImplicitApp(const QString &name, const QString &call, const QString &section);
    struct ImplicitApp
    {
        QString call;
        QString section;
    };
    // nullptr unless name was added by addImplicitApp().
    const ImplicitApp *implicitApp(const QString &name) const;
    // True when a route token ("@users", "wsgi:...") is built by a route scheme.
    bool isRouteScheme(const QString &token) const;
    std::unique_ptr<App> createForRoute(const QString &token, const AppSetup &setup) const;
    void setDirectoryApp(DirectoryAppFactory factory) { m_directoryApp = std::move(factory); }
    bool contains(const QString &call) const { return m_factories.contains(call); }
    QStringList calls() const;
    // nullptr if call is unknown (the caller reports it with file:line).
    std::unique_ptr<App> create(const QString &call, const AppSetup &setup) const;
    // nullptr when no app serves directories.
    std::unique_ptr<App> createDirectoryApp(const QString &root, const AppSetup &setup) const;

private:
    const PrefixAppFactory *findPrefix(const QList<std::pair<QString, PrefixAppFactory>> &table,
                                       const QString &name) const;

    QHash<QString, AppFactory> m_factories;
    QHash<QString, ImplicitApp> m_implicitApps;
    QList<std::pair<QString, PrefixAppFactory>> m_callPrefixes;
    QList<std::pair<QString, PrefixAppFactory>> m_routeSchemes;
    DirectoryAppFactory m_directoryApp;
};

} // namespace Berth::Pipeline
