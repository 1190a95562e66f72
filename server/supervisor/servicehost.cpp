#include "servicehost.h"

#include "runtime/sharedregion.h"

#include "childprocess.h"
#include "configcheck.h"
#include "log/logging.h"
#include "log/logsink.h"
#include "runtime/broadcastbus.h"
#include "runtime/crashreport.h"
#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "runtime/signalpipe.h"
#include "runtime/ticketkeys.h"
#include "service/serviceregistry.h"
#include "snapshottransport.h"

#include <QCoreApplication>
#include <QFile>
#include <QLoggingCategory>
#include <QPointer>

#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcHost, "berth.host")

namespace Berth::Supervisor {

namespace {

void printError(const QString &text)
{
    const QByteArray bytes = text.toLocal8Bit() + '\n';
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stderr);
}

int fail(const QStringList &errors, int starterFd = -1)
{
    for (const QString &e : errors) {
        qCCritical(lcHost).noquote() << e;
        printError(e);
    }
    Log::Logging::flushAll();
    Core::reportToStarter(starterFd, errors.join(QLatin1Char('\n')));
    printError(QStringLiteral("berthd: not started"));
    return 1;
}

int runLoop(ServiceHost *host, QCoreApplication &app)
{
    QObject::connect(host, &ServiceHost::finished, &app, &QCoreApplication::quit,
                     Qt::QueuedConnection);
    return app.exec();
}

} // namespace

ServiceHost::ServiceHost(bool inProcess)
    : m_inProcess(inProcess)
{}

int ServiceHost::runChild(const QString &kind, const QString &name, QCoreApplication &app)
{
    ServiceHost host(false);
    QString error;
    const std::optional<Config::Snapshot> snapshot = readSnapshotFromEnvironment(&error);
    if (!snapshot)
        return fail({error});
    host.m_config = snapshot->config();
    const QString logDir =
        host.m_config.getPath(QStringLiteral("server"), QStringLiteral("log_dir"));
    Log::Logging::configure(Log::LogOptions::fromConfig(host.m_config)); // checked by the master
    if (!Log::Logging::setup(logDir, &error))
        return fail({error});
    // A crash leaves its stack and request in server.log; the master symbolises it.
    Log::LogSink *serverLog = Log::Logging::serverLog();
    Core::installCrashHandler(serverLog && serverLog->fd() > 2 ? serverLog->fd() : STDERR_FILENO);
    const ServiceKind *serviceKind = ServiceRegistry::builtin().find(kind);
    if (!serviceKind)
        return fail({QStringLiteral("berthd child: unknown service kind '%1'").arg(kind)});
    int slot = 0;
    host.m_shared = Core::SharedState::attachFromEnvironment(&slot, &error);
    if (!host.m_shared)
        return fail({error.isEmpty() ? QStringLiteral("berthd child: no shared state from the "
                                                      "master (BERTH_SHARED_FD)")
                                     : error});
    bool ok = false;
    host.m_readyFd = qEnvironmentVariableIntValue(ReadyFdVariable, &ok);
    if (!ok)
        host.m_readyFd = -1;
    qunsetenv(ReadyFdVariable);
    const int index = qEnvironmentVariableIntValue(ChildIndexVariable, &ok);
    qunsetenv(ChildIndexVariable);
    if (host.m_readyFd > 2)
        ::fcntl(host.m_readyFd, F_SETFD, FD_CLOEXEC);
    host.m_bus = Core::BroadcastBus::fromEnvironment();
    ServiceSetup setup;
    setup.config = &host.m_config;
    setup.name = name;
    setup.shared = host.m_shared.get();
    setup.slot = slot;
    setup.index = ok ? index : 0;
    setup.bus = host.m_bus.get();
    host.m_services.push_back(serviceKind->create(setup));
    host.m_bus->subscribe(QByteArray(Core::BusWire::ControlRequestTopic), &host,
                          [h = &host](const QByteArray &payload) { h->onControlRequest(payload); });
    QStringList errors;
    if (!host.m_services.front()->prepare(&errors))
        return fail(errors);
    qCInfo(lcHost).noquote() << QStringLiteral("%1:%2 running configuration generation %3 "
                                               "(sha256 %4)")
                                    .arg(kind, name)
                                    .arg(snapshot->generation())
                                    .arg(QString::fromLatin1(snapshot->hash().left(12)));
    if (!host.start(&errors))
        return fail(errors, host.m_starterFd);
    return runLoop(&host, app);
}

