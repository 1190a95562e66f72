#pragma once

#include "mail/spool.h"
#include "runtime/statsregistry.h"
#include "service/service.h"
#include "smtpclient.h"

#include <QDateTime>
#include <QSet>
#include <QTimer>

#include <atomic>
#include <memory>

namespace Berth::Core {
class OffloadPool;
}

namespace Berth::Supervisor {
class ServiceRegistry;
}

namespace Berth::Services {

// What one delivery cycle needs; copied into the agent's delivery thread.
struct MailerSettings
{
    SmtpSettings smtp;
    int maxRetry = 10;
    qint64 retryIntervalMs = 60'000;
    qint64 keepUndeliveredDays = 30;
    QString logPath; // smtpda.log; empty: stderr
};

// Housekeeping a cycle does before it delivers.
struct MailerChores
{
    bool recover = false;  // first cycle of this agent: messages left in flight are due now
    QDateTime purgeBefore; // valid: purge undelivered messages finished before it
    // Set by the event loop when the agent drains: no further message is started.
    const std::atomic<bool> *stop = nullptr;
};

// What a cycle reports back to the event loop.
struct MailerCycle
{
    QStringList ids; // the queue as the cycle found it
    qint64 oldestAgeSeconds = 0;
    int sent = 0;
    int deferred = 0;
    int failed = 0;
    bool moreDue = false;  // another message is due now: run again at once
    qint64 nextDueMs = -1; // otherwise the earliest next attempt from now, -1: none
    int recovered = 0;     // messages a killed agent left in flight
    int purged = 0;        // undelivered messages past undelivers_keep_max_days
};

// One cycle, blocking (disk and SMTP): scans the spool, delivers the messages that are due, up
// to 100 (claiming each in its state file first, so that a crash mid-delivery is seen at
// restart), records each outcome (delivered: removed; transient: next attempt after the back-off;
// permanent or out of attempts: undelivered/) and writes one smtpda.log line. now is injectable for
// tests.
MailerCycle runMailerCycle(const Mail::Spool &spool, const MailerSettings &settings,
                           const QDateTime &now, const MailerChores &chores = {});

// The `mailer` service kind: one child when [mailer] smtpserver is set. Its event loop only
// keeps time and stats; each cycle runs on a delivery thread of its own (an OffloadPool of one
// thread), so the loop never waits on the disk or the SMTP server. It delivers only while it
// holds spool_dir/agent.lock (flock; the kernel drops it when the process dies), so two agents
// never work one spool, even while a reload overlaps an old agent with its successor.
class MailerService final : public Supervisor::Service
{
    Q_OBJECT
public:
    explicit MailerService(const Supervisor::ServiceSetup &setup);
    ~MailerService() override;

    bool prepare(QStringList *errors) override;
    bool start(QStringList *errors) override;
    void drain() override;
    void stopNow() override;
    QStringList statNames() const override;

private:
    bool openSpool(); // the spool's directories and agent.lock; false (logged once) if not yet
    void schedule(qint64 delayMs);
    void runCycle();
    void cycleDone(const MailerCycle &cycle);

    Supervisor::ServiceSetup m_setup;
    Mail::Spool m_spool;
    MailerSettings m_settings;
    qint64 m_pollMs = 1000;
    std::unique_ptr<Core::OffloadPool> m_pool;
    std::shared_ptr<int> m_lifetime = std::make_shared<int>(0);
    int m_agentLock = -1; // fd of spool_dir/agent.lock, flocked once we deliver
    bool m_haveLock = false;
    bool m_spoolError = false;
    bool m_recovered = false;
    QDateTime m_nextPurge;
    bool m_busy = false;
    // Read by the delivery thread between messages (relaxed: it only ends a cycle early).
    std::shared_ptr<std::atomic<bool>> m_stop = std::make_shared<std::atomic<bool>>(false);
    bool m_draining = false;
    QSet<QString> m_known;
    QTimer m_timer;
    Core::StatsRegistry m_stats;
    int m_queuedStat = -1;
    int m_sentStat = -1;
    int m_deferredStat = -1;
    int m_failedStat = -1;
    int m_lengthStat = -1;
    int m_oldestStat = -1;
};

void registerMailerService(Supervisor::ServiceRegistry &registry);

} // namespace Berth::Services
