#pragma once

#include <cron/crontab.h>

#include <QDateTime>
#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QProcessEnvironment>
#include <QTimeZone>
#include <QTimer>

#include <functional>

class QProcess;

namespace Berth::Services {

// How the cron agent runs jobs ([cron] keys, see docs/cron.md).
struct CronOptions
{
    enum class Overlap { Skip, Queue, Allow };

    QTimeZone zone = QTimeZone::systemTimeZone();
    qint64 maxRuntimeMs = 0; // 0: no limit
    Overlap overlap = Overlap::Skip;
    qint64 jitterMs = 0;
    qint64 outputLimit = 64 * 1024;  // bytes of one run's output kept for the log
    QProcessEnvironment environment; // what a job starts with (see cronEnvironment())
};

// The clean environment jobs run with: HOME, LOGNAME, USER, SHELL and PATH for the current
// user, then every NAME=value of `extra` ([cron] environment), which may override them.
QProcessEnvironment cronEnvironment(const QStringList &extra, QStringList *errors = nullptr);
// Runs in the forked child before exec: a process group of its own (so max_runtime can kill
// the whole job), default signal dispositions and an empty signal mask.
void prepareJobProcess();

// Runs [crontab:line] jobs at their times: one /bin/sh -c per run, in a process group of its
// own, never blocking the event loop (processes are watched through QProcess). Each start,
// exit, skip, kill and the output a run did not redirect (up to outputLimit) are lines handed to
// the log writer. The clock is injectable for tests.
class CronRunner final : public QObject
{
    Q_OBJECT
public:
    using Clock = std::function<QDateTime()>;
    using LogWriter = std::function<void(const QByteArray &line)>;
    // Asks the cluster whether this node runs `job` for `slot`; calls done(true) to run it,
    // done(false) when another node has it, from any thread (done posts to the runner's).
    using SlotClaimer = std::function<void(const Cron::Job &job, const QDateTime &slot,
                                           std::function<void(bool)> done)>;

    CronRunner(QList<Cron::Job> jobs, CronOptions options, LogWriter log,
               QObject *parent = nullptr);
    ~CronRunner() override;

    void setClock(Clock clock) { m_clock = std::move(clock); }
    void setSlotClaimer(SlotClaimer claimer) { m_claimer = std::move(claimer); }

    // Starts the schedule; with runReboot, runs the @reboot jobs now.
    void start(bool runReboot);
    // Stops scheduling; TERM to every running job's process group, KILL after graceMs. idle()
    // is emitted once nothing runs (at once when nothing does).
    void stop(qint64 graceMs);
    // Runs every job whose time has come by the clock and schedules the next wake-up (the timer
    // calls it; tests with a fake clock call it after moving the clock).
    void runDue();
    // Runs one job now, outside its schedule (the admin API's `cron/JOB/run`), as a due run
    // but without claiming a cluster slot; false with *why when it is still running and overlap
    // is not allow, or the runner is stopping. The pid of the run that started in *pid.
    bool runNow(int job, QString *why, qint64 *pid);
    int runningCount() const;
    const QList<Cron::Job> &jobs() const { return m_jobs; }
    // When a job runs next (invalid for @reboot).
    QDateTime nextRun(int job) const { return m_state.value(job).next; }

Q_SIGNALS:
    void jobStarted(int job);
    // how: "status N", "signal N" or "not started".
    void jobFinished(int job, bool failed, const QString &how);
    void jobSkipped(int job);
    void idle();

private:
    struct Run;
    struct JobState
    {
        QDateTime next;
        QList<Run *> runs;
        bool queued = false;
        QDateTime queuedSlot;
    };

    QDateTime now() const;
    void scheduleTimer();
    void due(int job, const QDateTime &slot);
    void claimAndLaunch(int job, const QDateTime &slot);
    void launch(int job, const QDateTime &slot);
    void capture(Run *run);
    void finished(Run *run, int exitCode, bool crashed);
    void writeLog(const QString &event, int job, const QString &detail);

    QList<Cron::Job> m_jobs;
    QList<JobState> m_state;
    CronOptions m_options;
    LogWriter m_log;
    Clock m_clock;
    SlotClaimer m_claimer;
    QTimer m_timer;
    bool m_stopping = false;
};

} // namespace Berth::Services
