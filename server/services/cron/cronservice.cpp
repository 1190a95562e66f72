#include "cronservice.h"

#include "cronlock.h"

#include "log/logging.h"
#include "log/logsink.h"
#include "service/serviceregistry.h"

#include <config/config.h>
#include <config/snapshot.h>

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>

#include <cstdio>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcCron, "berth.cron")

namespace Berth::Services {

namespace {

using namespace Qt::StringLiterals;

const QString Kind = u"cron"_s;
const QString Section = u"cron"_s;
const QString Crontab = u"crontab:line"_s;

QList<Supervisor::ChildSpec> cronChildSpecs(const Config::Config &config)
{
    const Config::Section *crontab = config.section(Crontab);
    if (!crontab || crontab->lines.isEmpty())
        return {};
    Supervisor::ChildSpec spec;
    spec.kind = Kind;
    spec.name = Kind;
    spec.count = 1;
    spec.restart = Supervisor::ChildSpec::Restart::Always;
    spec.backoffStartMs = 500;
    spec.backoffCapMs = 30'000;
    spec.reload = Supervisor::ChildSpec::Reload::Keep;
    spec.stopGraceMs = 15'000;
    spec.digest = Config::Snapshot::sectionsDigest(config, {Crontab, Section, u"server"_s});
    return {spec};
}

std::optional<CronOptions::Overlap> overlapFrom(const QString &text)
{
    if (text == u"skip")
        return CronOptions::Overlap::Skip;
    if (text == u"queue")
        return CronOptions::Overlap::Queue;
    if (text == u"allow")
        return CronOptions::Overlap::Allow;
    return std::nullopt;
}

void validateCron(const Config::Config &config)
{
    Cron::jobsFromConfig(config);
    if (!config.hasSection(Section))
        return;
    Cron::zoneFromConfig(config);
    const QString overlap = config.getString(Section, u"overlap"_s);
    if (!overlapFrom(overlap))
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              config.location(Section, u"overlap"_s),
                              u"[cron] overlap: '%1' is not skip, queue or allow"_s.arg(overlap)});
    QStringList errors;
    cronEnvironment(config.getList(Section, u"environment"_s), &errors);
    for (const QString &error : std::as_const(errors))
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              config.location(Section, u"environment"_s),
                              u"[cron] environment: "_s + error});
    const QString lock = config.getString(Section, u"lock"_s);
    QString why;
    if (!lock.isEmpty() && !CronLock::checkUrl(lock, &why))
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              config.location(Section, u"lock"_s), u"[cron] lock: "_s + why});
}

QString logDirOf(const Config::Config &config)
{
    return config.getPath(u"server"_s, u"log_dir"_s);
}

} // namespace

CronService::CronService(const Supervisor::ServiceSetup &setup)
    : m_setup(setup)
{}

CronService::~CronService() = default;

QString CronService::statePath(const Config::Config &config)
{
    const QString dir = logDirOf(config);
    return dir.isEmpty() ? QString() : QDir(dir).filePath(u"cron.state"_s);
}

