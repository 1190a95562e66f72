#include "wsgiapp.h"

#include "wsgicall.h"

#include "http/exchange.h"
#include "runtime/offloadpool.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <config/config.h>

#include <QRegularExpression>

namespace Berth::Wsgi {

WsgiApp::WsgiApp(WsgiOptions options)
    : m_options(std::move(options))
{}

void WsgiApp::declareStats(Core::StatsRegistry *stats)
{
    m_stats = stats;
    if (stats)
        m_rejectedStat =
            stats->declare(name() + QStringLiteral(".wsgi_rejected"), Core::StatType::Sum);
}

bool WsgiApp::start(QString *error)
{
    QString failure;
    m_runtime = WsgiRuntime::acquire(name(), m_options, &failure);
    if (!m_runtime) {
        *error = QStringLiteral("berth.wsgi '%1' cannot import %2:%3:\n%4")
                     .arg(name(), m_options.module, m_options.callable, failure);
        return false;
    }
    return true;
}

Pipeline::Outcome WsgiApp::handle(Http::Exchange &exchange)
{
    if (!m_runtime) {
        Http::respondWithError(exchange, 503);
        return Pipeline::Outcome::Answered;
    }
    if (!m_mailbox)
        m_mailbox = Core::ThreadMailbox::current();
    auto call = std::make_shared<WsgiCall>(exchange, m_mailbox);
    if (!m_runtime->submit(call)) {
        if (m_stats)
            m_stats->add(m_rejectedStat);
        Http::respondWithError(exchange, 503);
        return Pipeline::Outcome::Answered;
    }
    // After the submit: a refused request must not start reading its body. The thread that
    // took the call waits for what attach() feeds it.
    call->attach(exchange);
    return Pipeline::Outcome::Answered;
}

bool parseRouteTarget(const QString &target, QString *module, QString *callable)
{
    // The callable is what follows the last ':' when it is a (dotted) Python name.
    static const QRegularExpression tail(QStringLiteral(":([A-Za-z_][A-Za-z0-9_.]*)$"));
    const QRegularExpressionMatch match = tail.match(target);
    *module = match.hasMatch() ? target.left(match.capturedStart()) : target;
    *callable = match.hasMatch() ? match.captured(1) : QStringLiteral("app");
    return !module->isEmpty();
}

namespace {

std::unique_ptr<Pipeline::App> buildApp(WsgiOptions options, const Pipeline::AppSetup &setup,
                                        const Config::Location &where)
{
    // Only under a master, which replaces the killed worker (workers = 0 is the whole server).
    const QString server = QStringLiteral("server");
    if (setup.config.getInt(server, QStringLiteral("workers")) > 0)
        options.hangTimeoutMs =
            setup.config.getDuration(server, QStringLiteral("worker_timeout")).count();
    auto app = std::make_unique<WsgiApp>(options);
    app->setName(setup.name);
    app->declareStats(setup.server ? setup.server->stats : nullptr);
    // Nothing serves (berthd check, the master's pre-flight): try the import in a child python3
    // so that a broken app is a check error, with no app code run in this process.
    if (!setup.server || !setup.server->offload) {
        QString error;
        if (!checkImport(options, setup.config.getString(server, QStringLiteral("user")),
                         setup.config.getString(server, QStringLiteral("group")), &error)) {
            setup.config.addDiagnostic(
                {Config::Diagnostic::Severity::Error, where,
                 QStringLiteral("berth.wsgi '%1' cannot import %2:%3:\n%4")
                     .arg(setup.name, options.module, options.callable, error)});
        }
    }
    return app;
}

} // namespace

void registerWsgiApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.wsgi"), [](const Pipeline::AppSetup &setup) {
        const Config::Config &config = setup.config;
        const QString &section = setup.section;
        WsgiOptions options;
        options.module = config.getString(section, QStringLiteral("module")).trimmed();
        // A file path is relative to the config file, like every other path.
        if (options.module.endsWith(QStringLiteral(".py")) || options.module.contains(u'/'))
            options.module = config.getPath(section, QStringLiteral("module"));
        options.callable = config.getString(section, QStringLiteral("callable")).trimmed();
        for (const QString &path : config.getList(section, QStringLiteral("python_path")))
            options.pythonPath.append(path);
        options.venv = config.getPath(section, QStringLiteral("venv"));
        options.environment = config.getList(section, QStringLiteral("environment"));
        options.threads = int(config.getInt(section, QStringLiteral("wsgi_threads")));
        options.queueCapacity = int(config.getInt(section, QStringLiteral("wsgi_queue")));
        const Config::Section *own = config.section(section);
        return buildApp(options, setup, own ? own->location : Config::Location());
    });
    registry.addRouteScheme(
        QStringLiteral("wsgi:"), [](const QString &call, const Pipeline::AppSetup &setup) {
            WsgiOptions options;
            if (!parseRouteTarget(call.mid(5), &options.module, &options.callable))
                return std::unique_ptr<Pipeline::App>();
            const Config::Section *routes = setup.config.section(setup.section);
            return buildApp(options, setup, routes ? routes->location : Config::Location());
        });
}

} // namespace Berth::Wsgi
