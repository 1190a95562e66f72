#pragma once

#include <cron/crontab.h>

#include <QDateTime>
#include <QString>
#include <QThread>

#include <functional>

namespace Berth::Services {

// The cluster lock of [cron] lock = postgresql://...: each job runs once per cluster per
// scheduled slot. The node whose INSERT of (job, slot) into berth_cron_slots succeeds (ON
// CONFLICT DO NOTHING) runs it; the others log that another node has it. A node that dies
// mid-job holds nothing: the next slot is a new row. A job is keyed by its schedule and command
// (not by FILE:LINE, which may differ between nodes). Queries run in a thread of the lock's own,
// never on the event loop; when the database can't be reached the slot is not run (a warning
// in server.log), so a partition never runs a job twice.
class CronLock
{
public:
    explicit CronLock(const QString &url);
    ~CronLock();
    CronLock(const CronLock &) = delete;
    CronLock &operator=(const CronLock &) = delete;

    // Calls done(true) when this node took the slot, done(false) otherwise; from the lock's
    // thread.
    void claim(const Cron::Job &job, const QDateTime &slot, std::function<void(bool)> done);

    // Whether url is a postgresql:// URL the lock can use; *why otherwise.
    static bool checkUrl(const QString &url, QString *why);
    // The key rows carry for a job.
    static QString jobKey(const Cron::Job &job);

private:
    QString m_url;
    QString m_connection;
    QThread m_thread;
    QObject *m_worker = nullptr; // lives in m_thread
    bool m_tableReady = false;   // touched in m_thread only
};

} // namespace Berth::Services