ServiceHost::~ServiceHost() = default;

int ServiceHost::runInProcess(const QStringList &files, QCoreApplication &app, int starterFd)
{
    ServiceHost host(true);
    host.m_files = files;
    host.m_starterFd = starterFd;
    QStringList errors;
    for (const Config::Diagnostic &d : checkConfiguration(files, &host.m_config)) {
        if (d.isError())
            errors.append(d.toString());
    }
    if (!errors.isEmpty())
        return fail(errors, starterFd);
    const QString server = QStringLiteral("server");
    QString error;
    Log::Logging::configure(Log::LogOptions::fromConfig(host.m_config)); // checked above
    if (!Log::Logging::setup(host.m_config.getPath(server, QStringLiteral("log_dir")), &error))
        return fail({error}, starterFd);
    // No master to symbolise it: the raw block stays in server.log (eu-addr2line reads it).
    Log::LogSink *serverLog = Log::Logging::serverLog();
    Core::installCrashHandler(serverLog && serverLog->fd() > 2 ? serverLog->fd() : STDERR_FILENO);
    const QList<ChildSpec> specs = ServiceRegistry::builtin().childSpecs(host.m_config);
    const int threads = int(
        qBound(qint64(1), host.m_config.getInt(server, QStringLiteral("threads")), qint64(256)));
    Core::SharedRegion::removeStaleRegions();
    Core::SharedRegion::becomeInstance();
    host.m_shared =
        Core::SharedState::create(int(qMax<qsizetype>(1, specs.size())), threads, &error);
    if (!host.m_shared)
        return fail({error}, starterFd);
    // One process: every service's "other children" are itself.
    host.m_bus = std::make_unique<Core::BroadcastBus>();
    for (int i = 0; i < specs.size(); ++i) {
        const ChildSpec &spec = specs[i];
        const ServiceKind *kind = ServiceRegistry::builtin().find(spec.kind);
        host.m_shared->setService(i, spec.kind, spec.name, 0, -1);
        host.m_shared->prepareSlot(i);
        ServiceSetup setup;
        setup.config = &host.m_config;
        setup.name = spec.name;
        setup.shared = host.m_shared.get();
        setup.slot = i;
        setup.inProcess = true;
        setup.bus = host.m_bus.get();
        setup.configFiles = files;
        host.m_services.push_back(kind->create(setup));
        if (!host.m_services.back()->prepare(&errors))
            return fail(errors, starterFd);
    }
    host.m_pidFile = host.m_config.getPath(server, QStringLiteral("pid_file"));
    if (!Core::writePidFile(host.m_pidFile, &error) ||
        !Core::becomeConfiguredUser(host.m_config, Core::ownedPaths(host.m_config, host.m_pidFile),
                                    &error))
        return fail({error}, starterFd);
    if (!host.start(&errors))
        return fail(errors, host.m_starterFd);
    const int status = runLoop(&host, app);
    Core::SharedRegion::removeInstanceRegions(); // this process was the instance
    return status;
}

bool ServiceHost::start(QStringList *errors)
{
    auto *pipe = new Core::SignalPipe({SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1}, this);
    connect(pipe, &Core::SignalPipe::received, this, &ServiceHost::onSignal);
    // The log sinks write on their own (log/logsink.h): no timer here wakes the process for them.
    if (m_inProcess) {
        // No master: this process makes the TLS ticket keys (runtime/ticketkeys.h), checked
        // once a second as the master does (the shortest rotation is a second).
        const qint64 rotationMs =
            m_config.getDuration(QStringLiteral("tls"), QStringLiteral("ssl_ticket_key_rotation"))
                .count();
        connect(&m_ticketRotation, &QTimer::timeout, this, [rotationMs] {
            Core::TicketKeyRing::instance()->rotateIfDue(Core::monotonicMs(),
                                                         qMax<qint64>(1000, rotationMs));
        });
        m_ticketRotation.start(1000);
    }
    for (auto &service : m_services) {
        connect(service.get(), &Service::drained, this, &ServiceHost::onDrained,
                Qt::QueuedConnection);
        connect(service.get(), &Service::ready, this, &ServiceHost::onReady, Qt::QueuedConnection);
        connect(service.get(), &Service::stoppedAccepting, this, &ServiceHost::onStoppedAccepting,
                Qt::QueuedConnection);
        if (!service->start(errors))
            return false;
    }
    if (m_services.empty())
        QTimer::singleShot(0, this, &ServiceHost::onDrained);
    return true;
}

