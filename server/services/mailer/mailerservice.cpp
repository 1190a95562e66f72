#include "mailerservice.h"

#include "log/logging.h"
#include "runtime/offloadpool.h"
#include "service/serviceregistry.h"

#include <config/config.h>
#include <config/snapshot.h>

#include <QDir>
#include <QFile>
#include <QLoggingCategory>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcMailer, "berth.mailer")

namespace Berth::Services {

using namespace Qt::StringLiterals;

namespace {

const QString Kind = u"mailer"_s;
const QString Section = u"mailer"_s;

bool testKnobs()
{
    return qEnvironmentVariable("BERTH_TEST_APPS") == "1"_L1;
}

QList<Supervisor::ChildSpec> mailerChildSpecs(const Config::Config &config)
{
    if (config.getString(Section, u"smtpserver"_s).trimmed().isEmpty())
        return {};
    Supervisor::ChildSpec spec;
    spec.kind = Kind;
    spec.name = Kind;
    spec.count = 1;
    spec.restart = Supervisor::ChildSpec::Restart::Always;
    spec.backoffStartMs = 500;
    spec.backoffCapMs = 30'000;
    spec.reload = Supervisor::ChildSpec::Reload::Keep;
    // A delivery cut short by KILL is sent again by the next agent (at-least-once).
    spec.stopGraceMs = 10'000;
    spec.digest = Config::Snapshot::sectionsDigest(config, {Section, u"server"_s});
    return {spec};
}

void validateMailer(const Config::Config &config)
{
    const auto error = [&](const QString &key, const QString &text) {
        // A key that is missing is reported at its section.
        const Config::Section *section = config.section(Section);
        const bool set = config.has(Section, key);
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              set || !section ? config.location(Section, key) : section->location,
                              u"[mailer] %1: %2"_s.arg(key, text)});
    };
    const QString server = config.getString(Section, u"smtpserver"_s).trimmed();
    SmtpSettings::Ssl ssl;
    if (!SmtpSettings::parseSsl(config.getString(Section, u"ssl"_s), &ssl))
        error(u"ssl"_s,
              u"'%1' is not no, starttls or tls"_s.arg(config.getString(Section, u"ssl"_s)));
    using namespace std::chrono_literals;
    if (config.getDuration(Section, u"retry_interval"_s) < 1s && !testKnobs())
        error(u"retry_interval"_s, u"must be at least 1s"_s);
    if (server.isEmpty())
        return;
    QString host;
    int port = 0;
    QString why;
    if (!SmtpSettings::parseServer(server, &host, &port, &why))
        error(u"smtpserver"_s, why);
    if (config.getPath(Section, u"spool_dir"_s).isEmpty())
        error(u"spool_dir"_s, u"must be set when smtpserver is"_s);
}

} // namespace

MailerService::MailerService(const Supervisor::ServiceSetup &setup)
    : m_setup(setup)
    , m_spool(Mail::Spool::fromConfig(*setup.config))
{}

MailerService::~MailerService()
{
    m_pool.reset(); // the delivery thread first: it uses nothing of ours, but say so
    if (m_agentLock >= 0)
        ::close(m_agentLock); // releases the flock
}

bool MailerService::prepare(QStringList *errors)
{
    const Config::Config &config = *m_setup.config;
    initCurl();
    m_settings.smtp = SmtpSettings::fromConfig(config);
    // SmtpSettings read the password with getSecret: password_file, unreadable, stopped the
    // start at the configuration check.
    m_settings.maxRetry = int(config.getInt(Section, u"max_retry"_s));
    m_settings.retryIntervalMs = config.getDuration(Section, u"retry_interval"_s).count();
    m_settings.keepUndeliveredDays = config.getInt(Section, u"undelivers_keep_max_days"_s);
    const QString logDir = Log::Logging::logDir();
    const QString log = config.getString(Section, u"log"_s);
    if (!logDir.isEmpty() && !log.isEmpty())
        m_settings.logPath = QDir(logDir).filePath(log);
    // Poll the spool for new mail once a second; tests with short retry intervals poll faster.
    m_pollMs = qBound(qint64(50), m_settings.retryIntervalMs / 2, qint64(1000));
    QString error;
    if (!m_setup.shared || !m_stats.attach(*m_setup.shared, m_setup.slot, &error)) {
        errors->append(u"[mailer]: "_s + error);
        return false;
    }
    using Core::StatType;
    m_queuedStat = m_stats.declare(u"mailer.queued"_s, StatType::Sum);
    m_sentStat = m_stats.declare(u"mailer.sent"_s, StatType::Sum);
    m_deferredStat = m_stats.declare(u"mailer.deferred"_s, StatType::Sum);
    m_failedStat = m_stats.declare(u"mailer.failed"_s, StatType::Sum);
    m_lengthStat = m_stats.declare(u"mailer.queue_length"_s, StatType::Max);
    m_oldestStat = m_stats.declare(u"mailer.oldest_age"_s, StatType::Max);
    return true;
}

