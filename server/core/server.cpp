#include "server.h"

#include "eventloopthread.h"
#include "listeners.h"
#include "log/logging.h"
#include "log/logsink.h"
#include "pipeline/appregistry.h"
#include "pipeline/router.h"
#include "processutil.h"
#include "sharedstate.h"
#include "signalpipe.h"
#include "tls/tlscontext.h"
#include "workerhealth.h"

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

Config::Diagnostics uniqueDiagnostics(const Config::Diagnostics &diagnostics)
{
    // The validator and the getters that build the server may find the same bad value; say it
    // once.
    Config::Diagnostics unique;
    QSet<QString> seen;
    for (const Config::Diagnostic &d : diagnostics) {
        const QString text = d.toString();
        if (!seen.contains(text)) {
            seen.insert(text);
            unique.append(d);
        }
    }
    return Config::sortedByFile(unique);
}

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

} // namespace

Config::Diagnostics checkConfiguration(const QStringList &files)
{
    Config::Config config = Config::Config::load(files);
    addValidation(config);
    Engine::EngineSettings::fromConfig(config);
    buildTls(config, Tls::TlsSettings::fromConfig(config));
    ServerContext context;
    StatsRegistry stats;
    context.stats = &stats;
    Pipeline::Router::build(config, Pipeline::AppRegistry::builtin(), &context);
    return uniqueDiagnostics(config.diagnostics());
}

