#pragma once

// An AdminConnection that answers nothing by itself: it records every call ("restartChild 42")
// and tests emit its signals to play the server.
#include "adminclient/adminconnection.h"

#include <QStringList>

class FakeConnection : public Berth::Client::AdminConnection
{
public:
    using AdminConnection::AdminConnection;

    QStringList calls;
    QList<QList<Berth::Client::ConfigFile>> sentFiles;

    int count(const QString &prefix) const
    {
        int n = 0;
        for (const QString &c : calls)
            n += c.startsWith(prefix) ? 1 : 0;
        return n;
    }

    void fetchInfo() override { calls.append(QStringLiteral("fetchInfo")); }
    void fetchChildren() override { calls.append(QStringLiteral("fetchChildren")); }
    void fetchStats() override { calls.append(QStringLiteral("fetchStats")); }
    void fetchConfig() override { calls.append(QStringLiteral("fetchConfig")); }
    void validateConfig(const QList<Berth::Client::ConfigFile> &files) override
    {
        calls.append(QStringLiteral("validateConfig"));
        sentFiles.append(files);
    }
    void applyConfig(const QList<Berth::Client::ConfigFile> &files, const QString &ifMatch) override
    {
        calls.append(QStringLiteral("applyConfig ") + ifMatch);
        sentFiles.append(files);
    }
    void reload() override { calls.append(QStringLiteral("reload")); }
    void tailLog(const QString &name, int lines, const QString &filter) override
    {
        calls.append(QStringLiteral("tailLog %1 %2 %3").arg(name).arg(lines).arg(filter));
    }
    void startStatsStream(int intervalMs) override
    {
        calls.append(QStringLiteral("startStatsStream %1").arg(intervalMs));
    }
    void stopStatsStream() override { calls.append(QStringLiteral("stopStatsStream")); }
    void followLog(const QString &name) override
    {
        calls.append(QStringLiteral("followLog ") + name);
    }
    void stopLogFollow() override { calls.append(QStringLiteral("stopLogFollow")); }
    void listLogs() override { calls.append(QStringLiteral("listLogs")); }
    void restartChild(qint64 pid) override
    {
        calls.append(QStringLiteral("restartChild %1").arg(pid));
    }
    void daemonAction(const QString &name, const QString &action) override
    {
        calls.append(QStringLiteral("daemonAction %1 %2").arg(name, action));
    }
    void runCronJob(const QString &job) override
    {
        calls.append(QStringLiteral("runCronJob ") + job);
    }
    void retryMail() override { calls.append(QStringLiteral("retryMail")); }
    void fetchCron() override { calls.append(QStringLiteral("fetchCron")); }
    void fetchMail() override { calls.append(QStringLiteral("fetchMail")); }
    void fetchGroups() override { calls.append(QStringLiteral("fetchGroups")); }
    void drainMember(const QString &group, const QString &member, bool undo) override
    {
        calls.append(QStringLiteral("drainMember %1 %2 %3").arg(group, member).arg(undo));
    }
    void fetchConfigHistory() override { calls.append(QStringLiteral("fetchConfigHistory")); }
    void rollbackConfig(qint64 generation) override
    {
        calls.append(QStringLiteral("rollbackConfig %1").arg(generation));
    }
    void applyConfigCanary(const QList<Berth::Client::ConfigFile> &files, const QString &ifMatch,
                           int windowSeconds) override
    {
        calls.append(QStringLiteral("applyConfigCanary %1 %2").arg(ifMatch).arg(windowSeconds));
        sentFiles.append(files);
    }
    void fetchCanary() override { calls.append(QStringLiteral("fetchCanary")); }
};
