#include "adminservice.h"

#include "adminapi.h"
#include "engine/eventloopthread.h"
#include "log/logfiles.h"
#include "log/logging.h"
#include "log/logsink.h"
#include "mail/spool.h"
#include "runtime/listeners.h"
#include "runtime/sharedstate.h"
#include "service/serviceregistry.h"
#include "tls/tlscontext.h"
#include "tls/tlstransport.h"

#include <config/config.h>
#include <config/snapshot.h>

#include <QCoreApplication>
#include <QFileInfo>
#include <QLoggingCategory>

#include <unistd.h>

Q_LOGGING_CATEGORY(lcAdminService, "berth.admin.service")

namespace Berth::Admin {

using namespace Qt::StringLiterals;

namespace {

const QString Kind = u"admin"_s;
const QString Section = u"admin"_s;

bool enabled(const Config::Config &config)
{
    return config.hasSection(Section) && config.getBool(Section, u"enabled"_s);
}

Core::ListenSpec listenSpec(const Config::Config &config)
{
    Core::ListenSpec spec;
    const QString unixPath = config.getPath(Section, u"unix"_s);
    if (!unixPath.isEmpty()) {
        spec.path = unixPath;
        spec.unixMode = 0660;
        spec.unixGroup = config.getString(Section, u"unix_group"_s);
    } else {
        spec.ip = config.getString(Section, u"ip"_s);
        spec.port = quint16(config.getInt(Section, u"port"_s));
    }
    spec.tls = config.getBool(Section, u"tls"_s);
    spec.http2 = false;
    return spec;
}

QString tokenFile(const Config::Config &config)
{
    const QString file = config.getPath(Section, u"token_file"_s);
    if (!file.isEmpty())
        return file;
    const QString logDir = config.getPath(u"server"_s, u"log_dir"_s);
    return logDir.isEmpty() ? QString() : logDir + u"/admin.tokens"_s;
}

Tls::TlsSettings tlsSettings(const Config::Config &config)
{
    Tls::TlsSettings settings = Tls::TlsSettings::fromConfig(config);
    settings.enabled = true;
    settings.port = 0;
    settings.http2 = false;
    settings.sniCertificates.clear();
    const QString cert = config.getPath(Section, u"cert"_s);
    if (!cert.isEmpty()) {
        settings.defaultCertificate.certFile = cert;
        settings.defaultCertificate.keyFile = config.getPath(Section, u"key"_s);
        settings.defaultCertificate.passphrase.clear();
        settings.defaultCertificate.location = config.location(Section, u"cert"_s);
    }
    // Client certificates: the admin listener's own policy when it sets one (mutual TLS for
    // the control plane while the public listeners take anyone).
    const QString clientCa = config.getPath(Section, u"client_ca"_s);
    if (!clientCa.isEmpty())
        settings.clientCaFile = clientCa;
    const QString verify = config.getString(Section, u"verify_client"_s);
    if (!verify.isEmpty())
        settings.verifyClient = verify;
    return settings;
}

QList<Supervisor::ChildSpec> adminChildSpecs(const Config::Config &config)
{
    if (!enabled(config))
        return {};
    Supervisor::ChildSpec spec;
    spec.kind = Kind;
    spec.name = Kind;
    spec.count = 1;
    spec.listeners = {0};
    spec.restart = Supervisor::ChildSpec::Restart::Always;
    spec.backoffStartMs = 100;
    spec.backoffCapMs = 10'000;
    spec.quickExitMs = 5'000;
    // Kept across reloads while what it reads of the configuration stays the same: a reload
    // the API itself asked for (PUT config, a canary's watch) and its event streams outlive it.
    spec.reload = Supervisor::ChildSpec::Reload::Keep;
    spec.stopGraceMs = 10'000;
    spec.digest = Config::Snapshot::sectionsDigest(
        config, {Section, u"server"_s, u"berth"_s, u"cron"_s, u"mailer"_s});
    return {spec};
}

QList<Core::ListenSpec> adminListeners(const Config::Config &config)
{
    if (!enabled(config))
        return {};
    return {listenSpec(config)};
}

void validateAdmin(const Config::Config &config)
{
    if (!enabled(config))
        return;
    const Core::ListenSpec spec = listenSpec(config);
    for (const Core::ListenSpec &other : Core::listenSpecs(config)) {
        if (other.sameSocket(spec))
            config.addDiagnostic({Config::Diagnostic::Severity::Error,
                                  config.location(Section, spec.isUnix() ? u"unix"_s : u"port"_s),
                                  u"[admin]: %1 is already a [server] listener; the admin API "
                                  u"needs a listener of its own"_s.arg(spec.toString())});
    }
    if (tokenFile(config).isEmpty())
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              config.location(Section, u"enabled"_s),
                              u"[admin] token_file: required when [server] log_dir is not set"_s});
    const QString verify = config.getString(Section, u"verify_client"_s);
    if (!verify.isEmpty() && verify != u"no"_s && verify != u"optional"_s &&
        verify != u"require"_s) {
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              config.location(Section, u"verify_client"_s),
                              u"[admin] verify_client: '%1' is not one of no, optional, "
                              u"require"_s.arg(verify)});
        return;
    }
    if (spec.tls) {
        Config::Diagnostics problems;
        Tls::TlsContext::create(tlsSettings(config), &problems);
        for (const Config::Diagnostic &d : problems)
            config.addDiagnostic(d);
    }
}

