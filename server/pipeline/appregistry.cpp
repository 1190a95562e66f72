#include "appregistry.h"

namespace Berth::Pipeline {

void AppRegistry::add(const QString &call, AppFactory factory)
{
    m_factories.insert(call, std::move(factory));
}

QStringList AppRegistry::calls() const
{
    QStringList names = m_factories.keys();
    names.sort();
    return names;
}

std::unique_ptr<App> AppRegistry::create(const QString &call, const AppSetup &setup) const
{
    const auto it = m_factories.constFind(call);
    if (it == m_factories.constEnd())
        return nullptr;
    std::unique_ptr<App> app = (*it)(setup);
    if (app)
        app->setName(setup.name);
    return app;
}

std::unique_ptr<App> AppRegistry::createDirectoryApp(const QString &root) const
{
    return m_directoryApp ? m_directoryApp(root) : nullptr;
}

} // namespace Berth::Pipeline
