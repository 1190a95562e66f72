#include "pluginloader.h"

#include "runtime/servercontext.h"

#include <config/config.h>

#include <QDir>
#include <QFileInfo>
#include <QHash>
#include <QMutex>
#include <QMutexLocker>

#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdlib>

#include <exception>

namespace Berth::Plugins {

SocketApps::AppStats appStats(const Pipeline::AppSetup &setup)
{
    return SocketApps::AppStats(setup.server ? setup.server->stats : nullptr, setup.section);
}

namespace {

const QString Prefix = QStringLiteral("plugin:");

// What one library registered. Filled once, under the loader's lock, then only read.
struct Library : Registrar
{
    QString path;
    QString error; // why it could not be loaded; the tables are empty then
    QHash<QString, Pipeline::AppFactory> apps;
    QHash<QString, SocketApps::StreamAppFactory> streams;
    QHash<QString, SocketApps::DatagramAppFactory> datagrams;
    QHash<QString, Daemons::DaemonKind> daemons;
    QHash<QString, AuthHandler> authHandlers;

    void addApp(const QString &name, Pipeline::AppFactory factory) override
    {
        apps.insert(name, std::move(factory));
    }
    void addStreamApp(const QString &name, SocketApps::StreamAppFactory factory) override
    {
        streams.insert(name, std::move(factory));
    }
    void addDatagramApp(const QString &name, SocketApps::DatagramAppFactory factory) override
    {
        datagrams.insert(name, std::move(factory));
    }
    void addDaemon(Daemons::DaemonKind kind) override
    {
        const QString name = kind.name;
        daemons.insert(name, std::move(kind));
    }
};

} // namespace

// Every Registrar berthd hands a plugin is a Library.
void Registrar::addAuthHandler(const QString &name, AuthHandler handler)
{
    static_cast<Library *>(this)->authHandlers.insert(name, std::move(handler));
}

namespace {

// dlerror()'s "...: undefined symbol: _ZN5Berth..." with the C++ name added, so the message says
// which Berth function the plugin expected.
QString withDemangledSymbol(const QString &error)
{
    const QString marker = QStringLiteral("undefined symbol: ");
    const qsizetype at = error.indexOf(marker);
    if (at < 0)
        return error;
    const QByteArray symbol = error.mid(at + marker.size()).section(u' ', 0, 0).toLatin1();
    int status = 0;
    char *name = abi::__cxa_demangle(symbol.constData(), nullptr, nullptr, &status);
    if (status != 0 || !name)
        return error;
    const QString demangled = error + QStringLiteral(" (%1)").arg(QString::fromLatin1(name));
    std::free(name);
    return demangled;
}

// Loads a library at most once per process. Libraries are never unloaded: apps, sessions and
// stats they built may outlive any configuration that names them.
const Library &loadLibrary(const QString &path)
{
    static QMutex mutex;
    // Never destroyed either, so the libraries stay reachable until exit (LeakSanitizer).
    static auto &loaded = *new QHash<QString, Library *>;
    const QMutexLocker lock(&mutex);
    if (Library *library = loaded.value(path))
        return *library;
    auto *library = new Library;
    library->path = path;
    loaded.insert(path, library);

    // RTLD_NOW: an undefined symbol fails here, with the name, not at the first request.
    void *handle = ::dlopen(QFile::encodeName(path).constData(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        library->error = withDemangledSymbol(QString::fromLocal8Bit(::dlerror()));
        return *library;
    }
    const auto *info = static_cast<const BerthPluginInfo *>(::dlsym(handle, "berth_plugin_info"));
    if (!info) {
        library->error =
            QStringLiteral("%1: not a Berth plugin (it exports no berth_plugin_info)").arg(path);
        return *library;
    }
    if (info->apiVersion != BERTH_PLUGIN_API_VERSION) {
        library->error = QStringLiteral("%1: built for Berth plugin API %2, this berthd provides "
                                        "API %3; rebuild the plugin against this Berth")
                             .arg(path)
                             .arg(info->apiVersion)
                             .arg(BERTH_PLUGIN_API_VERSION);
        return *library;
    }
    if ((info->qtVersion >> 8) != (QT_VERSION >> 8)) {
        library->error = QStringLiteral("%1: built with Qt %2.%3, this berthd uses Qt %4.%5")
                             .arg(path)
                             .arg(info->qtVersion >> 16)
                             .arg((info->qtVersion >> 8) & 0xff)
                             .arg(QT_VERSION >> 16)
                             .arg((QT_VERSION >> 8) & 0xff);
        return *library;
    }
    if (!info->registerPlugin) {
        library->error = QStringLiteral("%1: berth_plugin_info has no register function").arg(path);
        return *library;
    }
    try {
        info->registerPlugin(*library);
    } catch (const std::exception &e) {
        library->error = QStringLiteral("%1: registering the plugin threw: %2")
                             .arg(path, QString::fromLocal8Bit(e.what()));
    } catch (...) {
        library->error = QStringLiteral("%1: registering the plugin threw").arg(path);
    }
    return *library;
}

// The factory `call` names in one of a library's tables, or nullptr and *error.
template <typename Factory>
const Factory *pick(const Library &library, const QHash<QString, Factory> &table,
                    const QString &app, const QString &kind, QString *error)
{
    if (!app.isEmpty()) {
        const auto it = table.constFind(app);
        if (it != table.cend())
            return &*it;
        *error = QStringLiteral("%1 provides no %2 named '%3'").arg(library.path, kind, app);
        return nullptr;
    }
    if (table.size() == 1)
        return &*table.cbegin();
    if (table.isEmpty()) {
        *error = QStringLiteral("%1 provides no %2").arg(library.path, kind);
    } else {
        QStringList names = table.keys();
        names.sort();
        *error = QStringLiteral("%1 provides several %2s (%3): name one, plugin:LIBRARY:NAME")
                     .arg(library.path, kind, names.join(QStringLiteral(", ")));
    }
    return nullptr;
}

// The library a section's `call` names, loaded; nullptr and *error when it can't be.
const Library *libraryFor(const Config::Config &config, const QString &section,
                          const PluginCall &call, QString *error)
{
    const QString path = findPluginFile(config, section, call.library, error);
    if (path.isEmpty())
        return nullptr;
    const Library &library = loadLibrary(path);
    if (!library.error.isEmpty()) {
        *error = library.error;
        return nullptr;
    }
    return &library;
}

void reportAtCall(const Config::Config &config, const QString &section, const QString &message)
{
    config.addDiagnostic({Config::Diagnostic::Severity::Error,
                          config.location(section, QStringLiteral("call")),
                          QStringLiteral("[%1] call: %2").arg(section, message)});
}

// Runs a plugin's factory as a built-in's: what it throws is a configuration error, not a crash.
template <typename Build>
auto guarded(const Config::Config &config, const QString &section, const Library &library,
             Build build) -> decltype(build())
{
    try {
        return build();
    } catch (const std::exception &e) {
        reportAtCall(config, section,
                     QStringLiteral("%1 threw while building the app: %2")
                         .arg(library.path, QString::fromLocal8Bit(e.what())));
    } catch (...) {
        reportAtCall(config, section,
                     QStringLiteral("%1 threw while building the app").arg(library.path));
    }
    return nullptr;
}

template <typename Factory, typename Setup>
auto buildSocketApp(const QHash<QString, Factory> Library::*table, const QString &kind,
                    Setup &setup) -> decltype(std::declval<Factory>()(setup))
{
    const QString call = setup.config.getString(setup.section, QStringLiteral("call"));
    const PluginCall parsed = parsePluginCall(call);
    QString error;
    const Library *library = libraryFor(setup.config, setup.section, parsed, &error);
    const Factory *factory =
        library ? pick(*library, library->*table, parsed.app, kind, &error) : nullptr;
    if (!factory) {
        reportAtCall(setup.config, setup.section, error);
        return nullptr;
    }
    return guarded(setup.config, setup.section, *library, [&] { return (*factory)(setup); });
}

const Daemons::DaemonKind *daemonKindFor(const Config::Config &config, const QString &section,
                                         QString *error)
{
    const PluginCall parsed = parsePluginCall(config.getString(section, QStringLiteral("call")));
    const Library *library = libraryFor(config, section, parsed, error);
    return library ? pick(*library, library->daemons, parsed.app, QStringLiteral("daemon"), error)
                   : nullptr;
}

// The daemon a [daemon:NAME] `call = plugin:...` hosts: the registry builds daemons before it
// knows their section, so this stand-in loads the plugin's daemon in prepare() and forwards.
class PluginDaemon : public Daemons::Daemon
{
public:
    bool prepare(const Daemons::DaemonContext &context, QStringList *errors) override
    {
        QString error;
        const Daemons::DaemonKind *kind = daemonKindFor(*context.config, context.section, &error);
        if (!kind || !kind->create) {
            errors->append(QStringLiteral("[%1] call: %2").arg(context.section, error));
            return false;
        }
        m_inner = kind->create();
        connect(m_inner.get(), &Daemon::stopped, this, &Daemon::stopped);
        connect(m_inner.get(), &Daemon::failed, this, &Daemon::failed);
        return m_inner->prepare(context, errors);
    }
    bool start(QStringList *errors) override { return m_inner->start(errors); }
    void stop() override { m_inner->stop(); }
    QString statusLine() const override { return m_inner ? m_inner->statusLine() : QString(); }
    QStringList statNames() const override
    {
        return m_inner ? m_inner->statNames() : QStringList();
    }

private:
    std::unique_ptr<Daemons::Daemon> m_inner;
};

} // namespace

PluginCall parsePluginCall(const QString &call)
{
    QString spec = call.startsWith(Prefix) ? call.mid(Prefix.size()) : call;
    PluginCall parsed;
    const qsizetype colon = spec.lastIndexOf(u':');
    if (colon > 0 && !spec.mid(colon + 1).contains(u'/')) {
        parsed.app = spec.mid(colon + 1);
        spec.truncate(colon);
    }
    parsed.library = spec;
    return parsed;
}

QString findPluginFile(const Config::Config &config, const QString &section, const QString &library,
                       QString *error)
{
    const auto baseOf = [&](const Config::Location &where) {
        const QString file = where.isValid() ? where.file : config.files().value(0);
        return file.isEmpty() ? QDir::currentPath() : QFileInfo(file).absolutePath();
    };
    if (library.isEmpty()) {
        *error = QStringLiteral("'plugin:' names no plugin");
        return QString();
    }
    if (library.contains(u'/')) {
        const QString path = QDir(baseOf(config.location(section, QStringLiteral("call"))))
                                 .absoluteFilePath(library);
        if (QFileInfo(path).isFile())
            return QDir::cleanPath(path);
        *error = QStringLiteral("%1: no such plugin file").arg(path);
        return QString();
    }
    const QString berth = QStringLiteral("berth");
    const QString key = QStringLiteral("plugin_dirs");
    const QDir base(
        baseOf(config.isSet(berth, key) ? config.location(berth, key) : Config::Location()));
    const QStringList names{QStringLiteral("lib%1.so").arg(library),
                            library + QStringLiteral(".so")};
    QStringList dirs;
    for (const QString &dir : config.getList(berth, key)) {
        const QString absolute = QDir::cleanPath(base.absoluteFilePath(dir));
        dirs.append(absolute);
        for (const QString &name : names) {
            const QString path = absolute + u'/' + name;
            if (QFileInfo(path).isFile())
                return path;
        }
    }
    *error = QStringLiteral("plugin '%1' not found (looked for %2 in %3; see [berth] plugin_dirs)")
                 .arg(library, names.join(QStringLiteral(", ")), dirs.join(QStringLiteral(", ")));
    return QString();
}

const AuthHandler *authHandlerFor(const Config::Config &config, const QString &section,
                                  const QString &key, QString *error)
{
    const QString value = config.getString(section, key).trimmed();
    if (!value.startsWith(Prefix)) {
        *error = QStringLiteral("'%1' is not plugin:LIBRARY[:NAME]").arg(value);
        return nullptr;
    }
    const PluginCall parsed = parsePluginCall(value);
    const Library *library = libraryFor(config, section, parsed, error);
    return library ? pick(*library, library->authHandlers, parsed.app,
                          QStringLiteral("auth handler"), error)
                   : nullptr;
}

void registerPluginApps(Pipeline::AppRegistry &registry)
{
    registry.addCallPrefix(
        Prefix,
        [](const QString &call, const Pipeline::AppSetup &setup) -> std::unique_ptr<Pipeline::App> {
            const PluginCall parsed = parsePluginCall(call);
            QString error;
            const Library *library = libraryFor(setup.config, setup.section, parsed, &error);
            const Pipeline::AppFactory *factory =
                library
                    ? pick(*library, library->apps, parsed.app, QStringLiteral("HTTP app"), &error)
                    : nullptr;
            if (!factory) {
                reportAtCall(setup.config, setup.section, error);
                return nullptr;
            }
            return guarded(setup.config, setup.section, *library,
                           [&] { return (*factory)(setup); });
        });
}

void registerPluginSocketApps(SocketApps::SocketAppRegistry &registry)
{
    registry.addStreamPrefix(Prefix, [](SocketApps::SocketAppSetup &setup) {
        return buildSocketApp(&Library::streams, QStringLiteral("TCP app"), setup);
    });
    registry.addDatagramPrefix(Prefix, [](SocketApps::SocketAppSetup &setup) {
        return buildSocketApp(&Library::datagrams, QStringLiteral("UDP app"), setup);
    });
}

void registerPluginDaemons(Daemons::DaemonRegistry &registry)
{
    Daemons::DaemonKind kind;
    kind.name = Prefix;
    kind.validate = [](const Config::Config &config, const QString &section) {
        QString error;
        const Daemons::DaemonKind *inner = daemonKindFor(config, section, &error);
        if (!inner)
            reportAtCall(config, section, error);
        else if (inner->validate)
            inner->validate(config, section);
    };
    kind.create = [] { return std::make_unique<PluginDaemon>(); };
    registry.addPrefix(std::move(kind));
}

} // namespace Berth::Plugins
