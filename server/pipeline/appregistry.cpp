#include "appregistry.h"

namespace Berth::Pipeline {

void AppRegistry::add(const QString &call, AppFactory factory)
{
    m_factories.insert(call, std::move(factory));
}

void AppRegistry::addCallPrefix(const QString &prefix, PrefixAppFactory factory)
{
    m_callPrefixes.append({prefix, std::move(factory)});
}

void AppRegistry::addRouteScheme(const QString &prefix, PrefixAppFactory factory)
{
    m_routeSchemes.append({prefix, std::move(factory)});
}

const PrefixAppFactory *
AppRegistry::findPrefix(const QList<std::pair<QString, PrefixAppFactory>> &table,
                        const QString &name) const
{
    for (const auto &[prefix, factory] : table) {
        if (name.startsWith(prefix))
            return &factory;
    }
    return nullptr;
}

void AppRegistry::addImplicitApp(const QString &name, const QString &call, const QString &section)
{
    m_implicitApps.insert(name, ImplicitApp{call, section});
}

const AppRegistry::ImplicitApp *AppRegistry::implicitApp(const QString &name) const
{
    const auto it = m_implicitApps.constFind(name);
    return it == m_implicitApps.constEnd() ? nullptr : &it.value();
}

bool AppRegistry::isRouteScheme(const QString &token) const
{
    return findPrefix(m_routeSchemes, token) != nullptr;
}

std::unique_ptr<App> AppRegistry::createForRoute(const QString &token, const AppSetup &setup) const
{
    const PrefixAppFactory *factory = findPrefix(m_routeSchemes, token);
    if (!factory)
        return nullptr;
    std::unique_ptr<App> app = (*factory)(token, setup);
    if (app)
        app->setName(setup.name);
    return app;
}

QStringList AppRegistry::calls() const
{
    QStringList names = m_factories.keys();
    names.sort();
    return names;
}

std::unique_ptr<App> AppRegistry::create(const QString &call, const AppSetup &setup) const
{
    std::unique_ptr<App> app;
    const auto it = m_factories.constFind(call);
    if (it != m_factories.constEnd()) {
        app = (*it)(setup);
    } else if (const PrefixAppFactory *factory = findPrefix(m_callPrefixes, call)) {
        app = (*factory)(call, setup);
    } else {
        return nullptr;
    }
    if (app)
        app->setName(setup.name);
    return app;
}

std::unique_ptr<App> AppRegistry::createDirectoryApp(const QString &root,
                                                     const AppSetup &setup) const
{
    return m_directoryApp ? m_directoryApp(root, setup) : nullptr;
}

} // namespace Berth::Pipeline
