#pragma once

#include "cronrunner.h"

#include "runtime/statsregistry.h"
#include "service/service.h"

#include <memory>

namespace Berth::Log {
class LogSink;
}

namespace Berth::Supervisor {
class ServiceRegistry;
}

namespace Berth::Services {

class CronLock;

// The cron agent (service kind "cron"): one child per server instance when [crontab:line] has a
// line. Runs the jobs through a CronRunner, writes cron.log in log_dir (reopened on USR1) and
// counts cron.runs, cron.failures and cron.skipped. After each start and exit it rewrites
// cron.state in log_dir (last run and exit per job, next run) for `berthd status`; the server's
// pid in it keeps a restarted agent from running the @reboot jobs twice.
class CronService final : public Supervisor::Service
{
    Q_OBJECT
public:
    explicit CronService(const Supervisor::ServiceSetup &setup);
    ~CronService() override;

    bool prepare(QStringList *errors) override;
    bool start(QStringList *errors) override;
    void drain() override;
    void stopNow() override;
    QStringList statNames() const override;
    // `run FILE:LINE` (the job id as `berthd cron list` prints it, the leading '/' optional):
    // runs that job now, as the schedule would.
    void control(const QString &verb, const QStringList &arguments, ControlAnswer answer) override;

    // The path of cron.state for a configuration (empty without log_dir).
    static QString statePath(const Config::Config &config);

private:
    struct JobStatus
    {
        QString lastRun;
        QString lastExit;
        int lastRunStat = -1;  // cron_last_run:LABEL, unix seconds (the first MaxJobStats jobs)
        int lastExitStat = -1; // cron_last_exit:LABEL, exit status (128 + N: signal N)
    };
    // Per-job stats are declared for this many jobs at most: the stats table is shared and small.
    static constexpr int MaxJobStats = 16;
    void writeState();

    Supervisor::ServiceSetup m_setup;
    QList<Cron::Job> m_jobs;
    CronOptions m_options;
    QString m_logPath;
    QString m_statePath;
    QString m_lockUrl;
    QList<JobStatus> m_status;
    qint64 m_serverPid = 0;
    std::shared_ptr<Log::LogSink> m_log;
    std::unique_ptr<CronRunner> m_runner;
    std::unique_ptr<CronLock> m_lock;
    Core::StatsRegistry m_stats;
    int m_runsStat = -1;
    int m_failuresStat = -1;
    int m_skippedStat = -1;
};

void registerCronService(Supervisor::ServiceRegistry &registry);

} // namespace Berth::Services
