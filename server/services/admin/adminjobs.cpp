// The admin API's read-only views of the services' work: the cron agent's jobs (GET cron: what
// the configuration on disk declares, as `berthd cron list` reads it, joined with what the agent
// last did) and the mail spool (GET mail, as `berthd mail queue`).
#include "adminapi.h"

#include "mail/spool.h"

#include <config/config.h>
#include <cron/crontab.h>

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace Berth::Admin {

using namespace Qt::StringLiterals;

namespace {

constexpr int NextRuns = 5;
// A listing stays small however long the queue grows (its total is said beside it).
constexpr qsizetype MaxMailListed = 1000;

// cron.state (written by the cron agent after each start and exit): job id -> its entry.
QHash<QString, QJsonObject> cronState(const QString &logDir)
{
    QHash<QString, QJsonObject> byJob;
    if (logDir.isEmpty())
        return byJob;
    QFile file(QDir(logDir).filePath(u"cron.state"_s));
    if (!file.open(QIODevice::ReadOnly))
        return byJob;
    const QJsonArray jobs =
        QJsonDocument::fromJson(file.readAll()).object().value(u"jobs"_s).toArray();
    for (const QJsonValue &job : jobs)
        byJob.insert(job.toObject().value(u"job"_s).toString(), job.toObject());
    return byJob;
}

QJsonValue orNull(const QString &text)
{
    return text.isEmpty() ? QJsonValue() : QJsonValue(text);
}

} // namespace

void AdminApi::cronList(const CallPtr &call)
{
    const AdminSettings settings = m_settings;
    offload(call, [settings] {
        // Read from the files, not from this process's snapshot: the admin process is kept
        // across reloads that change only [crontab:line], and `berthd cron list` reads them too.
        const Config::Config config = Config::Config::load(settings.configFiles);
        const QList<Cron::Job> jobs = Cron::jobsFromConfig(config);
        const QTimeZone zone = Cron::zoneFromConfig(config);
        const QHash<QString, QJsonObject> state = cronState(settings.logDir);
        const QDateTime now = Cron::listingTime();
        QJsonArray list;
        for (const Cron::Job &job : jobs) {
            QJsonArray next;
            for (const QDateTime &t : job.when.nextTimes(now, zone, NextRuns))
                next.append(t.toString(Qt::ISODate));
            const QJsonObject last = state.value(job.id());
            list.append(QJsonObject{
                {u"id"_s, job.id()},
                {u"file"_s, job.file},
                {u"line"_s, job.line},
                {u"schedule"_s, job.schedule},
                {u"command"_s, job.command},
                {u"reboot"_s, job.when.isReboot()},
                {u"next"_s, next.isEmpty() ? QJsonValue() : next.first()},
                {u"next_runs"_s, next},
                {u"last_run"_s, orNull(last.value(u"last_run"_s).toString())},
                {u"last_exit"_s, orNull(last.value(u"last_exit"_s).toString())},
            });
        }
        return Result{200,
                      QJsonObject{{u"timezone"_s, QString::fromUtf8(zone.id())},
                                  {u"agent"_s, !state.isEmpty()},
                                  {u"jobs"_s, list}},
                      {}};
    });
}

void AdminApi::mailList(const CallPtr &call)
{
    if (m_settings.mailSpoolDir.isEmpty())
        return fail(call, 404, u"not_found"_s, u"no mail spool: [mailer] spool_dir is not set"_s);
    const QString dir = m_settings.mailSpoolDir;
    offload(call, [dir] {
        const QList<Mail::SpoolEntry> entries = Mail::Spool(dir).entries(true);
        QJsonArray list;
        for (const Mail::SpoolEntry &e : entries) {
            if (list.size() >= MaxMailListed)
                break;
            const Mail::DeliveryState &st = e.state;
            const QString status = e.undelivered           ? u"undelivered"_s
                                   : st.deliveringPid != 0 ? u"delivering"_s
                                   : st.attempts == 0      ? u"queued"_s
                                                           : u"deferred"_s;
            list.append(QJsonObject{
                {u"id"_s, e.id},
                {u"from"_s, e.from},
                {u"to"_s, QJsonArray::fromStringList(e.to)},
                {u"subject"_s, e.subject},
                {u"size"_s, e.size},
                {u"queued"_s, e.queued.isValid()
                                  ? QJsonValue(e.queued.toUTC().toString(Qt::ISODate))
                                  : QJsonValue()},
                {u"status"_s, status},
                {u"attempts"_s, st.attempts},
                // null: due now (or given up, for undelivered messages).
                {u"next_attempt"_s, e.undelivered || !st.nextAttempt.isValid()
                                        ? QJsonValue()
                                        : QJsonValue(st.nextAttempt.toUTC().toString(Qt::ISODate))},
                {u"last_error"_s, orNull(st.lastError)},
                {u"pending"_s, QJsonArray::fromStringList(st.pending)},
                {u"delivered"_s, QJsonArray::fromStringList(st.delivered)},
                {u"failed"_s, QJsonArray::fromStringList(st.failed)},
            });
        }
        return Result{200, QJsonObject{{u"total"_s, entries.size()}, {u"messages"_s, list}}, {}};
    });
}

} // namespace Berth::Admin
