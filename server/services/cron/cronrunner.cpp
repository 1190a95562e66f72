#include "cronrunner.h"

#include <QProcess>
#include <QRandomGenerator>

#include <climits>
#include <csignal>
#include <pwd.h>
#include <unistd.h>

namespace Berth::Services {

using namespace Qt::StringLiterals;

struct CronRunner::Run
{
    int job = -1;
    QProcess *process = nullptr;
    qint64 pid = 0;
    QElapsedTimer elapsed;
    QByteArray output;
    qint64 dropped = 0;
    QTimer killTimer;
    bool killed = false;
};

QProcessEnvironment cronEnvironment(const QStringList &extra, QStringList *errors)
{
    QProcessEnvironment env;
    const struct passwd *pw = ::getpwuid(::geteuid());
    const QString user = pw ? QString::fromLocal8Bit(pw->pw_name) : QString::number(::geteuid());
    const QString home =
        pw && pw->pw_dir && *pw->pw_dir ? QString::fromLocal8Bit(pw->pw_dir) : u"/"_s;
    env.insert(u"HOME"_s, home);
    env.insert(u"LOGNAME"_s, user);
    env.insert(u"USER"_s, user);
    env.insert(u"SHELL"_s, u"/bin/sh"_s);
    env.insert(u"PATH"_s, u"/usr/local/bin:/usr/bin:/bin"_s);
    for (const QString &pair : extra) {
        const qsizetype eq = pair.indexOf(u'=');
        if (eq <= 0) {
            if (errors)
                errors->append(u"'%1' is not NAME=value"_s.arg(pair));
            continue;
        }
        env.insert(pair.first(eq), pair.mid(eq + 1));
    }
    return env;
}

void prepareJobProcess()
{
    // Only async-signal-safe calls: this runs between fork and exec.
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int signo : {SIGPIPE, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD})
        ::signal(signo, SIG_DFL);
}

CronRunner::CronRunner(QList<Cron::Job> jobs, CronOptions options, LogWriter log, QObject *parent)
    : QObject(parent)
    , m_jobs(std::move(jobs))
    , m_state(m_jobs.size())
    , m_options(std::move(options))
    , m_log(std::move(log))
{
    m_timer.setSingleShot(true);
    m_timer.setTimerType(Qt::PreciseTimer);
    connect(&m_timer, &QTimer::timeout, this, &CronRunner::runDue);
}

CronRunner::~CronRunner()
{
    for (JobState &state : m_state) {
        for (Run *run : std::as_const(state.runs)) {
            run->process->disconnect(this);
            if (run->pid > 0) {
                ::kill(-pid_t(run->pid), SIGKILL);
                run->process->waitForFinished(1000); // reaps it: SIGKILL is not refused
            }
            delete run->process;
            delete run;
        }
    }
}

QDateTime CronRunner::now() const
{
    return m_clock ? m_clock() : QDateTime::currentDateTimeUtc();
}

void CronRunner::start(bool runReboot)
{
    const QDateTime at = now();
    for (qsizetype i = 0; i < m_jobs.size(); ++i) {
        if (m_jobs[i].when.isReboot()) {
            if (runReboot)
                due(int(i), at);
            continue;
        }
        m_state[i].next = m_jobs[i].when.next(at, m_options.zone);
    }
    scheduleTimer();
}

