#pragma once

#include "adminhandlers.h"
#include "admintokens.h"
#include "http/exchange.h"

#include <QByteArray>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QSet>
#include <QStringList>
#include <QUrlQuery>

#include <memory>

namespace Berth::Core {
class OffloadPool;
class SharedState;
} // namespace Berth::Core

namespace Berth::Log {
class LogSink;
}

namespace Berth::Admin {

// What the admin API needs to know about its server, read from the configuration once when the
// service is built (the handlers run on the event loop and in offload threads, which must not
// touch the Config).
struct AdminSettings
{
    QString serverName;
    QStringList listenHosts;  // Host header names of the listener itself
    QStringList allowedHosts; // [admin] allowed_hosts
    QStringList configFiles;  // the snapshot's files, in read order
    QString logDir;
    QList<QPair<QString, QString>> logs; // name -> file (in logDir unless absolute)
    QString controlSocket;               // empty: no master to talk to (workers = 0)
    qint64 masterPid = 0;
    QString historyDir;
    int historyLimit = 20;
    qint64 applyTimeoutMs = 60'000;
    QStringList listeners; // "127.0.0.1:8099"
    QString mailSpoolDir;  // [mailer] spool_dir (empty: no mail spool)
    int statsSlot = -1;    // this process's slot in shared memory (drain flags)
};

// One admin call in flight: what the handlers and the audit need after the request head has
// gone (async answers from the offload pool).
struct AdminCall
{
    const HandlerSpec *spec = nullptr;
    QStringList params;
    QUrlQuery query;
    QByteArray body;
    QByteArray ifMatch;
    QByteArray lastEventId;
    QString who;    // the token's label
    QString client; // "127.0.0.1:5555"
    QString target; // "PUT /api/v1/config"
    Scope scope = Scope::Read;
    Http::ExchangeHandle exchange;
};
using CallPtr = std::shared_ptr<AdminCall>;

// The admin API on one event-loop thread: router and app chain at once (every path is its),
// security checks, the handler table's dispatch, and the endpoints.
class AdminApi final : public Http::AppChain, public Http::RequestRouter
{
public:
    AdminApi(AdminSettings settings, TokenStore tokens, int maxFailures, Core::SharedState *shared,
             Core::OffloadPool *offload, std::shared_ptr<Log::LogSink> audit);
    ~AdminApi() override;

    Match resolve(QByteArrayView hostName, QByteArrayView path) const override;
    void runFrom(Http::Exchange &exchange, int index) const override;
    qint64 maxBodyBytes() const override { return 8 * 1024 * 1024; }

    // {"error": {"code", "message", "details"}}: the one error shape of every endpoint.
    static QJsonObject errorObject(const QString &code, const QString &message,
                                   const QJsonValue &details = QJsonValue());
    // errorObject() as the compact JSON body of a response.
    static QByteArray errorBody(const QString &code, const QString &message,
                                const QJsonValue &details = QJsonValue());

private:
    void serve(Http::Exchange &exchange);
    bool hostAllowed(const Http::Request &request) const;
    void refuse(Http::Exchange &exchange, int status, const QString &code, const QString &message,
                const QString &cefSignature = QString());
    void dispatch(const CallPtr &call);

    void respond(const CallPtr &call, int status, const QJsonValue &body,
                 const QList<QPair<QByteArray, QByteArray>> &headers = {});
    void fail(const CallPtr &call, int status, const QString &code, const QString &message,
              const QJsonValue &details = QJsonValue());
    void audit(const CallPtr &call, int status, const QString &outcome);
    // Runs work in the offload pool and answers with what it returns (status, body).
    struct Result
    {
        int status = 200;
        QJsonValue body;
        QList<QPair<QByteArray, QByteArray>> headers;
    };
    void offload(const CallPtr &call, std::function<Result()> work,
                 std::function<void()> then = {});
    // offload() for a change of the configuration or of the running server: one at a time, a
    // second one while the first runs is answered 409 busy.
    void offloadChange(const CallPtr &call, std::function<Result()> work);
    // An offloaded handler's error answer: status and errorObject().
    static Result errorResult(int status, const QString &code, const QString &message,
                              const QJsonValue &details = QJsonValue());

    // Endpoints (adminapi.cpp, adminconfig.cpp, adminstreams.cpp).
    void info(const CallPtr &call);
    void children(const CallPtr &call);
    void stats(const CallPtr &call);
    void statsStream(const CallPtr &call);
    void logs(const CallPtr &call);
    void log(const CallPtr &call);
    void config(const CallPtr &call);
    void configValidate(const CallPtr &call);
    void configPut(const CallPtr &call);
    void configHistory(const CallPtr &call);
    void configCanary(const CallPtr &call);
    void startCanary(const CallPtr &call, const QHash<QString, QString> &texts, qint64 windowMs);
    void configRollback(const CallPtr &call);
    void reload(const CallPtr &call);
    void stop(const CallPtr &call);
    void childRestart(const CallPtr &call);
    void daemonAction(const CallPtr &call);
    void cronRun(const CallPtr &call);
    void cronList(const CallPtr &call); // adminjobs.cpp
    void mailRetry(const CallPtr &call);
    void mailList(const CallPtr &call); // adminjobs.cpp
    void keysRotate(const CallPtr &call);
    void groups(const CallPtr &call); // admingroups.cpp
    void groupMembers(const CallPtr &call);
    void groupDrain(const CallPtr &call);
    void groupPurge(const CallPtr &call);

    QJsonObject statsSnapshot() const;
    QString logPath(const QString &name) const;
    // Validates, writes, reloads; restores the files when the reload fails (offload thread).
    // canary: `reload canary` — one HTTP worker of the new generation starts beside the old
    // ones and the answer's result is "canary" (with canary_pid) until a verdict; the history
    // record is written on roll-forward.
    static Result apply(const AdminSettings &settings, const QHash<QString, QString> &texts,
                        const QByteArray &ifMatch, bool checkIfMatch, const QString &who,
                        bool canary = false);
    void logFollow(const CallPtr &call, const QString &path);

    AdminSettings m_settings;
    TokenStore m_tokens;
    mutable FailureLimiter m_limiter;
    Core::SharedState *m_shared;
    Core::OffloadPool *m_offload;
    std::shared_ptr<Log::LogSink> m_audit;
    bool m_applying = false; // one PUT config / rollback / reload / canary at a time
    QJsonObject m_canary;    // the last canary's state (config/canary)
};

// The blocking parts the handlers offload (adminconfig.cpp): the master's control socket and
// the configuration files.
namespace Blocking {
struct ControlAnswer
{
    bool reached = false; // false: error says why
    bool ok = false;
    QStringList lines;
    QString error;
};
ControlAnswer control(const QString &socket, const QString &request, qint64 timeoutMs);
// The files' texts on disk now, by path.
QHash<QString, QString> currentTexts(const QStringList &files);
// Writes each file back (a canary rolled back: the old generation still runs them).
void writeTexts(const QHash<QString, QString> &texts);
// The history record of `generation`: the files as they are on disk now.
void recordGeneration(const AdminSettings &settings, qint64 generation, const QString &who);
} // namespace Blocking

} // namespace Berth::Admin
