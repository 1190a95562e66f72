#pragma once

#include "app.h"

#include <QHash>
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
// Builds the app that serves a directory route (`/ = /var/www`): the static-file app, which
// registers itself here so the router never names an app.
using DirectoryAppFactory = std::function<std::unique_ptr<App>(const QString &root)>;

// Maps `call = berth.echo` to the code that builds the app. The composition root fills it
// (Apps::builtinApps() registers the built-in apps); Qt plugins (plugin:NAME) will register
// through the same table. The pipeline layer never names an app.
class AppRegistry
{
public:
    void add(const QString &call, AppFactory factory);
    void setDirectoryApp(DirectoryAppFactory factory) { m_directoryApp = std::move(factory); }
    bool contains(const QString &call) const { return m_factories.contains(call); }
    QStringList calls() const;
    // nullptr if call is unknown (the caller reports it with file:line).
    std::unique_ptr<App> create(const QString &call, const AppSetup &setup) const;
    // nullptr when no app serves directories.
    std::unique_ptr<App> createDirectoryApp(const QString &root) const;

private:
    QHash<QString, AppFactory> m_factories;
    DirectoryAppFactory m_directoryApp;
};

} // namespace Berth::Pipeline