bool CronService::prepare(QStringList *errors)
{
    const Config::Config &config = *m_setup.config;
    m_jobs = Cron::jobsFromConfig(config);
    m_options.zone = Cron::zoneFromConfig(config);
    m_options.maxRuntimeMs = config.getDuration(Section, u"max_runtime"_s).count();
    m_options.overlap =
        overlapFrom(config.getString(Section, u"overlap"_s)).value_or(CronOptions::Overlap::Skip);
    m_options.jitterMs = config.getDuration(Section, u"jitter"_s).count();
    m_options.outputLimit = config.getSize(Section, u"output_limit"_s);
    m_options.environment = cronEnvironment(config.getList(Section, u"environment"_s));
    m_lockUrl = config.getString(Section, u"lock"_s);
    const QString log = config.getString(Section, u"log"_s);
    const QString dir = logDirOf(config);
    m_logPath = dir.isEmpty() || QDir::isAbsolutePath(log) ? log : QDir(dir).filePath(log);
    if (dir.isEmpty() && !QDir::isAbsolutePath(log))
        m_logPath.clear(); // no log_dir: stderr, like the other logs
    m_statePath = statePath(config);
    m_status.resize(m_jobs.size());

    QString error;
    if (!m_setup.shared || !m_stats.attach(*m_setup.shared, m_setup.slot, &error)) {
        errors->append(u"[cron]: "_s + error);
        return false;
    }
    m_runsStat = m_stats.declare(u"cron.runs"_s, Core::StatType::Sum);
    m_failuresStat = m_stats.declare(u"cron.failures"_s, Core::StatType::Sum);
    m_skippedStat = m_stats.declare(u"cron.skipped"_s, Core::StatType::Sum);
    // Per job: the last run's start and exit, labelled with the job's file name and line
    // (berth.conf:12), a label short enough for the stats table's names.
    for (qsizetype i = 0; i < m_jobs.size() && i < MaxJobStats; ++i) {
        const QString label =
            QFileInfo(m_jobs[i].file).fileName().right(32) + u':' + QString::number(m_jobs[i].line);
        m_status[i].lastRunStat = m_stats.declare(u"cron_last_run:"_s + label, Core::StatType::Max);
        m_status[i].lastExitStat =
            m_stats.declare(u"cron_last_exit:"_s + label, Core::StatType::Max);
    }
    return true;
}

namespace {

// The last_exit stat of CronRunner's "status N" / "signal N" / "not started": N, 128 + N as a
// shell reports a signal, 127 as a shell reports a command it could not start. Never negative:
// the stat is a max over the processes' slots, whose value is 0 where it is not set.
qint64 exitValue(const QString &how)
{
    const QStringList words = how.split(u' ');
    bool ok = false;
    const int n = words.value(1).toInt(&ok);
    if (!ok)
        return 127;
    return words.first() == u"signal"_s ? 128 + n : n;
}

} // namespace

bool CronService::start(QStringList *errors)
{
    m_log = std::make_shared<Log::LogSink>(m_logPath);
    QString error;
    if (!m_log->open(&error)) {
        errors->append(u"[cron] log: "_s + error);
        return false;
    }
    Log::Logging::reopenWithOthers(m_log);
    std::shared_ptr<Log::LogSink> sink = m_log;
    m_runner = std::make_unique<CronRunner>(m_jobs, m_options,
                                            [sink](const QByteArray &line) { sink->append(line); });
    if (!m_lockUrl.isEmpty()) {
        m_lock = std::make_unique<CronLock>(m_lockUrl);
        CronLock *lock = m_lock.get();
        m_runner->setSlotClaimer(
            [lock](const Cron::Job &job, const QDateTime &slot, std::function<void(bool)> done) {
                lock->claim(job, slot, std::move(done));
            });
    }
    connect(m_runner.get(), &CronRunner::jobStarted, this, [this](int job) {
        m_stats.add(m_runsStat);
        m_status[job].lastRun =
            QDateTime::currentDateTime().toTimeZone(m_options.zone).toString(Qt::ISODate);
        m_status[job].lastExit = u"running"_s;
        m_stats.set(m_status[job].lastRunStat, QDateTime::currentSecsSinceEpoch());
        writeState();
    });
    connect(m_runner.get(), &CronRunner::jobFinished, this,
            [this](int job, bool failed, const QString &how) {
                if (failed)
                    m_stats.add(m_failuresStat);
                m_status[job].lastExit = (failed ? u"failed, "_s : u"ok, "_s) + how;
                m_stats.set(m_status[job].lastExitStat, exitValue(how));
                writeState();
            });
    connect(m_runner.get(), &CronRunner::jobSkipped, this,
            [this](int) { m_stats.add(m_skippedStat); });
    qCInfo(lcCron).noquote() << u"cron agent: %1 jobs, time zone %2"_s.arg(m_jobs.size())
                                    .arg(QString::fromUtf8(m_options.zone.id()));
    // @reboot means "when the server starts": an agent restarted after a crash, or for a reload
    // that changed [cron], finds its server's pid in cron.state and does not run them again.
    m_serverPid = m_setup.inProcess ? qint64(::getpid()) : qint64(::getppid());
    QFile previous(m_statePath);
    const bool sameServer =
        !m_statePath.isEmpty() && previous.open(QIODevice::ReadOnly) &&
        QJsonDocument::fromJson(previous.readAll()).object().value(u"server_pid"_s).toInteger() ==
            m_serverPid;
    m_runner->start(!sameServer);
    writeState();
    markReady();
    return true;
}

