#include "socketappservice.h"

#include "apps/builtinapps.h"
#include "engine/epolldispatcher.h"
#include "service/serviceregistry.h"
#include "socketapps/socketappregistry.h"
#include "tls/tlscontext.h"
#include "tls/tlstransport.h"

#include <config/config.h>
#include <config/snapshot.h>
#include <crypto/cryptoutil.h>

#include <QDateTime>
#include <QLoggingCategory>

#include <unistd.h>

Q_LOGGING_CATEGORY(lcSocketService, "berth.socketapps.service")

namespace Berth::Services {

namespace {

const QString TcpKind = QStringLiteral("tcp");
const QString UdpKind = QStringLiteral("udp");

SocketApps::SocketAppRegistry &socketApps()
{
    return SocketApps::SocketAppRegistry::builtin();
}

std::shared_ptr<Tls::TlsContext> buildTls(const Config::Config &config)
{
    Tls::TlsSettings settings = Tls::TlsSettings::fromConfig(config);
    settings.http2 = false; // no ALPN protocol of ours: the bytes are the app's
    Config::Diagnostics problems;
    auto context = Tls::TlsContext::create(settings, &problems);
    for (const Config::Diagnostic &d : problems)
        config.addDiagnostic(d);
    return context;
}

QList<Supervisor::ChildSpec> childSpecs(const Config::Config &config, bool datagram)
{
    QList<Supervisor::ChildSpec> specs;
    const QList<SocketAppSettings> apps = SocketAppSettings::all(config, datagram);
    for (int i = 0; i < apps.size(); ++i) {
        const SocketAppSettings &app = apps[i];
        Supervisor::ChildSpec spec;
        spec.kind = datagram ? UdpKind : TcpKind;
        spec.name = app.name;
        spec.count = app.workers;
        spec.listeners = {i}; // the kind's listeners() are one per section, in this order
        spec.restart = Supervisor::ChildSpec::Restart::Always;
        spec.backoffStartMs = 100;
        spec.backoffCapMs = 30'000;
        spec.quickExitMs = 5'000;
        spec.reload = Supervisor::ChildSpec::Reload::Replace;
        // The process finishes its connections within graceful_timeout; one second of margin.
        spec.stopGraceMs = app.gracefulTimeoutMs + 1000;
        spec.digest = Config::Snapshot::sectionsDigest(config, {app.section});
        specs.append(spec);
    }
    return specs;
}

QList<Core::ListenSpec> listeners(const Config::Config &config, bool datagram)
{
    QList<Core::ListenSpec> specs;
    for (const SocketAppSettings &app : SocketAppSettings::all(config, datagram))
        specs.append(app.listen);
    return specs;
}

void validate(const Config::Config &config, bool datagram)
{
    const QList<Core::ListenSpec> taken = Core::listenSpecs(config);
    QList<Core::ListenSpec> seen;
    for (const SocketAppSettings &app : SocketAppSettings::all(config, datagram)) {
        const Config::Location portAt = config.location(app.section, QStringLiteral("port"));
        for (const Core::ListenSpec &other : taken + seen) {
            if (other.sameSocket(app.listen))
                config.addDiagnostic({Config::Diagnostic::Severity::Error, portAt,
                                      QStringLiteral("[%1] port: %2 is already served by another "
                                                     "section")
                                          .arg(app.section)
                                          .arg(app.listen.port)});
        }
        seen.append(app.listen);
        // brim's parse_conf: building the app once reports its own problems (file:line).
        SocketApps::SocketAppSetup setup{config, app.section, app.name, SocketApps::AppStats()};
        if (datagram) {
            if (const auto *factory = socketApps().datagram(app.call))
                (*factory)(setup);
        } else if (const auto *factory = socketApps().stream(app.call)) {
            (*factory)(setup);
        }
        if (app.listen.tls)
            buildTls(config);
    }
}

} // namespace

SocketAppService::SocketAppService(const Supervisor::ServiceSetup &setup, bool datagram)
    : m_setup(setup)
    , m_datagram(datagram)
{
    m_gracefulDeadline.setSingleShot(true);
    connect(&m_gracefulDeadline, &QTimer::timeout, this, [this] {
        qCWarning(lcSocketService).noquote()
            << m_shared.settings.section
            << "graceful_timeout reached; closing the remaining connections";
        for (const auto &loop : m_loops)
            QMetaObject::invokeMethod(loop.get(), &SocketLoop::closeAll, Qt::QueuedConnection);
    });
}

SocketAppService::~SocketAppService()
{
    stopThreads();
    if (m_shared.socketFd >= 0)
        ::close(m_shared.socketFd);
}

bool SocketAppService::prepare(QStringList *errors)
{
    const Config::Config &config = *m_setup.config;
    const QString section =
        (m_datagram ? QStringLiteral("udp:") : QStringLiteral("tcp:")) + m_setup.name;
    m_shared.settings = SocketAppSettings::fromConfig(config, section);
    m_shared.config = &config;
    m_shared.stats = &m_stats;
    m_shared.streamFactory = socketApps().stream(m_shared.settings.call);
    m_shared.datagramFactory = socketApps().datagram(m_shared.settings.call);
    QString error;
    if (!m_setup.shared || !m_stats.attach(*m_setup.shared, m_setup.slot, &error)) {
        errors->append(QStringLiteral("[%1]: %2").arg(section, error));
        return false;
    }
    // Engine stats first, then each thread's app declares its own (same names, same slots).
    SocketApps::AppStats stats(&m_stats, section);
    m_stats.set(stats.declare(QStringLiteral("start_time"), Core::StatType::Worker),
                QDateTime::currentSecsSinceEpoch());
    m_shared.appErrorsStat = stats.declare(QStringLiteral("app_errors"), Core::StatType::Sum);
    if (m_datagram) {
        m_shared.droppedStat = stats.declare(QStringLiteral("dropped_count"), Core::StatType::Sum);
    } else {
        m_shared.refusedStat = stats.declare(QStringLiteral("refused_count"), Core::StatType::Sum);
        m_shared.idleClosedStat =
            stats.declare(QStringLiteral("idle_closed_count"), Core::StatType::Sum);
        m_shared.sendTimeoutStat =
            stats.declare(QStringLiteral("send_timeout_count"), Core::StatType::Sum);
        m_shared.activeStat =
            stats.declare(QStringLiteral("active_connections"), Core::StatType::Sum);
    }
    if (m_shared.settings.listen.tls) {
        std::shared_ptr<Tls::TlsContext> context = buildTls(config);
        if (!context) {
            for (const Config::Diagnostic &d : config.diagnostics())
                if (d.isError())
                    errors->append(d.toString());
            errors->append(QStringLiteral("[%1] tls: no usable [tls] certificate").arg(section));
            return false;
        }
        m_tls = std::make_shared<Tls::TlsContextSlot>();
        m_tls->set(context);
        m_shared.tls = std::make_shared<Tls::TlsTransportFactory>(m_tls);
    }
    for (int i = 0; i < m_shared.settings.threads; ++i) {
        auto loop = std::make_unique<SocketLoop>(m_shared, i);
        if (!loop->buildApp(&error)) {
            errors->append(error);
            return false;
        }
        m_loops.push_back(std::move(loop));
    }
    // Adopts the master's socket (or systemd's); single process: opens it here, before the
    // privilege drop.
    QList<int> fds;
    if (!Core::acquireListeners({m_shared.settings.listen}, &fds, &error)) {
        errors->append(QStringLiteral("[%1]: %2").arg(section, error));
        return false;
    }
    m_shared.socketFd = fds.value(0, -1);
    return true;
}

bool SocketAppService::start(QStringList *)
{
    for (const auto &loop : m_loops) {
        auto thread = std::make_unique<QThread>();
        // The loop's Poller then shares the set its thread sleeps in (see EpollDispatcher).
        Engine::EpollDispatcher::installOn(thread.get());
        thread->setObjectName(m_shared.settings.section);
        loop->moveToThread(thread.get());
        // TLS apps leave OpenSSL state in the thread (see Crypto::releaseThreadState).
        connect(thread.get(), &QThread::finished, thread.get(), &Crypto::releaseThreadState,
                Qt::DirectConnection);
        connect(loop.get(), &SocketLoop::drained, this, &SocketAppService::loopDrained,
                Qt::QueuedConnection);
        // Ready once every loop watches the socket, not when the threads were launched.
        connect(
            loop.get(), &SocketLoop::listening, this,
            [this] {
                if (++m_listeningLoops == int(m_loops.size()))
                    markReady();
            },
            Qt::QueuedConnection);
        thread->start();
        QMetaObject::invokeMethod(loop.get(), &SocketLoop::start, Qt::QueuedConnection);
        m_threads.push_back(std::move(thread));
    }
    qCInfo(lcSocketService).noquote() << QStringLiteral("[%1] %2 (pid %3) on %4, %5 thread(s)")
                                             .arg(m_shared.settings.section, m_shared.settings.call)
                                             .arg(::getpid())
                                             .arg(m_shared.settings.listen.toString())
                                             .arg(m_shared.settings.threads);
    return true;
}

void SocketAppService::drain()
{
    if (m_stopping)
        return;
    m_stopping = true;
    for (const auto &loop : m_loops) {
        SocketLoop *l = loop.get();
        QMetaObject::invokeMethod(
            l,
            [this, l] {
                l->beginDrain();
                // The loop's thread is joined before this service goes (stopThreads()).
                QMetaObject::invokeMethod(this, &SocketAppService::loopStoppedAccepting,
                                          Qt::QueuedConnection);
            },
            Qt::QueuedConnection);
    }
    m_gracefulDeadline.start(
        int(qBound(qint64(0), m_shared.settings.gracefulTimeoutMs, qint64(INT_MAX))));
}

void SocketAppService::stopNow()
{
    m_stopping = true;
    for (const auto &loop : m_loops)
        QMetaObject::invokeMethod(loop.get(), &SocketLoop::closeAll, Qt::QueuedConnection);
}

void SocketAppService::hangup()
{
    if (!m_setup.inProcess || !m_tls)
        return;
    const Config::Config config = Config::Config::load(m_setup.configFiles);
    std::shared_ptr<Tls::TlsContext> context = buildTls(config);
    if (!context) {
        for (const Config::Diagnostic &d : config.diagnostics())
            qCWarning(lcSocketService).noquote()
                << QStringLiteral("[%1] SIGHUP: keeping the old certificates: %2")
                       .arg(m_shared.settings.section, d.toString());
        return;
    }
    // Connections already open keep the context they started with.
    m_tls->set(std::move(context));
    qCInfo(lcSocketService).noquote()
        << QStringLiteral("[%1] SIGHUP: TLS certificates reloaded").arg(m_shared.settings.section);
}

bool SocketAppService::isAccepting() const
{
    return m_loopsNotAccepting < int(m_loops.size());
}

void SocketAppService::loopStoppedAccepting()
{
    if (++m_loopsNotAccepting == int(m_loops.size()))
        Q_EMIT stoppedAccepting();
}

void SocketAppService::loopDrained()
{
    if (++m_drainedLoops < int(m_loops.size()))
        return;
    m_gracefulDeadline.stop();
    stopThreads();
    markDrained();
}

void SocketAppService::stopThreads()
{
    for (size_t i = 0; i < m_threads.size(); ++i) {
        if (m_threads[i]->isRunning())
            QMetaObject::invokeMethod(m_loops[i].get(), &SocketLoop::shutdown,
                                      Qt::BlockingQueuedConnection);
    }
    for (const auto &thread : m_threads) {
        thread->quit();
        thread->wait();
    }
    // The loops (and their connections) end in this thread now that theirs is gone.
    m_loops.clear();
    m_threads.clear();
}

QStringList SocketAppService::statNames() const
{
    QStringList names;
    for (const Core::StatsRegistry::Entry &e : m_stats.snapshot())
        names.append(e.name);
    return names;
}

void registerSocketAppServices(Supervisor::ServiceRegistry &registry)
{
    Apps::registerBuiltinSocketApps(socketApps());
    for (const bool datagram : {false, true}) {
        registry.add(Supervisor::ServiceKind{
            datagram ? UdpKind : TcpKind,
            [datagram](const Config::Config &config) { return childSpecs(config, datagram); },
            [datagram](const Config::Config &config) { validate(config, datagram); },
            [datagram](
                const Supervisor::ServiceSetup &setup) -> std::unique_ptr<Supervisor::Service> {
                return std::make_unique<SocketAppService>(setup, datagram);
            },
            [datagram](const Config::Config &config) { return listeners(config, datagram); }});
    }
}

} // namespace Berth::Services
