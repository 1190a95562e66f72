#include "httpservice.h"

#include "runtime/listeners.h"
#include "server.h"
#include "service/serviceregistry.h"

#include <config/config.h>

namespace Berth::Services {

namespace {

const QString Kind = QStringLiteral("http");

QList<Supervisor::ChildSpec> httpChildSpecs(const Config::Config &config)
{
    using namespace std::chrono_literals;
    const QString server = QStringLiteral("server");
    Supervisor::ChildSpec spec;
    spec.kind = Kind;
    spec.name = Kind;
    spec.count =
        int(qBound(qint64(1), config.getInt(server, QStringLiteral("workers")), qint64(1024)));
    const qsizetype listeners = Core::listenSpecs(config).size();
    for (int i = 0; i < listeners; ++i)
        spec.listeners.append(i);
    spec.restart = Supervisor::ChildSpec::Restart::Always;
    spec.backoffStartMs = 100;
    spec.backoffCapMs = 30'000;
    spec.quickExitMs = 5'000;
    spec.crashLoopLimit = 0; // the server is what berthd is for: keep trying, with back-off
    spec.reload = Supervisor::ChildSpec::Reload::Replace;
    // The worker enforces graceful_timeout itself; the second after it is the KILL's margin.
    spec.stopGraceMs =
        config.getDuration(server, QStringLiteral("graceful_timeout")).count() + 1000;
    return {spec};
}

} // namespace

HttpService::HttpService(const Supervisor::ServiceSetup &setup)
    : m_setup(setup)
{}

HttpService::~HttpService() = default;

bool HttpService::prepare(QStringList *errors)
{
    m_server = std::make_unique<Core::Server>(*m_setup.config,
                                              m_setup.inProcess ? Core::Server::Role::Single
                                                                : Core::Server::Role::Worker,
                                              m_setup.shared, m_setup.slot);
    // Before prepare(): the apps it builds find the bus in the context.
    m_server->context().bus = m_setup.bus;
    if (!m_server->prepare()) {
        errors->append(m_server->errors());
        return false;
    }
    connect(m_server.get(), &Core::Server::stopped, this, [this] { markDrained(); });
    connect(m_server.get(), &Core::Server::stoppedAccepting, this, &HttpService::stoppedAccepting);
    return true;
}

bool HttpService::start(QStringList *errors)
{
    QString error;
    // Ready once every thread is on the listeners, not when they were launched.
    connect(m_server.get(), &Core::Server::serving, this, [this] { markReady(); });
    if (!m_server->start(&error)) {
        errors->append(error);
        return false;
    }
    return true;
}

void HttpService::drain()
{
    m_server->stopGracefully();
}

void HttpService::stopNow()
{
    m_server->stopNow();
}

bool HttpService::isAccepting() const
{
    return m_server && m_server->isAccepting();
}

void HttpService::hangup()
{
    if (m_setup.inProcess)
        m_server->reloadCertificates(Config::Config::load(m_setup.configFiles));
}

QStringList HttpService::statNames() const
{
    QStringList names;
    for (const Core::StatsRegistry::Entry &e : m_server->context().stats->snapshot())
        names.append(e.name);
    return names;
}

void registerHttpService(Supervisor::ServiceRegistry &registry)
{
    registry.add(Supervisor::ServiceKind{
        Kind, httpChildSpecs,
        [](const Config::Config &config) { Core::checkHttpConfiguration(config); },
        [](const Supervisor::ServiceSetup &setup) -> std::unique_ptr<Supervisor::Service> {
            return std::make_unique<HttpService>(setup);
        },
        [](const Config::Config &config) { return Core::listenSpecs(config); }});
}

} // namespace Berth::Services
