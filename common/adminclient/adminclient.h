#pragma once

#include "adminconnection.h"
#include "sseparser.h"

#include <QByteArray>
#include <QPointer>
#include <QTimer>
#include <QUrl>

#include <functional>

class QNetworkAccessManager;
class QNetworkReply;
class QNetworkRequest;

namespace Berth::Client {

class LocalHttpReply;

// The admin API over HTTP(S) (QNetworkAccessManager) or over a unix socket (LocalHttpReply): a
// bearer token, JSON in and out, the two Server-Sent Event streams parsed by SseParser and
// reconnected with exponential back-off (resuming a log follow at its Last-Event-ID).
class AdminClient final : public AdminConnection
{
    Q_OBJECT
public:
    // base: "http://127.0.0.1:8099" (the /api/v1 prefix is added), or a unix socket as
    // "unix:/run/berth/admin.sock" or "/run/berth/admin.sock".
    AdminClient(const QUrl &base, const QString &token, QObject *parent = nullptr);
    ~AdminClient() override;

    void fetchInfo() override;
    void fetchChildren() override;
    void fetchStats() override;
    void fetchConfig() override;
    void validateConfig(const QList<ConfigFile> &files) override;
    void applyConfig(const QList<ConfigFile> &files, const QString &ifMatch) override;
    void reload() override;
    void tailLog(const QString &name, int lines, const QString &filter) override;
    void startStatsStream(int intervalMs) override;
    void stopStatsStream() override;
    void followLog(const QString &name) override;
    void stopLogFollow() override;
    void listLogs() override;
    void restartChild(qint64 pid) override;
    void daemonAction(const QString &name, const QString &action) override;
    void runCronJob(const QString &job) override;
    void retryMail() override;
    void fetchCron() override;
    void fetchMail() override;
    void fetchGroups() override;
    void drainMember(const QString &group, const QString &member, bool undo) override;
    void fetchConfigHistory() override;
    void rollbackConfig(qint64 generation) override;
    void applyConfigCanary(const QList<ConfigFile> &files, const QString &ifMatch,
                           int windowSeconds) override;
    void fetchCanary() override;

    // Back-off of a dropped stream: first delay, doubled per failure up to the cap.
    void setBackoff(int firstMs, int capMs);
    static int backoffDelay(int failures, int firstMs, int capMs);
    // The unix socket a server URL names ("unix:/path" or "/path"); empty for http(s).
    static QString socketPathOf(const QUrl &url);

private:
    struct Stream
    {
        QString name; // "stats" or "log:NAME"
        QString path; // under /api/v1, with the query
        QPointer<QNetworkReply> reply;
        QPointer<LocalHttpReply> local;
        SseParser parser;
        QTimer retry;
        int failures = 0;
        bool active = false;
    };

    QNetworkRequest request(const QString &path) const;
    static QByteArray localTarget(const QString &path);
    void send(const QString &operation, const QByteArray &method, const QString &path,
              const QByteArray &body, const QByteArray &ifMatch,
              std::function<void(const QJsonObject &)> done);
    void complete(const QString &operation, int status, const QByteArray &body,
                  const QString &errorString, const std::function<void(const QJsonObject &)> &done);
    void openStream(Stream &stream);
    void streamHead(Stream &stream, int status);
    void streamFinished(Stream &stream, int status, const QByteArray &body,
                        const QString &errorString);
    void streamEnded(Stream &stream);
    void streamEvents(Stream &stream, const QList<SseEvent> &events);
    void stopStream(Stream &stream);
    static AdminError errorOf(int status, const QByteArray &body, const QString &errorString);

    QNetworkAccessManager *m_network;
    QUrl m_base;
    QString m_socketPath; // non-empty: every call goes over this unix socket
    QByteArray m_token;
    Stream m_stats;
    Stream m_log;
    QString m_logName;
    int m_backoffFirstMs = 250;
    int m_backoffCapMs = 10'000;
};

} // namespace Berth::Client