void ServiceHost::onReady()
{
    for (const auto &service : m_services) {
        if (!service->isReady())
            return;
    }
    // Tell the master this child serves (a reload retires the previous generation only then).
    // The pipe stays open for the 'Q' of onStoppedAccepting().
    if (m_readyFd > 2 && !m_draining && !m_toldReady) {
        [[maybe_unused]] ssize_t n = ::write(m_readyFd, "R", 1);
    }
    m_toldReady = true;
    Core::reportToStarter(m_starterFd, QStringLiteral("OK"));
    m_starterFd = -1;
}

void ServiceHost::onStoppedAccepting()
{
    if (!m_draining)
        return;
    for (const auto &service : m_services) {
        if (service->isAccepting())
            return;
    }
    // Tell the master no new connection reaches this child: a reload answers only then, so the
    // operator's next request meets the new generation.
    if (m_readyFd > 2) {
        [[maybe_unused]] ssize_t n = ::write(m_readyFd, "Q", 1);
        ::close(m_readyFd);
        m_readyFd = -1;
    }
}

void ServiceHost::onControlRequest(const QByteArray &payload)
{
    QStringList parts = QString::fromUtf8(payload).split(QLatin1Char('\n'));
    if (parts.size() < 2 || m_services.empty())
        return;
    const QString id = parts.takeFirst();
    const QString verb = parts.takeFirst();
    QPointer<ServiceHost> self(this);
    m_services.front()->control(verb, parts, [self, id](bool ok, const QStringList &lines) {
        if (!self || !self->m_bus)
            return;
        QStringList answer{id, ok ? QStringLiteral("OK") : QStringLiteral("FAILED")};
        answer += lines;
        self->m_bus->publish(Core::BusWire::ControlAnswerTopic,
                             answer.join(QLatin1Char('\n')).toUtf8());
    });
}

void ServiceHost::onSignal(int signo)
{
    switch (signo) {
    case SIGTERM:
        qCInfo(lcHost) << "SIGTERM: graceful stop";
        if (m_inProcess && m_shared)
            m_shared->markServerStopping(); // this process is the server
        m_draining = true;
        for (auto &service : m_services)
            service->drain();
        onStoppedAccepting(); // services without listeners
        break;
    case SIGINT:
    case SIGQUIT:
        qCInfo(lcHost) << (signo == SIGINT ? "SIGINT" : "SIGQUIT") << ": immediate stop";
        for (auto &service : m_services)
            service->stopNow();
        break;
    case SIGUSR1: {
        QString error;
        if (Log::Logging::reopenAll(&error)) {
            // Crash reports and stack dumps go to the new server.log too.
            if (Log::LogSink *serverLog = Log::Logging::serverLog();
                serverLog && serverLog->fd() > 2)
                Core::retargetCrashReports(serverLog->fd());
            qCInfo(lcHost) << "SIGUSR1: log files reopened";
        } else
            qCWarning(lcHost).noquote() << "SIGUSR1:" << error;
        break;
    }
    case SIGHUP:
        // A child is replaced, not reloaded: the master handles HUP.
        if (m_inProcess) {
            for (auto &service : m_services)
                service->hangup();
        }
        break;
    default:
        break;
    }
}

void ServiceHost::onDrained()
{
    if (m_finished)
        return;
    for (const auto &service : m_services) {
        if (!service->isDrained())
            return;
    }
    m_draining = true; // a service may end on its own (max_requests)
    onStoppedAccepting();
    m_finished = true;
    if (m_inProcess && !m_pidFile.isEmpty() && Core::readPidFile(m_pidFile) == ::getpid())
        QFile::remove(m_pidFile);
    Log::Logging::flushAll();
    Core::reportToStarter(m_starterFd, QStringLiteral("berthd: stopped before it was ready"));
    m_starterFd = -1;
    Q_EMIT finished();
}

} // namespace Berth::Supervisor
