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

// Maps `call = berth.echo` to the code that builds the app. Built-in apps register here; Qt
// plugins (plugin:NAME) will register through the same table.
class AppRegistry
{
public:
    static AppRegistry &builtin();

    void add(const QString &call, AppFactory factory);
    bool contains(const QString &call) const { return m_factories.contains(call); }
    QStringList calls() const;
    // nullptr if call is unknown (the caller reports it with file:line).
    std::unique_ptr<App> create(const QString &call, const AppSetup &setup) const;

private:
    QHash<QString, AppFactory> m_factories;
};

} // namespace Berth::Pipeline