bool MailerService::start(QStringList *)
{
    // A spool that can't be used yet (a mount not there, permissions being fixed) is not fatal:
    // with workers = 0 it would take the HTTP server down with it. The agent says why in
    // server.log and tries again every poll.
    openSpool();
    Core::OffloadSettings offload;
    offload.threads = 1;
    offload.queueCapacity = 4;
    m_pool = std::make_unique<Core::OffloadPool>(offload);
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &MailerService::runCycle);
    schedule(0);
    markReady();
    return true;
}

bool MailerService::openSpool()
{
    if (m_agentLock >= 0)
        return true;
    QString error;
    if (m_spool.prepare(&error)) {
        m_agentLock = ::open(QFile::encodeName(m_spool.dir() + u"/agent.lock"_s).constData(),
                             O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        if (m_agentLock >= 0) {
            if (m_spoolError)
                qCInfo(lcMailer).noquote() << "spool" << m_spool.dir() << "usable again";
            m_spoolError = false;
            return true;
        }
        error = u"cannot open %1/agent.lock: %2"_s.arg(
            m_spool.dir(), QString::fromLocal8Bit(std::strerror(errno)));
    }
    if (!m_spoolError) // once, not every second
        qCCritical(lcMailer).noquote() << "[mailer] spool_dir:" << error << "- mail waits";
    m_spoolError = true;
    return false;
}

void MailerService::schedule(qint64 delayMs)
{
    if (m_draining)
        return;
    m_timer.start(int(qBound(qint64(0), delayMs, m_pollMs)));
}

void MailerService::runCycle()
{
    if (m_busy || m_draining)
        return;
    if (!openSpool()) {
        schedule(m_pollMs);
        return;
    }
    if (!m_haveLock) {
        // Another agent works this spool (the one this one replaces, still finishing a
        // delivery, or a second berthd on the same spool_dir): wait for it.
        if (::flock(m_agentLock, LOCK_EX | LOCK_NB) != 0) {
            schedule(m_pollMs);
            return;
        }
        m_haveLock = true;
    }
    MailerChores chores;
    chores.recover = !m_recovered;
    const QDateTime now = QDateTime::currentDateTime();
    if (!m_nextPurge.isValid() || now >= m_nextPurge) {
        chores.purgeBefore = now.addDays(-m_settings.keepUndeliveredDays);
        m_nextPurge = now.addSecs(3600);
    }
    m_recovered = true;
    m_busy = true;
    const std::weak_ptr<int> lifetime = m_lifetime;
    const bool submitted = m_pool->submit(
        [spool = m_spool, settings = m_settings, chores, stop = m_stop]() mutable {
            chores.stop = stop.get();
            return runMailerCycle(spool, settings, QDateTime::currentDateTime(), chores);
        },
        [this, lifetime](MailerCycle cycle) {
            if (!lifetime.expired())
                cycleDone(cycle);
        });
    if (!submitted) {
        m_busy = false;
        schedule(m_pollMs);
    }
}

void MailerService::cycleDone(const MailerCycle &cycle)
{
    m_busy = false;
    if (cycle.recovered > 0)
        qCWarning(lcMailer) << cycle.recovered
                            << "message(s) were in flight when the last agent stopped; sending "
                               "them again";
    if (cycle.purged > 0)
        qCInfo(lcMailer) << "purged" << cycle.purged << "undelivered message(s)";
    QSet<QString> now;
    for (const QString &id : cycle.ids) {
        now.insert(id);
        if (!m_known.contains(id))
            m_stats.add(m_queuedStat);
    }
    m_known = now;
    m_stats.add(m_sentStat, cycle.sent);
    m_stats.add(m_deferredStat, cycle.deferred);
    m_stats.add(m_failedStat, cycle.failed);
    m_stats.set(m_lengthStat, cycle.ids.size() - cycle.sent - cycle.failed);
    m_stats.set(m_oldestStat, cycle.oldestAgeSeconds);
    if (m_draining) {
        markDrained();
        return;
    }
    if (cycle.moreDue)
        schedule(0);
    else
        schedule(cycle.nextDueMs < 0 ? m_pollMs : cycle.nextDueMs);
}

void MailerService::drain()
{
    m_draining = true;
    m_stop->store(true, std::memory_order_relaxed);
    m_timer.stop();
    if (!m_busy)
        markDrained(); // else when the delivery in flight ends (or KILL after the grace)
}

void MailerService::stopNow()
{
    m_draining = true;
    m_stop->store(true, std::memory_order_relaxed);
    m_timer.stop();
    markDrained();
}

QStringList MailerService::statNames() const
{
    return {u"mailer.queued"_s, u"mailer.sent"_s,         u"mailer.deferred"_s,
            u"mailer.failed"_s, u"mailer.queue_length"_s, u"mailer.oldest_age"_s};
}

void registerMailerService(Supervisor::ServiceRegistry &registry)
{
    registry.add(Supervisor::ServiceKind{
        Kind, mailerChildSpecs, validateMailer,
        [](const Supervisor::ServiceSetup &setup) -> std::unique_ptr<Supervisor::Service> {
            return std::make_unique<MailerService>(setup);
        }});
}

} // namespace Berth::Services
