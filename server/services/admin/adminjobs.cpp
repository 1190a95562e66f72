// The admin API's read-only views of the cron agent's jobs (GET cron): what the configuration
// on disk declares, as `berthd cron list` reads it, joined with what the agent last did.
#include "adminapi.h"

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

} // namespace Berth::Admin