void CronService::writeState()
{
    if (m_statePath.isEmpty() || !m_runner)
        return;
    QJsonArray jobs;
    for (qsizetype i = 0; i < m_jobs.size(); ++i) {
        const QDateTime next = m_runner->nextRun(int(i));
        jobs.append(QJsonObject{
            {u"job"_s, m_jobs[i].id()},
            {u"schedule"_s, m_jobs[i].schedule},
            {u"last_run"_s, m_status[i].lastRun},
            {u"last_exit"_s, m_status[i].lastExit},
            {u"next"_s, next.isValid() ? next.toString(Qt::ISODate) : QString()},
        });
    }
    // A small file rewritten whole on the event loop: written beside and renamed over, so a
    // reader never sees half of it; not fsynced (a status report, not data to keep).
    const QString temporary = m_statePath + u".tmp"_s;
    QFile file(temporary);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return;
    file.write(QJsonDocument(QJsonObject{{u"pid"_s, qint64(QCoreApplication::applicationPid())},
                                         {u"server_pid"_s, m_serverPid},
                                         {u"jobs"_s, jobs}})
                   .toJson(QJsonDocument::Compact));
    file.close();
    if (::rename(QFile::encodeName(temporary).constData(),
                 QFile::encodeName(m_statePath).constData()) != 0)
        QFile::remove(temporary);
}

void CronService::drain()
{
    if (!m_runner) {
        markDrained();
        return;
    }
    connect(m_runner.get(), &CronRunner::idle, this, [this] {
        if (m_log)
            m_log->sync();
        markDrained();
    });
    m_runner->stop(10'000);
}

void CronService::stopNow()
{
    m_lock.reset();   // joins its thread: no claim answers a runner being destroyed
    m_runner.reset(); // kills every running job's process group
    if (m_log)
        m_log->sync();
    markDrained();
}

void CronService::control(const QString &verb, const QStringList &arguments, ControlAnswer answer)
{
    if (verb != u"run"_s || arguments.isEmpty()) {
        answer(false, {u"cron: unknown request '%1' (run FILE:LINE)"_s.arg(verb)});
        return;
    }
    // The admin API's path decoding drops the '/' a job id starts with ("/cron//etc/x:3/run").
    // The control channel splits on spaces: a path with spaces comes back in pieces.
    const QString wanted = arguments.join(u' ');
    qsizetype index = -1;
    for (qsizetype i = 0; i < m_jobs.size() && index < 0; ++i) {
        const QString id = m_jobs[i].id();
        if (id == wanted || (id.startsWith(u'/') && id.mid(1) == wanted))
            index = i;
    }
    if (index < 0 || !m_runner) {
        answer(false, {u"no cron job %1 (see berthd cron list)"_s.arg(wanted)});
        return;
    }
    QString why;
    qint64 pid = 0;
    if (!m_runner->runNow(int(index), &why, &pid)) {
        answer(false, {u"cron %1: %2"_s.arg(m_jobs[index].id(), why)});
        return;
    }
    qCInfo(lcCron).noquote() << u"control: run %1 (pid %2)"_s.arg(m_jobs[index].id()).arg(pid);
    answer(true, {m_jobs[index].id(), QString::number(pid), m_jobs[index].command});
}

QStringList CronService::statNames() const
{
    return {u"cron.runs"_s, u"cron.failures"_s, u"cron.skipped"_s};
}

void registerCronService(Supervisor::ServiceRegistry &registry)
{
    registry.add(Supervisor::ServiceKind{
        Kind, cronChildSpecs, validateCron,
        [](const Supervisor::ServiceSetup &setup) -> std::unique_ptr<Supervisor::Service> {
            return std::make_unique<CronService>(setup);
        }});
}

} // namespace Berth::Services