QString controlSocketFor(const QString &pidFile)
{
    // As Supervisor::controlSocketPath(): berthd.pid -> berthd.sock.
    if (pidFile.endsWith(u".pid"_s))
        return pidFile.chopped(4) + u".sock"_s;
    return pidFile + u".sock"_s;
}

} // namespace

AdminService::AdminService(const Supervisor::ServiceSetup &setup)
    : m_setup(setup)
{}

AdminService::~AdminService()
{
    if (m_thread) {
        m_thread->quit();
        m_thread->wait();
    }
    m_thread.reset();
    m_api.reset();
    for (int fd : std::as_const(m_fds))
        ::close(fd);
}

bool AdminService::prepare(QStringList *errors)
{
    const Config::Config &config = *m_setup.config;
    QString error;
    if (!m_setup.shared || !m_stats.attach(*m_setup.shared, m_setup.slot, &error)) {
        errors->append(u"[admin]: %1"_s.arg(error.isEmpty() ? u"no shared state"_s : error));
        return false;
    }
    m_context.stats = &m_stats;
    m_context.config = m_setup.config;
    m_context.threads = 1;
    m_context.serverName = config.getString(u"server"_s, u"name"_s);
    if (!m_setup.inProcess) {
        QString problem;
        const QList<qint64> bounds = Core::StatsRegistry::parseLatencyBuckets(
            config.getList(u"server"_s, u"latency_buckets"_s), &problem);
        if (!bounds.isEmpty())
            Core::StatsRegistry::setLatencyBuckets(bounds);
    }
    m_offload = std::make_unique<Core::OffloadPool>(Core::OffloadSettings{2, 32}, &m_stats);
    m_context.offload = m_offload.get();

    const Core::ListenSpec spec = listenSpec(config);
    if (!Core::acquireListeners({spec}, &m_fds, &error)) {
        errors->append(u"[admin]: %1"_s.arg(error));
        return false;
    }
    m_context.listeners = {spec.toString()};

    const QString logDir = config.getPath(u"server"_s, u"log_dir"_s);
    if (!logDir.isEmpty()) {
        m_audit = std::make_shared<Log::LogSink>(logDir + u'/' +
                                                 QString::fromLatin1(Log::AdminAuditLogFile));
        if (!m_audit->open(&error)) {
            errors->append(u"[admin]: %1"_s.arg(error));
            return false;
        }
        Log::Logging::reopenWithOthers(m_audit);
    }
    return true;
}