void CronRunner::scheduleTimer()
{
    if (m_stopping)
        return;
    QDateTime earliest;
    for (const JobState &state : std::as_const(m_state)) {
        if (state.next.isValid() && (!earliest.isValid() || state.next < earliest))
            earliest = state.next;
    }
    if (!earliest.isValid())
        return;
    // Woken at least every minute, so a clock set forward or back is noticed.
    const qint64 ms = qBound(qint64(0), now().msecsTo(earliest), qint64(60'000));
    m_timer.start(int(ms));
}

void CronRunner::runDue()
{
    const QDateTime at = now();
    for (qsizetype i = 0; i < m_jobs.size(); ++i) {
        JobState &state = m_state[i];
        if (!state.next.isValid() || state.next > at)
            continue;
        const QDateTime slot = state.next;
        // From now, not from the slot: a node that slept through several slots runs once.
        state.next = m_jobs[i].when.next(at, m_options.zone);
        due(int(i), slot);
    }
    scheduleTimer();
}

void CronRunner::due(int job, const QDateTime &slot)
{
    JobState &state = m_state[job];
    if (!state.runs.isEmpty()) {
        switch (m_options.overlap) {
        case CronOptions::Overlap::Skip:
            writeLog(u"skip"_s, job, u"still running (overlap = skip)"_s);
            Q_EMIT jobSkipped(job);
            return;
        case CronOptions::Overlap::Queue:
            if (state.queued) {
                writeLog(u"skip"_s, job, u"still running and one run queued (overlap = queue)"_s);
                Q_EMIT jobSkipped(job);
            } else {
                state.queued = true;
                state.queuedSlot = slot;
                writeLog(u"queue"_s, job, u"still running, runs when it ends (overlap = queue)"_s);
            }
            return;
        case CronOptions::Overlap::Allow:
            break;
        }
    }
    if (m_options.jitterMs <= 0) {
        claimAndLaunch(job, slot);
        return;
    }
    const qint64 delay = QRandomGenerator::global()->bounded(m_options.jitterMs + 1);
    QTimer::singleShot(std::chrono::milliseconds(delay), this, [this, job, slot] {
        if (!m_stopping)
            claimAndLaunch(job, slot);
    });
}

void CronRunner::claimAndLaunch(int job, const QDateTime &slot)
{
    if (!m_claimer || m_jobs[job].when.isReboot()) {
        launch(job, slot);
        return;
    }
    QPointer<CronRunner> self(this);
    m_claimer(m_jobs[job], slot, [self, job, slot](bool mine) {
        // The lock outlives no runner: its owner destroys it (joining its thread) first.
        if (!self)
            return;
        QMetaObject::invokeMethod(
            self.get(),
            [self, job, slot, mine] {
                if (!self || self->m_stopping)
                    return;
                if (mine)
                    self->launch(job, slot);
                else
                    self->writeLog(
                        u"elsewhere"_s, job,
                        u"slot %1 taken by another node"_s.arg(
                            slot.toTimeZone(self->m_options.zone).toString(Qt::ISODate)));
            },
            Qt::QueuedConnection);
    });
}

void CronRunner::launch(int job, const QDateTime &slot)
{
    Q_UNUSED(slot);
    auto *run = new Run;
    run->job = job;
    run->process = new QProcess(this);
    QProcess *p = run->process;
    p->setProgram(u"/bin/sh"_s);
    p->setArguments({u"-c"_s, m_jobs[job].command});
    p->setProcessEnvironment(m_options.environment);
    p->setWorkingDirectory(m_options.environment.value(u"HOME"_s, u"/"_s));
    p->setProcessChannelMode(QProcess::MergedChannels);
    p->setStandardInputFile(QProcess::nullDevice());
    p->setChildProcessModifier(prepareJobProcess);
    connect(p, &QProcess::readyReadStandardOutput, this, [this, run] { capture(run); });
    connect(p, &QProcess::finished, this, [this, run](int code, QProcess::ExitStatus status) {
        finished(run, code, status == QProcess::CrashExit);
    });
    connect(p, &QProcess::errorOccurred, this, [this, run](QProcess::ProcessError error) {
        if (error != QProcess::FailedToStart)
            return;
        writeLog(u"error"_s, run->job,
                 u"cannot start /bin/sh: %1"_s.arg(run->process->errorString()));
        finished(run, -1, false);
    });
    m_state[job].runs.append(run);
    run->elapsed.start();
    p->start();
    if (!m_state[job].runs.contains(run))
        return; // errorOccurred(FailedToStart) has finished (and deleted) it
    run->pid = p->processId();
    writeLog(u"start"_s, job, u"pid %1: %2"_s.arg(run->pid).arg(m_jobs[job].command));
    Q_EMIT jobStarted(job);
    if (m_options.maxRuntimeMs > 0) {
        run->killTimer.setSingleShot(true);
        connect(&run->killTimer, &QTimer::timeout, this, [this, run] {
            run->killed = true;
            writeLog(u"kill"_s, run->job,
                     u"pid %1: max_runtime %2s exceeded, process group killed"_s.arg(run->pid).arg(
                         double(m_options.maxRuntimeMs) / 1000.0));
            ::kill(-pid_t(run->pid), SIGKILL);
        });
        run->killTimer.start(int(qMin<qint64>(m_options.maxRuntimeMs, INT_MAX)));
    }
}

void CronRunner::capture(Run *run)
{
    const QByteArray data = run->process->readAllStandardOutput();
    const qint64 room = qMax<qint64>(0, m_options.outputLimit - run->output.size());
    run->output.append(data.first(qMin<qint64>(room, data.size())));
    run->dropped += qMax<qint64>(0, data.size() - room);
}

void CronRunner::finished(Run *run, int exitCode, bool crashed)
{
    JobState &state = m_state[run->job];
    if (!state.runs.removeOne(run))
        return; // FailedToStart, then finished(): counted once
    run->killTimer.stop();
    const int job = run->job;
    if (run->pid > 0)
        capture(run);
    for (const QByteArray &line : run->output.split('\n')) {
        if (!line.isEmpty())
            writeLog(u"output"_s, job, u"pid %1: %2"_s.arg(run->pid).arg(QString::fromUtf8(line)));
    }
    if (run->dropped > 0)
        writeLog(
            u"output"_s, job,
            u"pid %1: %2 more bytes over output_limit dropped"_s.arg(run->pid).arg(run->dropped));
    const QString duration = QString::number(double(run->elapsed.elapsed()) / 1000.0, 'f', 3);
    bool failed = true;
    QString how = u"not started"_s;
    if (run->pid <= 0) {
        // Never started: logged by errorOccurred.
    } else if (crashed) {
        how = u"signal %1"_s.arg(exitCode);
        // QProcess reports the signal as the exit code of a crash exit.
        writeLog(u"exit"_s, job,
                 u"pid %1 signal %2 duration %3s"_s.arg(run->pid).arg(exitCode).arg(duration));
    } else {
        failed = exitCode != 0;
        how = u"status %1"_s.arg(exitCode);
        writeLog(u"exit"_s, job,
                 u"pid %1 status %2 duration %3s"_s.arg(run->pid).arg(exitCode).arg(duration));
    }
    Q_EMIT jobFinished(job, failed, how);
    run->process->disconnect(this);
    run->process->deleteLater();
    delete run;

    if (state.queued && state.runs.isEmpty() && !m_stopping) {
        state.queued = false;
        claimAndLaunch(job, state.queuedSlot);
    }
    if (m_stopping && runningCount() == 0)
        Q_EMIT idle();
}

void CronRunner::stop(qint64 graceMs)
{
    m_stopping = true;
    m_timer.stop();
    if (runningCount() == 0) {
        Q_EMIT idle();
        return;
    }
    for (JobState &state : m_state) {
        state.queued = false;
        for (Run *run : std::as_const(state.runs)) {
            if (run->pid > 0)
                ::kill(-pid_t(run->pid), SIGTERM);
        }
    }
    QTimer::singleShot(std::chrono::milliseconds(graceMs), this, [this] {
        for (JobState &state : m_state) {
            for (Run *run : std::as_const(state.runs)) {
                if (run->pid > 0)
                    ::kill(-pid_t(run->pid), SIGKILL);
            }
        }
    });
}

bool CronRunner::runNow(int job, QString *why, qint64 *pid)
{
    if (m_stopping) {
        *why = u"the cron agent is stopping"_s;
        return false;
    }
    JobState &state = m_state[job];
    if (!state.runs.isEmpty() && m_options.overlap != CronOptions::Overlap::Allow) {
        *why = u"still running (pid %1)"_s.arg(state.runs.constLast()->pid);
        return false;
    }
    writeLog(u"manual"_s, job, u"run requested now"_s);
    launch(job, now());
    if (state.runs.isEmpty()) {
        *why = u"cannot start /bin/sh"_s;
        return false;
    }
    *pid = state.runs.constLast()->pid;
    return true;
}

int CronRunner::runningCount() const
{
    int count = 0;
    for (const JobState &state : m_state)
        count += int(state.runs.size());
    return count;
}

void CronRunner::writeLog(const QString &event, int job, const QString &detail)
{
    if (!m_log)
        return;
    const QString time = now().toTimeZone(m_options.zone).toString(Qt::ISODate);
    m_log((time + u' ' + event + u' ' + m_jobs[job].id() + u' ' + detail).toUtf8());
}

} // namespace Berth::Services
