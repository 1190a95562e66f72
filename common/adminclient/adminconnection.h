#pragma once

#include <QJsonArray>
#include <QJsonObject>
#include <QJsonValue>
#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>

namespace Berth::Client {

// A failed admin call: the HTTP status (0: no answer, the connection failed) and the API's
// {"error": {"code", "message", "details"}}.
struct AdminError
{
    int status = 0;
    QString code;
    QString message;
    QJsonValue details;
};

struct ConfigFile
{
    QString path;
    QString text;
};

// What the console (berth-admin) asks of a server's admin API (docs/admin-api.md). Every call
// returns at once; its result arrives as a signal, or failed(operation, error). GUI pages are
// written against this interface so that their tests can drive a fake.
class AdminConnection : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;

    virtual void fetchInfo() = 0;
    virtual void fetchChildren() = 0;
    virtual void fetchStats() = 0;
    virtual void fetchConfig() = 0;
    virtual void validateConfig(const QList<ConfigFile> &files) = 0;
    // ifMatch: the hash configReceived() gave.
    virtual void applyConfig(const QList<ConfigFile> &files, const QString &ifMatch) = 0;
    virtual void reload() = 0;
    virtual void tailLog(const QString &name, int lines, const QString &filter) = 0;
    // Streams: they reconnect by themselves (with back-off) until stopped.
    virtual void startStatsStream(int intervalMs) = 0;
    virtual void stopStatsStream() = 0;
    virtual void followLog(const QString &name) = 0;
    virtual void stopLogFollow() = 0;

    // Operations (admin scope); each answers with its signal below or failed().
    virtual void listLogs() = 0;
    virtual void restartChild(qint64 pid) = 0;
    // action: "start", "stop" or "restart".
    virtual void daemonAction(const QString &name, const QString &action) = 0;
    // job: its id as `berthd cron list` prints it (FILE:LINE).
    virtual void runCronJob(const QString &job) = 0;
    virtual void retryMail() = 0;
    // The [crontab:line] jobs with their next runs and last results (GET cron).
    virtual void fetchCron() = 0;
    // The mail spool's messages (GET mail).
    virtual void fetchMail() = 0;
    virtual void fetchGroups() = 0;
    virtual void drainMember(const QString &group, const QString &member, bool undo) = 0;
    virtual void fetchConfigHistory() = 0;
    virtual void rollbackConfig(qint64 generation) = 0;
    // As applyConfig, watched for windowSeconds and rolled back by the server when worse (202).
    virtual void applyConfigCanary(const QList<ConfigFile> &files, const QString &ifMatch,
                                   int windowSeconds) = 0;
    virtual void fetchCanary() = 0;

Q_SIGNALS:
    void infoReceived(const QJsonObject &info);
    void childrenReceived(const QJsonArray &children);
    void statsReceived(const QJsonObject &stats);
    void configReceived(const QList<Berth::Client::ConfigFile> &files, const QString &hash,
                        qint64 generation);
    void validated(bool valid, const QJsonArray &diagnostics);
    // result: {"generation", "result", "diagnostics"}; a 422 arrives as failed() with the
    // diagnostics in error.details.
    void applied(const QJsonObject &result);
    void reloaded(const QJsonObject &result);
    void logTail(const QString &name, const QStringList &lines);
    void statsEvent(const QJsonObject &snapshot);
    void logLine(const QString &name, const QString &line, qint64 offset);
    // A stream connected (true) or dropped and will retry in retryMs (false).
    void streamState(const QString &stream, bool connected, int retryMs);
    // [{"name", "file", "size", "exists"}]
    void logsListed(const QJsonArray &logs);
    void childRestarted(qint64 pid, const QJsonObject &result);
    void daemonActionDone(const QString &name, const QString &action, const QJsonObject &result);
    // {"job", "pid", "command"}
    void cronJobStarted(const QJsonObject &result);
    // {"retried": N}
    void mailRetried(const QJsonObject &result);
    // [{"id", "schedule", "command", "reboot", "next", "next_runs", "last_run", "last_exit"}];
    // timezone: the [cron] timezone the times are in. A server without GET cron fails
    // "cronjobs" with 404.
    void cronReceived(const QJsonArray &jobs, const QString &timezone);
    // [{"id", "from", "to", "subject", "status", "attempts", "next_attempt", "last_error", ...}],
    // at most 1000 of total. Fails "mailqueue" with 404 without a spool (or GET mail).
    void mailReceived(const QJsonArray &messages, int total);
    void groupsReceived(const QJsonArray &groups);
    void memberDrained(const QString &group, const QString &member, bool undo);
    // Newest first: [{"generation", "time", "who", "hash"}]
    void configHistoryReceived(const QJsonArray &history);
    void rolledBack(const QJsonObject &result);
    void canaryReceived(const QJsonObject &canary);
    void failed(const QString &operation, const Berth::Client::AdminError &error);
};

} // namespace Berth::Client