bool AdminService::start(QStringList *errors)
{
    const Config::Config &config = *m_setup.config;
    const QString tokens = tokenFile(config);
    TokenStore store;
    bool created = false;
    QString error;
    if (!store.load(tokens, &created, &error)) {
        errors->append(u"[admin] token_file: %1"_s.arg(error));
        return false;
    }
    if (created)
        qCInfo(lcAdminService).noquote()
            << u"admin API: created %1 with one admin token (read it there)"_s.arg(tokens);
    else if (QFileInfo(tokens).permissions() & (QFileDevice::ReadGroup | QFileDevice::ReadOther |
                                                QFileDevice::WriteGroup | QFileDevice::WriteOther))
        qCWarning(lcAdminService).noquote()
            << u"admin API: %1 is readable or writable by others than its owner; chmod 600 it"_s
                   .arg(tokens);

    AdminSettings settings;
    settings.serverName = config.getString(u"server"_s, u"name"_s);
    const Core::ListenSpec spec = listenSpec(config);
    settings.listenHosts = {spec.ip.toLower()};
    for (const QString &host : config.getList(Section, u"allowed_hosts"_s))
        settings.allowedHosts.append(host.toLower());
    settings.configFiles = config.files();
    settings.logDir = config.getPath(u"server"_s, u"log_dir"_s);
    for (const Log::LogFile &log : Log::logFiles(config))
        settings.logs.append({log.name, log.file});
    const QString pidFile = config.getPath(u"server"_s, u"pid_file"_s);
    if (!m_setup.inProcess && !pidFile.isEmpty())
        settings.controlSocket = controlSocketFor(QFileInfo(pidFile).absoluteFilePath());
    settings.masterPid = m_setup.inProcess ? ::getpid() : ::getppid();
    settings.historyDir = QFileInfo(tokens).absolutePath() + u"/admin-history"_s;
    settings.historyLimit = int(config.getInt(Section, u"history"_s));
    settings.applyTimeoutMs = config.getDuration(Section, u"apply_timeout"_s).count();
    settings.listeners = m_context.listeners;
    settings.mailSpoolDir = Mail::Spool::fromConfig(config).dir();
    settings.statsSlot = m_setup.slot;

    std::shared_ptr<Engine::TransportFactory> transports;
    if (spec.tls) {
        Config::Diagnostics problems;
        auto context = Tls::TlsContext::create(tlsSettings(config), &problems);
        if (!context) {
            for (const Config::Diagnostic &d : problems)
                errors->append(d.toString());
            return false;
        }
        auto slot = std::make_shared<Tls::TlsContextSlot>();
        slot->set(context);
        transports = std::make_shared<Tls::TlsTransportFactory>(slot, false);
    }
    m_api =
        std::make_unique<AdminApi>(settings, store, int(config.getInt(Section, u"max_failures"_s)),
                                   m_setup.shared, m_offload.get(), m_audit);
    const Engine::EngineSettings engine = Engine::EngineSettings::fromConfig(config);
    m_thread = std::make_unique<Core::EventLoopThread>(
        engine, m_api.get(), &m_context,
        QList<Engine::Listener>{{m_fds.value(0), transports, false, false}}, 0);
    connect(
        m_thread.get(), &Core::EventLoopThread::drained, this,
        [this] {
            m_thread->quit();
            m_thread->wait();
            markDrained();
        },
        Qt::QueuedConnection);
    connect(m_thread.get(), &Core::EventLoopThread::stoppedAccepting, this,
            &AdminService::stoppedAccepting, Qt::QueuedConnection);
    // Ready once the thread is on the listener, not when it was launched.
    connect(
        m_thread.get(), &Core::EventLoopThread::listening, this, [this] { markReady(); },
        Qt::QueuedConnection);
    m_thread->start();
    qCInfo(lcAdminService).noquote()
        << u"admin API (pid %1) on %2, tokens in %3"_s.arg(QCoreApplication::applicationPid())
               .arg(m_context.listeners.join(u", "_s), tokens);
    return true;
}

void AdminService::drain()
{
    if (m_stopping)
        return;
    m_stopping = true;
    m_context.setDraining(true);
    if (Core::WorkerSlot *slot = m_stats.workerSlot())
        slot->state.store(int(Core::WorkerState::Draining), std::memory_order_release);
    if (m_thread)
        m_thread->beginDrain();
    else
        markDrained();
}

void AdminService::stopNow()
{
    m_stopping = true;
    if (m_thread) {
        m_thread->closeAll();
        m_thread->quit();
        m_thread->wait();
    }
    markDrained();
}

bool AdminService::isAccepting() const
{
    return m_thread && !isDrained() && !m_thread->hasStoppedAccepting();
}

QStringList AdminService::statNames() const
{
    QStringList names;
    for (const Core::StatsRegistry::Entry &e : m_stats.snapshot())
        names.append(e.name);
    return names;
}

void registerAdminService(Supervisor::ServiceRegistry &registry)
{
    registry.add(Supervisor::ServiceKind{
        Kind, adminChildSpecs, validateAdmin,
        [](const Supervisor::ServiceSetup &setup) -> std::unique_ptr<Supervisor::Service> {
            return std::make_unique<AdminService>(setup);
        },
        adminListeners});
}

} // namespace Berth::Admin
