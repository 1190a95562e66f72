#include "router.h"

#include "appregistry.h"

#include "http/bytescan.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <config/config.h>

#include <QDir>
#include <QFileInfo>
#include <QHash>

#include <algorithm>
#include <cstring>

namespace Berth::Pipeline {

namespace {

using Config::Diagnostic;

void report(const Config::Config &config, const Config::Location &where, const QString &message)
{
    config.addDiagnostic({Diagnostic::Severity::Error, where, message});
}

// A mount point as written ("/echo/", "/") to its matching form ("/echo", "").
QByteArray mountPrefix(const QString &path)
{
    QByteArray prefix = path.toUtf8();
    while (prefix.endsWith('/'))
        prefix.chop(1);
    return prefix;
}

bool isDirectoryValue(const QString &value)
{
    return value.startsWith(u'/') || value.startsWith(u'~') || value.startsWith(u'.');
}

// Segment-boundary prefix match: "/echo" matches "/echo" and "/echo/x", not "/echoes". The
// cheap tests first (length, the byte after the prefix) and no library call: this runs for
// every mount longer than the matching one, on every request.
inline bool mountMatches(QByteArrayView prefix, QByteArrayView path)
{
    const qsizetype k = prefix.size();
    if (k == 0)
        return true;
    if (k > path.size() || (k < path.size() && path[k] != '/'))
        return false;
    return Http::ByteScan::sameBytes(prefix.data(), path.data(), k);
}

} // namespace

Router::~Router() = default;

namespace {

void countRequestsOf(App *app, const QString &name, Core::ServerContext *server)
{
    if (server && server->stats)
        app->setRequestCounter(
            server->stats,
            server->stats->declare(QStringLiteral("app_requests:") + name, Core::StatType::Sum));
}

} // namespace

std::unique_ptr<Router> Router::build(const Config::Config &config, const AppRegistry &registry,
                                      Core::ServerContext *server)
{
    auto router = std::unique_ptr<Router>(new Router);
    const Config::Section *routes = config.section(QStringLiteral("routes:line"));
    if (!routes)
        return router;

    // One app instance per [app:NAME] per router, shared by every route naming it.
    QHash<QString, App *> appsByName;
    auto appFor = [&](const QString &name, const Config::Location &where) -> App * {
        if (App *app = appsByName.value(name))
            return app;
        QString section = QStringLiteral("app:") + name;
        QString call;
        if (config.hasSection(section)) {
            call = config.getString(section, QStringLiteral("call"));
        } else if (const AppRegistry::ImplicitApp *implicit = registry.implicitApp(name)) {
            section = implicit->section; // `gateway` without [app:gateway]: [api-gateway]
            call = implicit->call;
        } else {
            report(config, where,
                   QStringLiteral("[routes] no [%1] section for app '%2'").arg(section, name));
            return nullptr;
        }
        const AppSetup setup{config, section, name, server};
        std::unique_ptr<App> app = registry.create(call, setup);
        if (!app) {
            // The schema validator names unknown calls at the [app:] section; say here which
            // route could not be built because of it.
            report(
                config, where,
                QStringLiteral("[routes] app '%1' cannot be built (call = '%2')").arg(name, call));
            return nullptr;
        }
        App *raw = app.get();
        countRequestsOf(raw, name, server);
        router->m_apps.push_back(std::move(app));
        appsByName.insert(name, raw);
        return raw;
    };
    // A token that names its app inline (`@users`, `wsgi:app.py:app`): one instance per token
    // per router, shared by every route naming it (so a member group keeps one pool).
    auto inlineAppFor = [&](const QString &token, const Config::Location &where) -> App * {
        const QString key = QStringLiteral("\x01") + token; // never an [app:NAME] name
        if (App *app = appsByName.value(key))
            return app;
        const AppSetup setup{config, QStringLiteral("routes:line"), token, server};
        std::unique_ptr<App> app = registry.createForRoute(token, setup);
        if (!app) {
            report(config, where, QStringLiteral("[routes] '%1' cannot be built").arg(token));
            return nullptr;
        }
        App *raw = app.get();
        countRequestsOf(raw, token, server);
        router->m_apps.push_back(std::move(app));
        appsByName.insert(key, raw);
        return raw;
    };

    HostBlock *block = &router->m_default;
    int directoryApps = 0;
    for (const Config::RawLine &line : routes->lines) {
        const QString text = line.text.trimmed();
        if (text.startsWith(u'@')) {
            const QStringList names = text.mid(1).split(u' ', Qt::SkipEmptyParts);
            if (names.isEmpty()) {
                report(config, line.location,
                       QStringLiteral("[routes] '@' needs at least one host name"));
                continue;
            }
            router->m_hosts.emplace_back();
            block = &router->m_hosts.back();
            for (const QString &name : names) {
                const QByteArray host = name.toLower().toUtf8();
                if (host.startsWith("*."))
                    block->subdomainsOnly.push_back(host.mid(1));
                else if (host.startsWith('.'))
                    block->domains.push_back(host);
                else
                    block->exact.push_back(host);
            }
            continue;
        }
        const qsizetype eq = text.indexOf(u'=');
        const QString path = text.left(eq).trimmed();
        const QString value = eq < 0 ? QString() : text.mid(eq + 1).trimmed();
        if (eq < 0 || !path.startsWith(u'/') || value.isEmpty()) {
            report(
                config, line.location,
                QStringLiteral("[routes] expected '/path = app' or '@ host', got '%1'").arg(text));
            continue;
        }

        std::vector<App *> apps;
        qint64 maxBody = -1;
        bool ok = true;
        if (isDirectoryValue(value)) {
            QString dir = Config::Values::expandUser(value);
            if (QDir::isRelativePath(dir))
                dir = QFileInfo(line.location.file).absoluteDir().absoluteFilePath(dir);
            if (!QFileInfo(dir).isDir()) {
                report(config, line.location,
                       QStringLiteral("[routes] '%1': '%2' is not a directory").arg(path, dir));
                continue;
            }
            const AppSetup setup{config, QStringLiteral("routes:line"), path, server};
            std::unique_ptr<App> app = registry.createDirectoryApp(QDir::cleanPath(dir), setup);
            if (!app) {
                report(config, line.location,
                       QStringLiteral("[routes] '%1': no app serves directories").arg(path));
                continue;
            }
            app->setName(QStringLiteral("static%1").arg(++directoryApps));
            countRequestsOf(app.get(), app->name(), server);
            apps.push_back(app.get());
            router->m_apps.push_back(std::move(app));
        } else {
            for (const QString &name : value.split(u' ', Qt::SkipEmptyParts)) {
                if (registry.isRouteScheme(name)) {
                    App *app = inlineAppFor(name, line.location);
                    if (!app) {
                        ok = false;
                        break;
                    }
                    apps.push_back(app);
                    continue;
                }
                if (name.startsWith(u'@')) {
                    report(config, line.location,
                           QStringLiteral("[routes] '%1': member groups (%2) are not supported "
                                          "by this version of berthd")
                               .arg(path, name));
                    ok = false;
                    break;
                }
                App *app = appFor(name, line.location);
                if (!app) {
                    ok = false;
                    break;
                }
                apps.push_back(app);
                // Several apps on one route may cap the body; the smallest cap wins.
                // No default: without it the [limits] max_body_bytes applies.
                const QString appSection = QStringLiteral("app:") + name;
                const QString maxBodyKey = QStringLiteral("max_body_bytes");
                const qint64 cap = config.isSet(appSection, maxBodyKey)
                                       ? config.getSize(appSection, maxBodyKey)
                                       : -1;
                if (cap >= 0 && (maxBody < 0 || cap < maxBody))
                    maxBody = cap;
            }
        }
        if (!ok)
            continue;
        const QByteArray prefix = mountPrefix(path);
        Pipeline pipeline(std::move(apps));
        pipeline.setMaxBodyBytes(maxBody);
        auto existing = std::find_if(block->mounts.begin(), block->mounts.end(),
                                     [&](const Mount &m) { return m.prefix == prefix; });
        if (existing != block->mounts.end())
            existing->pipeline = std::move(pipeline); // a later line for the same path wins
        else
            block->mounts.push_back(Mount{prefix, std::move(pipeline)});
    }

    auto byLength = [](const Mount &a, const Mount &b) {
        return a.prefix.size() > b.prefix.size();
    };
    std::stable_sort(router->m_default.mounts.begin(), router->m_default.mounts.end(), byLength);
    for (HostBlock &host : router->m_hosts)
        std::stable_sort(host.mounts.begin(), host.mounts.end(), byLength);
    return router;
}

bool Router::start(QString *error)
{
    for (const std::unique_ptr<App> &app : m_apps) {
        if (!app->start(error))
            return false;
    }
    return true;
}

const Router::HostBlock *Router::findHost(QByteArrayView hostName) const
{
    for (const HostBlock &block : m_hosts) {
        for (const QByteArray &name : block.exact) {
            if (name == hostName)
                return &block;
        }
    }
    // Wildcards: the longest matching suffix wins, as with nginx's server_name.
    const HostBlock *best = nullptr;
    qsizetype bestLength = -1;
    for (const HostBlock &block : m_hosts) {
        for (const QByteArray &domain : block.domains) { // ".example.org"
            const bool match =
                hostName.endsWith(domain) || hostName == QByteArrayView(domain).sliced(1);
            if (match && domain.size() > bestLength) {
                best = &block;
                bestLength = domain.size();
            }
        }
        for (const QByteArray &domain : block.subdomainsOnly) {
            if (hostName.size() > domain.size() && hostName.endsWith(domain) &&
                domain.size() > bestLength) {
                best = &block;
                bestLength = domain.size();
            }
        }
    }
    return best ? best : &m_default;
}

const Router::Mount *Router::findMount(QByteArrayView hostName, QByteArrayView path) const
{
    // Without virtual hosts (the common case) no host lookup at all.
    const HostBlock *block =
        hostName.isEmpty() || m_hosts.empty() ? &m_default : findHost(hostName);
    for (const Mount &mount : block->mounts) {
        if (mountMatches(mount.prefix, path))
            return &mount;
    }
    return nullptr;
}

Router::Match Router::route(QByteArrayView hostName, QByteArrayView path) const
{
    Match match;
    if (const Mount *mount = findMount(hostName, path)) {
        match.pipeline = &mount->pipeline;
        match.scriptName = mount->prefix;
        // WSGI's split: "/echo" on mount "/echo" is SCRIPT_NAME "/echo", PATH_INFO "".
        match.pathInfo = path.sliced(mount->prefix.size()).toByteArray();
    }
    return match;
}

int Router::routeCount() const
{
    size_t count = m_default.mounts.size();
    for (const HostBlock &block : m_hosts)
        count += block.mounts.size();
    return int(count);
}

Http::RequestRouter::Match Router::resolve(QByteArrayView hostName, QByteArrayView path) const
{
    const Mount *mount = findMount(hostName, path);
    if (!mount)
        return {};
    return {&mount->pipeline, mount->prefix, path.sliced(mount->prefix.size()).toByteArray()};
}

const Http::AppChain *Router::resolveInto(QByteArrayView hostName, QByteArrayView path,
                                          QByteArray &scriptName, QByteArray &pathInfo) const
{
    // The same results as resolve(), written only where they differ from what the request
    // holds from its connection's previous request.
    const Mount *mount = findMount(hostName, path);
    if (!mount) {
        scriptName.clear();
        pathInfo.clear();
        return nullptr;
    }
    if (scriptName.constData() != mount->prefix.constData() ||
        scriptName.size() != mount->prefix.size())
        scriptName = mount->prefix;
    const QByteArrayView rest = path.sliced(mount->prefix.size());
    const qsizetype n = rest.size();
    if (pathInfo.isNull() || pathInfo.size() != n ||
        !Http::ByteScan::sameBytes(pathInfo.constData(), rest.data(), n)) {
        if (n == 0) {
            pathInfo = rest.toByteArray(); // empty, not null, as resolve() gives it
        } else {
            pathInfo.resize(n); // reuses the buffer of the previous request's path
            std::memcpy(pathInfo.data(), rest.data(), size_t(n));
        }
    }
    return &mount->pipeline;
}

} // namespace Berth::Pipeline