Server::Server(QStringList configFiles, Role role)
    : m_files(std::move(configFiles))
    , m_role(role)
{
    m_context.stats = &m_stats;
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
    m_config = Config::Config::load(m_files);
    addValidation(m_config);
    m_settings = Engine::EngineSettings::fromConfig(m_config);
    const QString server = QStringLiteral("server");
    m_context.serverName = QString::fromUtf8(m_settings.serverName);
    m_context.config = &m_config;
    m_gracefulTimeoutMs =
        m_config.getDuration(server, QStringLiteral("graceful_timeout"), 30s).count();
    const int threads = int(m_config.getInt(server, QStringLiteral("threads"), 1));
    m_context.threads = qBound(1, threads, 256);
    if (!attachSharedState(m_context.threads))
        return false;
    m_offload = std::make_unique<OffloadPool>(OffloadSettings::fromConfig(m_config), &m_stats);
    m_context.offload = m_offload.get();
    const QString logDir = m_config.getPath(server, QStringLiteral("log_dir"));
    // Each thread gets its own router and apps: apps never share mutable state across threads.
    // (The schema validator has already reported a threads value out of range.)
    for (int i = 0; i < qBound(1, threads, 256); ++i) {
        m_routers.push_back(
            Pipeline::Router::build(m_config, Pipeline::AppRegistry::builtin(), &m_context));
        if (Config::hasErrors(m_config.diagnostics()))
            break;
    }
    const Tls::TlsSettings tlsSettings = Tls::TlsSettings::fromConfig(m_config);
    std::shared_ptr<Tls::TlsContext> tls = buildTls(m_config, tlsSettings);
    const Config::Diagnostics diagnostics = uniqueDiagnostics(m_config.diagnostics());
    for (const Config::Diagnostic &d : diagnostics) {
        if (d.isError())
            m_errors.append(d.toString());
    }
    if (!m_errors.isEmpty())
        return false;

    QString error;
    if (!Log::Logging::setup(logDir, &error)) {
        m_errors.append(error);
        return false;
    }
    Log::setCefSyslog(m_config.getBool(server, QStringLiteral("cef_syslog"), false));
    for (const Config::Diagnostic &d : diagnostics)
        qCWarning(lcServer).noquote() << d.toString();

    if (tls) {
        m_tls = std::make_shared<Tls::TlsContextSlot>();
        m_tls->set(tls);
    }
    // Single process: open the sockets (or adopt systemd's). Worker: adopt the master's.
    const QList<ListenSpec> specs = listenSpecs(m_config);
    QList<int> fds;
    if (!acquireListeners(specs, &fds, &error)) {
        m_errors.append(error);
        return false;
    }
    for (int i = 0; i < specs.size(); ++i) {
        m_listeners.append({fds[i], specs[i].tls ? m_tls : nullptr});
        m_context.listeners.append(specs[i].toString());
    }
    if (m_role == Role::Single) {
        m_pidFile = m_config.getPath(server, QStringLiteral("pid_file"));
        if (!writePidFile(m_pidFile, &error) ||
            !becomeConfiguredUser(m_config, ownedPaths(m_config, m_pidFile), &error)) {
            m_errors.append(error);
            return false;
        }
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

void Server::start()
{
    installSignalHandlers();
    // A hung thread's stack, on the master's request, goes where the operator looks.
    Log::LogSink *serverLog = Log::Logging::serverLog();
    installStackDumpHandler(serverLog && serverLog->fd() > 2 ? serverLog->fd() : STDERR_FILENO);
    if (m_role == Role::Worker)
        startWorkerDuties();
    connect(&m_logFlush, &QTimer::timeout, this, [] { Log::Logging::flushAll(); });
    m_logFlush.start(100);
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
        thread->start();
        m_threads.push_back(std::move(thread));
    }
}

void Server::installSignalHandlers()
{
    auto *pipe = new SignalPipe({SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1}, this);
    connect(pipe, &SignalPipe::received, this, &Server::onSignal);
}

void Server::onSignal(int signo)
{
    switch (signo) {
    case SIGTERM:
        qCInfo(lcServer) << "SIGTERM: graceful stop";
        stopGracefully();
        break;
    case SIGINT:
    case SIGQUIT:
        qCInfo(lcServer) << (signo == SIGINT ? "SIGINT" : "SIGQUIT") << ": immediate stop";
        stopNow();
        break;
    case SIGUSR1: {
        QString error;
        if (Log::Logging::reopenAll(&error))
            qCInfo(lcServer) << "SIGUSR1: log files reopened";
        else
            qCWarning(lcServer).noquote() << "SIGUSR1:" << error;
        break;
    }
    case SIGHUP:
        if (m_role == Role::Single)
            reloadCertificates();
        break; // a worker is replaced, not reloaded: the master handles HUP
    default:
        break;
    }
}

bool Server::attachSharedState(int threads)
{
    // A worker writes its stats, heartbeats and current requests into the slot its master gave
    // it; a single process makes a one-slot region of its own, so `berthd status` and the stats
    // app read both the same way. Apps keep the stat indices they declare, so this comes before
    // any router (and app) is built.
    QString error;
    int slot = 0;
    if (m_role == Role::Worker) {
        m_shared = SharedState::attachFromEnvironment(&slot, &error);
        if (!m_shared && error.isEmpty())
            error = QStringLiteral("berthd worker: no shared state from the master "
                                   "(BERTH_SHARED_FD)");
    } else {
        m_shared = SharedState::create(1, threads, &error);
        if (m_shared)
            m_shared->prepareSlot(0);
    }
    if (!m_shared || !m_stats.attach(*m_shared, slot, &error)) {
        m_errors.append(error);
        return false;
    }
    return true;
}

void Server::startWorkerDuties()
{
    using namespace std::chrono_literals;
    // Tell the master this worker serves (it retires the previous generation only then).
    const int readyFd = qEnvironmentVariableIntValue("BERTH_READY_FD");
    if (readyFd > 2) {
        [[maybe_unused]] ssize_t n = ::write(readyFd, "R", 1);
        ::close(readyFd);
    }
    // gunicorn's max_requests: a worker that served its share leaves gracefully and the master
    // starts a fresh one, containing slow leaks in plugin apps. The jitter keeps workers from
    // all recycling at the same moment.
    const qint64 maxRequests =
        m_config.getInt(QStringLiteral("server"), QStringLiteral("max_requests"), 0);
    if (maxRequests > 0) {
        const qint64 jitter =
            m_config.getInt(QStringLiteral("server"), QStringLiteral("max_requests_jitter"), 0);
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

void Server::reloadCertificates()
{
    // Single-process mode reloads what can change under a running listener: the TLS
    // certificates (renewed by an ACME client, say). New connections get the new ones.
    if (!m_tls) {
        qCInfo(lcServer) << "SIGHUP: no TLS certificates to reload; a full configuration "
                            "reload needs worker processes (workers > 0)";
        return;
    }
    Config::Config config = Config::Config::load(m_files);
    Config::Diagnostics problems;
    auto context = Tls::TlsContext::create(Tls::TlsSettings::fromConfig(config), &problems);
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
    qCInfo(lcServer) << "stopped";
    if (m_role == Role::Single && !m_pidFile.isEmpty() && readPidFile(m_pidFile) == ::getpid())
        QFile::remove(m_pidFile);
    Log::Logging::flushAll();
    Q_EMIT stopped();
}

} // namespace Berth::Core
