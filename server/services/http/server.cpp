#include "server.h"

#include "apps/builtinapps.h"
#include "engine/eventloopthread.h"
#include "http/mimetypes.h"
#include "http2/http2connection.h"
#include "log/logging.h"
#include "log/logoptions.h"
#include "log/logsink.h"
#include "pipeline/appregistry.h"
#include "pipeline/router.h"
#include "runtime/crashreport.h"
#include "runtime/listeners.h"
#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "runtime/signalpipe.h"
#include "runtime/workerhealth.h"
#include "tls/tlscontext.h"
#include "tls/tlstransport.h"

#include <config/validator.h>

#include <QCoreApplication>
#include <QFile>
#include <QLoggingCategory>
#include <QRandomGenerator>
#include <QSet>

#include <csignal>
#include <fcntl.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcServer, "berth.server")

namespace Berth::Core {

namespace {} // namespace

namespace {

void addValidation(Config::Config &config)
{
    for (const Config::Diagnostic &d : Config::validate(config))
        config.addDiagnostic(d);
}

// The TLS context when [tls] asks for one; certificate problems become diagnostics on config.
std::shared_ptr<Tls::TlsContext> buildTls(const Config::Config &config,
                                          const Tls::TlsSettings &settings)
{
    if (!settings.any())
        return nullptr;
    Config::Diagnostics problems;
    auto context = Tls::TlsContext::create(settings, &problems);
    for (const Config::Diagnostic &d : problems)
        config.addDiagnostic(d);
    return context;
}

// [server] latency_buckets; a bad list is an error diagnostic (and the default is used).
QList<qint64> latencyBuckets(const Config::Config &config)
{
    const QString server = QStringLiteral("server");
    const QString key = QStringLiteral("latency_buckets");
    QString error;
    const QList<qint64> bounds =
        StatsRegistry::parseLatencyBuckets(config.getList(server, key), &error);
    if (!bounds.isEmpty())
        return bounds;
    config.addDiagnostic({Config::Diagnostic::Severity::Error, config.location(server, key),
                          QStringLiteral("[server] latency_buckets: %1").arg(error)});
    return StatsRegistry::defaultLatencyBuckets();
}

// [tls] as the listeners need it: a `listen` entry marked tls turns TLS on by itself.
Tls::TlsSettings tlsSettingsFor(const Config::Config &config, const QList<ListenSpec> &specs)
{
    Tls::TlsSettings settings = Tls::TlsSettings::fromConfig(config);
    for (const ListenSpec &spec : specs)
        settings.enabled = settings.enabled || spec.tls;
    return settings;
}

} // namespace

void checkHttpConfiguration(const Config::Config &config)
{
    Engine::EngineSettings::fromConfig(config);
    Log::LogOptions::fromConfig(config); // its diagnostics: bad log_* values
    latencyBuckets(config);
    Http::loadMimeTypes(config, false);
    buildTls(config, tlsSettingsFor(config, listenSpecs(config)));
    ServerContext context;
    StatsRegistry stats;
    context.stats = &stats;
    Pipeline::Router::build(config, Apps::builtinApps(), &context);
}

Config::Diagnostics checkConfiguration(const QStringList &files)
{
    Config::Config config = Config::Config::load(files);
    addValidation(config);
    checkHttpConfiguration(config);
    return Config::uniqueDiagnostics(config.diagnostics());
}

Server::Server(const Config::Config &config, Role role, SharedState *shared, int slot)
    : m_config(config)
    , m_role(role)
    , m_shared(shared)
    , m_slot(slot)
{
    m_context.stats = &m_stats;
    // Before the event-loop threads start (recordRequest() reads it without synchronisation).
    StatsRegistry::setLatencyBuckets(latencyBuckets(m_config));
}

Server::~Server()
{
    for (auto &thread : m_threads) {
        thread->quit();
        thread->wait();
    }
    for (const Engine::Listener &listener : std::as_const(m_listeners))
        ::close(listener.fd);
}

bool Server::prepare()
{
    using namespace std::chrono_literals;
    addValidation(m_config);
    m_settings = Engine::EngineSettings::fromConfig(m_config);
    Http2::registerHttp2Codec(m_settings.http2.enabled);
    const QString server = QStringLiteral("server");
    m_context.serverName = QString::fromUtf8(m_settings.serverName);
    m_context.config = &m_config;
    m_gracefulTimeoutMs = m_config.getDuration(server, QStringLiteral("graceful_timeout")).count();
    const int threads = int(m_config.getInt(server, QStringLiteral("threads")));
    m_context.threads = qBound(1, threads, 256);
    Http::loadMimeTypes(m_config, true); // [server] mime_types, before the apps that use it
    // Apps keep the stat indices they declare, so the stats attach to the shared slot before
    // any router (and app) is built.
    QString error;
    if (!m_shared || !m_stats.attach(*m_shared, m_slot, &error)) {
        m_errors.append(error.isEmpty() ? QStringLiteral("no shared state") : error);
        return false;
    }
    if (m_settings.maxConnectionsPerIp > 0)
        m_settings.perIpRefusedStat =
            m_stats.declare(QStringLiteral("connections_refused_per_ip"), Core::StatType::Sum);
    m_offload = std::make_unique<OffloadPool>(OffloadSettings::fromConfig(m_config), &m_stats);
    m_context.offload = m_offload.get();
    // Each thread gets its own router and apps: apps never share mutable state across threads.
    // (The schema validator has already reported a threads value out of range.)
    for (int i = 0; i < qBound(1, threads, 256); ++i) {
        m_routers.push_back(Pipeline::Router::build(m_config, Apps::builtinApps(), &m_context));
        if (Config::hasErrors(m_config.diagnostics()))
            break;
    }
    // Listeners first: one marked tls needs the [tls] certificates even without [tls] enabled.
    const QList<ListenSpec> specs = listenSpecs(m_config);
    const Tls::TlsSettings tlsSettings = tlsSettingsFor(m_config, specs);
    std::shared_ptr<Tls::TlsContext> tls = buildTls(m_config, tlsSettings);
    const Config::Diagnostics diagnostics = Config::uniqueDiagnostics(m_config.diagnostics());
    for (const Config::Diagnostic &d : diagnostics) {
        if (d.isError())
            m_errors.append(d.toString());
    }
    if (!m_errors.isEmpty())
        return false;

    Log::setCefSyslog(m_config.getBool(server, QStringLiteral("cef_syslog")));
    for (const Config::Diagnostic &d : diagnostics)
        qCWarning(lcServer).noquote() << d.toString();

    if (tls) {
        m_tls = std::make_shared<Tls::TlsContextSlot>();
        m_tls->set(tls);
    }
    // Single process: open the sockets (or adopt systemd's). Worker: adopt the master's.
    QList<int> fds;
    if (!acquireListeners(specs, &fds, &error)) {
        m_errors.append(error);
        return false;
    }
    for (int i = 0; i < specs.size(); ++i) {
        std::shared_ptr<Engine::TransportFactory> transports;
        if (specs[i].tls && m_tls)
            transports = std::make_shared<Tls::TlsTransportFactory>(m_tls, specs[i].http2);
        m_listeners.append({fds[i], transports, specs[i].http2, specs[i].proxyProtocol});
        m_context.listeners.append(specs[i].toString());
    }
    qCInfo(lcServer).noquote() << QStringLiteral("berthd %1 %2 (pid %3) listening on %4, "
                                                 "%5 thread(s), %6 route(s), config %7")
                                      .arg(QStringLiteral(BERTH_VERSION))
                                      .arg(m_role == Role::Worker ? QStringLiteral("worker")
                                                                  : QStringLiteral("server"))
                                      .arg(QCoreApplication::applicationPid())
                                      .arg(m_context.listeners.join(QStringLiteral(", ")))
                                      .arg(threads)
                                      .arg(m_routers.front()->routeCount())
                                      .arg(m_config.files().join(QStringLiteral(", ")));
    return true;
}

bool Server::start(QString *error)
{
    // Apps open their files only now, as the configured user (the host dropped privileges
    // after prepare()): building them created nothing.
    for (auto &router : m_routers) {
        if (!router->start(error))
            return false;
    }
    // A hung thread's stack, on the master's request, goes where the operator looks.
    Log::LogSink *serverLog = Log::Logging::serverLog();
    // The crash handler's own descriptor when there is one: it follows log reopens (USR1).
    installStackDumpHandler(crashReportFd() >= 0               ? crashReportFd()
                            : serverLog && serverLog->fd() > 2 ? serverLog->fd()
                                                               : STDERR_FILENO);
    if (m_role == Role::Worker)
        startWorkerDuties();
    for (auto &router : m_routers) {
        auto thread = std::make_unique<EventLoopThread>(m_settings, router.get(), &m_context,
                                                        m_listeners, int(m_threads.size()));
        connect(
            thread.get(), &EventLoopThread::drained, this,
            [this] {
                if (++m_threadsDrained == int(m_threads.size()))
                    finishStop();
            },
            Qt::QueuedConnection);
        connect(thread.get(), &EventLoopThread::stoppedAccepting, this,
                &Server::onThreadStoppedAccepting, Qt::QueuedConnection);
        connect(
            thread.get(), &EventLoopThread::listening, this,
            [this] {
                if (++m_threadsListening == int(m_threads.size()))
                    Q_EMIT serving();
            },
            Qt::QueuedConnection);
        thread->start();
        m_threads.push_back(std::move(thread));
    }
    return true;
}

void Server::startWorkerDuties()
{
    // gunicorn's max_requests: a worker that served its share leaves gracefully and the master
    // starts a fresh one, containing slow leaks in plugin apps. The jitter keeps workers from
    // all recycling at the same moment.
    const qint64 maxRequests =
        m_config.getInt(QStringLiteral("server"), QStringLiteral("max_requests"));
    if (maxRequests > 0) {
        const qint64 jitter =
            m_config.getInt(QStringLiteral("server"), QStringLiteral("max_requests_jitter"));
        m_maxRequests =
            maxRequests + (jitter > 0 ? QRandomGenerator::global()->bounded(jitter + 1) : 0);
        connect(&m_recycleCheck, &QTimer::timeout, this, [this] {
            if (m_stats.value(StatsRegistry::Requests) - m_requestsAtStart >= m_maxRequests) {
                m_recycleCheck.stop();
                qCInfo(lcServer) << "served" << m_maxRequests
                                 << "requests (max_requests); recycling this worker";
                stopGracefully();
            }
        });
        m_requestsAtStart = m_stats.value(StatsRegistry::Requests);
        m_recycleCheck.start(200);
    }
}

void Server::reloadCertificates(const Config::Config &config)
{
    // Single-process mode reloads what can change under a running listener: the TLS
    // certificates (renewed by an ACME client, say). New connections get the new ones.
    if (!m_tls) {
        qCInfo(lcServer) << "SIGHUP: no TLS certificates to reload; a full configuration "
                            "reload needs worker processes (workers > 0)";
        return;
    }
    Config::Diagnostics problems;
    auto context = Tls::TlsContext::create(tlsSettingsFor(config, listenSpecs(config)), &problems);
    if (!context) {
        for (const Config::Diagnostic &d : problems)
            qCWarning(lcServer).noquote()
                << "SIGHUP: keeping the old certificates:" << d.toString();
        return;
    }
    m_tls->set(std::move(context));
    qCInfo(lcServer) << "SIGHUP: TLS certificates reloaded";
}

void Server::stopGracefully()
{
    if (m_stopping)
        return;
    m_stopping = true;
    m_context.setDraining(true);
    if (WorkerSlot *slot = m_stats.workerSlot())
        slot->state.store(int(WorkerState::Draining), std::memory_order_release);
    m_gracefulDeadline.setSingleShot(true);
    connect(&m_gracefulDeadline, &QTimer::timeout, this, [this] {
        qCWarning(lcServer) << "graceful_timeout reached; closing the remaining connections";
        finishStop();
    });
    m_gracefulDeadline.start(int(qMin<qint64>(m_gracefulTimeoutMs, INT_MAX)));
    for (auto &thread : m_threads)
        thread->beginDrain();
    onThreadStoppedAccepting(); // no thread at all
}

bool Server::isAccepting() const
{
    if (m_finished)
        return false;
    if (!m_stopping)
        return true;
    for (const auto &thread : m_threads) {
        if (!thread->hasStoppedAccepting())
            return true;
    }
    return false;
}

void Server::onThreadStoppedAccepting()
{
    if (m_reportedStoppedAccepting || isAccepting())
        return;
    m_reportedStoppedAccepting = true;
    Q_EMIT stoppedAccepting();
}

void Server::stopNow()
{
    m_stopping = true;
    finishStop();
}

void Server::finishStop()
{
    if (m_finished)
        return;
    m_finished = true;
    m_gracefulDeadline.stop();
    for (auto &thread : m_threads) {
        thread->quit();
        thread->wait();
    }
    m_threads.clear();
    onThreadStoppedAccepting();
    qCInfo(lcServer) << "stopped";
    Log::Logging::flushAll();
    Q_EMIT stopped();
}

} // namespace Berth::Core
