// The admin API's front door (security checks, the handler table's dispatch, the error shape,
// the audit) and its read and action endpoints; configuration endpoints are in adminconfig.cpp,
// the Server-Sent Event streams in adminstreams.cpp.
#include "adminapi.h"

#include "log/cef.h"
#include "log/logsink.h"
#include "mail/spool.h"
#include "runtime/offloadpool.h"
#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"
#include "runtime/workerhealth.h"
#include "sessions/keyrotation.h"
#include "sessions/sessionsettings.h"

#include <config/config.h>

#include <QDateTime>
#include <QHostAddress>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <QThread>
#include <QUrl>

#include <csignal>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcAdmin, "berth.admin")

namespace Berth::Admin {

using namespace Qt::StringLiterals;

AdminApi::AdminApi(AdminSettings settings, TokenStore tokens, int maxFailures,
                   Core::SharedState *shared, Core::OffloadPool *offload,
                   std::shared_ptr<Log::LogSink> audit)
    : m_settings(std::move(settings))
    , m_tokens(std::move(tokens))
    , m_limiter(maxFailures)
    , m_shared(shared)
    , m_offload(offload)
    , m_audit(std::move(audit))
{}

AdminApi::~AdminApi() = default;

Http::RequestRouter::Match AdminApi::resolve(QByteArrayView, QByteArrayView path) const
{
    return Match{this, QByteArray(), path.toByteArray()};
}

void AdminApi::runFrom(Http::Exchange &exchange, int) const
{
    // One AdminApi per event-loop thread, used only from it: the const of the engine's
    // interface is not a promise of the API's state (the failure limiter, the apply flag).
    const_cast<AdminApi *>(this)->serve(exchange);
}

QJsonObject AdminApi::errorObject(const QString &code, const QString &message,
                                  const QJsonValue &details)
{
    const QJsonObject error{{u"code"_s, code}, {u"message"_s, message}, {u"details"_s, details}};
    return QJsonObject{{u"error"_s, error}};
}

QByteArray AdminApi::errorBody(const QString &code, const QString &message,
                               const QJsonValue &details)
{
    return QJsonDocument(errorObject(code, message, details)).toJson(QJsonDocument::Compact) + '\n';
}

AdminApi::Result AdminApi::errorResult(int status, const QString &code, const QString &message,
                                       const QJsonValue &details)
{
    return Result{status, errorObject(code, message, details), {}};
}

namespace {

QString clientOf(const Http::Request &request)
{
    if (request.unixPeer)
        return u"unix:"_s;
    return u"%1:%2"_s.arg(request.peerAddress.toString()).arg(request.peerPort);
}

QString hostOnly(QByteArrayView hostField)
{
    // Host without its port: "[::1]:8099" -> "::1", "localhost:8099" -> "localhost".
    QString host = QString::fromLatin1(hostField).toLower();
    if (host.startsWith(u'[')) {
        const qsizetype end = host.indexOf(u']');
        return end > 0 ? host.mid(1, end - 1) : host;
    }
    const qsizetype colon = host.lastIndexOf(u':');
    return colon >= 0 && host.count(u':') == 1 ? host.left(colon) : host;
}

} // namespace

bool AdminApi::hostAllowed(const Http::Request &request) const
{
    const QString host = hostOnly(request.head.host);
    if (request.unixPeer && (host.isEmpty() || host == u"localhost"_s))
        return true;
    if (host.isEmpty())
        return false;
    // A DNS-rebinding page reaches us under a name of its own: only the listener's address
    // (any literal address when it listens on every interface), localhost on a loopback
    // listener and the configured names are taken.
    if (m_settings.listenHosts.contains(host) || m_settings.allowedHosts.contains(host))
        return true;
    const QHostAddress listening(m_settings.listenHosts.value(0));
    const bool wildcard = listening == QHostAddress::AnyIPv4 || listening == QHostAddress::AnyIPv6;
    if (wildcard && !QHostAddress(host).isNull())
        return true;
    return host == u"localhost"_s && (listening.isLoopback() || wildcard);
}

void AdminApi::refuse(Http::Exchange &exchange, int status, const QString &code,
                      const QString &message, const QString &cefSignature)
{
    if (!cefSignature.isEmpty())
        Log::logCef(u"Admin API "_s + message, 5, &exchange.request(), QString(), cefSignature);
    if (status == 401)
        exchange.response().setHeader("WWW-Authenticate", "Bearer realm=\"berth-admin\"");
    exchange.response().setHeader("Cache-Control", "no-store");
    exchange.respond(status, "application/json", errorBody(code, message));
}

void AdminApi::serve(Http::Exchange &exchange)
{
    const Http::Request &request = exchange.request();
    if (!hostAllowed(request))
        return refuse(exchange, 403, u"host_refused"_s,
                      u"the Host header names neither this listener nor an allowed_hosts name"_s,
                      u"AdminHost"_s);
    const QByteArrayView origin = request.header("Origin");
    if (!origin.isNull()) {
        const QUrl url(QString::fromLatin1(origin));
        const QString own = hostOnly(request.head.host);
        if (!url.isValid() || url.host().toLower() != own)
            return refuse(exchange, 403, u"origin_refused"_s,
                          u"cross-origin requests are refused (no CORS)"_s, u"AdminOrigin"_s);
    }
    if (Http::equalsIgnoreCase(request.header("Sec-Fetch-Site"), "cross-site"))
        return refuse(exchange, 403, u"origin_refused"_s, u"cross-site requests are refused"_s,
                      u"AdminOrigin"_s);

    const QString client = request.unixPeer ? u"unix"_s : request.peerAddress.toString();
    if (m_limiter.blocked(client))
        return refuse(exchange, 429, u"too_many_failures"_s,
                      u"too many authentication failures from this address; try later"_s);
    const QByteArrayView authorization = request.header("Authorization");
    if (authorization.isNull())
        return refuse(exchange, 401, u"unauthorized"_s, u"Authorization: Bearer TOKEN required"_s);
    const Token *token = nullptr;
    if (authorization.size() > 7 && Http::equalsIgnoreCase(authorization.first(7), "Bearer "))
        token = m_tokens.find(authorization.sliced(7).trimmed());
    if (!token) {
        m_limiter.recordFailure(client);
        return refuse(exchange, 403, u"forbidden"_s, u"unknown token"_s, u"AdminAuthFail"_s);
    }

    const QString path = QString::fromUtf8(request.path);
    const QString prefix = u"/api/v1"_s;
    QStringList params;
    bool pathKnown = false;
    const HandlerSpec *spec =
        path.startsWith(prefix + u'/')
            ? findHandler(request.method(), path.mid(prefix.size()), &params, &pathKnown)
            : nullptr;
    if (!spec) {
        if (pathKnown) {
            exchange.response().setHeader("Allow", "GET, POST, PUT");
            return refuse(
                exchange, 405, u"method_not_allowed"_s,
                u"%1 is not a method of %2"_s.arg(QString::fromLatin1(request.method()), path));
        }
        return refuse(exchange, 404, u"not_found"_s, u"no endpoint %1"_s.arg(path));
    }
    if (spec->scope == Scope::Admin && token->scope != Scope::Admin)
        return refuse(exchange, 403, u"forbidden"_s,
                      u"this call needs an admin token; '%1' is read-only"_s.arg(token->label),
                      u"AdminScope"_s);

    auto call = std::make_shared<AdminCall>();
    call->spec = spec;
    call->params = params;
    call->query = QUrlQuery(QString::fromUtf8(request.query()));
    call->ifMatch = request.header("If-Match").toByteArray();
    call->lastEventId = request.header("Last-Event-ID").toByteArray();
    call->who = token->label;
    call->scope = token->scope;
    call->client = clientOf(request);
    call->target = QString::fromLatin1(request.method()) + u' ' + path;
    call->exchange = exchange.handle();
    if (!request.head.hasBody())
        return dispatch(call);
    exchange.readBody(
        [call](QByteArrayView chunk) {
            if (call->body.size() + chunk.size() <= 8 * 1024 * 1024)
                call->body.append(chunk);
        },
        [this, call] { dispatch(call); });
}

void AdminApi::dispatch(const CallPtr &call)
{
    switch (call->spec->endpoint) {
    case Endpoint::Info:
        return info(call);
    case Endpoint::Children:
        return children(call);
    case Endpoint::Stats:
        return stats(call);
    case Endpoint::StatsStream:
        return statsStream(call);
    case Endpoint::Logs:
        return logs(call);
    case Endpoint::Log:
        return log(call);
    case Endpoint::Config:
        return config(call);
    case Endpoint::ConfigValidate:
        return configValidate(call);
    case Endpoint::ConfigPut:
        return configPut(call);
    case Endpoint::ConfigHistory:
        return configHistory(call);
    case Endpoint::ConfigCanary:
        return configCanary(call);
    case Endpoint::ConfigRollback:
        return configRollback(call);
    case Endpoint::Reload:
        return reload(call);
    case Endpoint::Stop:
        return stop(call);
    case Endpoint::ChildRestart:
        return childRestart(call);
    case Endpoint::DaemonAction:
        return daemonAction(call);
    case Endpoint::CronList:
        return cronList(call);
    case Endpoint::CronRun:
        return cronRun(call);
    case Endpoint::MailList:
        return mailList(call);
    case Endpoint::MailRetry:
        return mailRetry(call);
    case Endpoint::KeysRotate:
        return keysRotate(call);
    case Endpoint::Groups:
        return groups(call);
    case Endpoint::GroupMembers:
        return groupMembers(call);
    case Endpoint::GroupDrain:
        return groupDrain(call);
    case Endpoint::GroupPurge:
        return groupPurge(call);
    case Endpoint::OpenApi:
        if (Http::Exchange *exchange = call->exchange.get())
            exchange->respond(200, "application/json", openApiJson());
        return;
    }
}

void AdminApi::respond(const CallPtr &call, int status, const QJsonValue &body,
                       const QList<QPair<QByteArray, QByteArray>> &headers)
{
    if (call->spec->mutates)
        audit(call, status, status < 300 ? u"ok"_s : u"failed"_s);
    Http::Exchange *exchange = call->exchange.get();
    if (!exchange)
        return;
    exchange->response().setHeader("Cache-Control", "no-store");
    for (const auto &[name, value] : headers)
        exchange->response().setHeader(name, value);
    const QJsonDocument document =
        body.isArray() ? QJsonDocument(body.toArray()) : QJsonDocument(body.toObject());
    exchange->respond(status, "application/json", document.toJson(QJsonDocument::Compact) + '\n');
}

void AdminApi::fail(const CallPtr &call, int status, const QString &code, const QString &message,
                    const QJsonValue &details)
{
    respond(call, status, errorObject(code, message, details));
}

void AdminApi::audit(const CallPtr &call, int status, const QString &outcome)
{
    const QString line = u"%1 admin-audit who=\"%2\" from=%3 call=\"%4\" status=%5 result=\"%6\""_s
                             .arg(QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs),
                                  call->who, call->client, call->target)
                             .arg(status)
                             .arg(outcome);
    qCInfo(lcAdmin).noquote() << line.section(u' ', 1);
    if (m_audit)
        m_audit->append(line.toUtf8());
}

void AdminApi::offload(const CallPtr &call, std::function<Result()> work,
                       std::function<void()> then)
{
    const bool queued = m_offload->submit(std::move(work), [this, call, then](Result result) {
        if (then)
            then();
        respond(call, result.status, result.body, result.headers);
    });
    if (!queued) {
        if (then)
            then();
        fail(call, 503, u"busy"_s, u"the admin service is busy; try again"_s);
    }
}

void AdminApi::offloadChange(const CallPtr &call, std::function<Result()> work)
{
    if (m_applying)
        return fail(call, 409, u"busy"_s, u"another configuration change is in progress"_s);
    m_applying = true;
    offload(call, std::move(work), [this] { m_applying = false; });
}

void AdminApi::info(const CallPtr &call)
{
    const AdminSettings settings = m_settings;
    offload(call, [settings] {
        QJsonObject body{
            {u"name"_s, settings.serverName},
            {u"version"_s, QStringLiteral(BERTH_VERSION)},
            {u"pid"_s, settings.masterPid},
            {u"admin_listeners"_s, QJsonArray::fromStringList(settings.listeners)},
            {u"config_files"_s, QJsonArray::fromStringList(settings.configFiles)},
        };
        if (!settings.controlSocket.isEmpty()) {
            const Blocking::ControlAnswer answer =
                Blocking::control(settings.controlSocket, u"status json"_s, 5000);
            const QJsonObject status =
                QJsonDocument::fromJson(answer.lines.value(0).toUtf8()).object();
            body.insert(u"generation"_s, status.value(u"generation"_s));
            body.insert(u"config_sha256"_s, status.value(u"config_sha256"_s));
            body.insert(u"reload_in_progress"_s, status.value(u"reload_in_progress"_s));
            body.insert(u"started"_s, status.value(u"started"_s));
            body.insert(u"uptime_seconds"_s, status.value(u"uptime_seconds"_s));
            body.insert(u"listeners"_s, status.value(u"listeners"_s));
            body.insert(u"services"_s, status.value(u"services"_s));
        } else {
            body.insert(u"generation"_s, 1);
            body.insert(u"services"_s, QJsonArray());
        }
        return Result{200, body, {}};
    });
}

void AdminApi::children(const CallPtr &call)
{
    const Core::StatsReport report = Core::StatsRegistry::report(*m_shared);
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    QJsonArray children;
    for (const Core::WorkerStats &w : report.workers) {
        if (w.state == Core::WorkerState::Empty)
            continue;
        QJsonArray threads;
        const Core::WorkerSlot *slot = m_shared->slot(w.slot);
        const int threadCount = slot->threadCount.load(std::memory_order_relaxed);
        for (int t = 0; t < threadCount && slot->isLive(); ++t) {
            Core::ThreadRequest request;
            QJsonObject thread{{u"index"_s, t}};
            if (Core::readThreadRequest(*slot->thread(t), &request) && request.startedMs > 0) {
                thread.insert(u"request"_s,
                              QJsonObject{{u"method"_s, request.method},
                                          {u"url"_s, request.url},
                                          {u"txn"_s, request.txn},
                                          {u"client"_s, request.client},
                                          {u"running_ms"_s,
                                           qint64(Core::monotonicMs()) - request.startedMs}});
            } else {
                thread.insert(u"request"_s, QJsonValue::Null);
            }
            threads.append(thread);
        }
        children.append(QJsonObject{
            {u"slot"_s, w.slot},
            {u"kind"_s, w.kind},
            {u"name"_s, w.name},
            {u"pid"_s, w.pid},
            {u"state"_s, Core::workerStateName(w.state).toLower()},
            {u"generation"_s, qint64(w.generation)},
            {u"uptime_s"_s, w.startedMs > 0 && slot->isLive() ? (now - w.startedMs) / 1000 : 0},
            {u"restarts"_s, w.restarts},
            {u"last_exit"_s, w.lastExitStatus < 0
                                 ? QJsonValue(QJsonValue::Null)
                                 : QJsonValue(Core::describeWaitStatus(w.lastExitStatus))},
            {u"requests"_s, w.requestsServed},
            {u"threads"_s, threads},
        });
    }
    respond(call, 200, QJsonObject{{u"children"_s, children}});
}

void AdminApi::stats(const CallPtr &call)
{
    respond(call, 200, statsSnapshot());
}

void AdminApi::reload(const CallPtr &call)
{
    if (m_settings.controlSocket.isEmpty())
        return fail(call, 409, u"no_master"_s,
                    u"a reload needs worker processes (workers > 0) and a pid_file"_s);
    const AdminSettings settings = m_settings;
    offloadChange(call, [settings] {
        const Blocking::ControlAnswer answer =
            Blocking::control(settings.controlSocket, u"reload"_s, settings.applyTimeoutMs);
        const Blocking::ControlAnswer status =
            Blocking::control(settings.controlSocket, u"status json"_s, 5000);
        const QJsonValue generation =
            QJsonDocument::fromJson(status.lines.value(0).toUtf8()).object().value(u"generation"_s);
        const bool ok = answer.reached && answer.ok;
        return Result{ok ? 200 : 422,
                      QJsonObject{{u"generation"_s, generation},
                                  {u"result"_s, ok ? u"ready"_s : u"failed"_s},
                                  {u"diagnostics"_s,
                                   QJsonArray::fromStringList(
                                       answer.reached ? answer.lines : QStringList{answer.error})}},
                      {}};
    });
}

void AdminApi::stop(const CallPtr &call)
{
    const qint64 pid = m_settings.masterPid;
    respond(call, 202, QJsonObject{{u"result"_s, u"stopping"_s}});
    // After the answer is on its way: the master's TERM drains this child too.
    m_offload->submit(
        [pid] {
            QThread::msleep(200);
            ::kill(pid_t(pid), SIGTERM);
        },
        [] {});
}

void AdminApi::childRestart(const CallPtr &call)
{
    bool isNumber = false;
    const qint64 pid = call->params.value(0).toLongLong(&isNumber);
    if (!isNumber || pid <= 0)
        return fail(call, 400, u"bad_request"_s, u"'%1' is not a pid"_s.arg(call->params.value(0)));
    if (m_settings.controlSocket.isEmpty())
        return fail(call, 409, u"no_master"_s, u"restarting a child needs workers > 0"_s);
    for (int i = 0; i < m_shared->slotCount(); ++i) {
        const Core::WorkerSlot *slot = m_shared->slot(i);
        if (!slot->isLive() || slot->pid.load(std::memory_order_acquire) != pid)
            continue;
        // TERM: the child drains and its supervisor starts a new one in its place.
        ::kill(pid_t(pid), SIGTERM);
        return respond(call, 202,
                       QJsonObject{{u"pid"_s, pid},
                                   {u"service"_s, slot->kind() + u':' + slot->name()},
                                   {u"result"_s, u"restarting"_s}});
    }
    fail(call, 404, u"not_found"_s, u"no running child with pid %1"_s.arg(pid));
}

void AdminApi::daemonAction(const CallPtr &call)
{
    const QString name = call->params.value(0);
    const QString action = call->params.value(1);
    if (action != u"start"_s && action != u"stop"_s && action != u"restart"_s)
        return fail(call, 404, u"not_found"_s, u"'%1' is not start, stop or restart"_s.arg(action));
    if (m_settings.controlSocket.isEmpty())
        return fail(call, 409, u"no_master"_s, u"daemon control needs workers > 0"_s);
    const QString socket = m_settings.controlSocket;
    const QString request = u"service daemon:%1 %2"_s.arg(name, action);
    offload(call, [socket, request] {
        const Blocking::ControlAnswer answer = Blocking::control(socket, request, 60'000);
        if (!answer.reached)
            return errorResult(503, u"no_master"_s, answer.error);
        if (!answer.ok)
            return errorResult(404, u"failed"_s, answer.lines.join(u'\n'),
                               QJsonArray::fromStringList(answer.lines));
        return Result{200,
                      QJsonObject{{u"result"_s, u"ok"_s},
                                  {u"lines"_s, QJsonArray::fromStringList(answer.lines)}},
                      {}};
    });
}

void AdminApi::cronRun(const CallPtr &call)
{
    if (m_settings.controlSocket.isEmpty())
        return fail(call, 409, u"no_master"_s, u"running a cron job needs workers > 0"_s);
    const QString socket = m_settings.controlSocket;
    const QString job = call->params.value(0);
    // The cron agent runs it (logged in cron.log, counted in cron.runs), not this process.
    const QString request = u"service cron:cron run "_s + job;
    offload(call, [socket, request, job] {
        const Blocking::ControlAnswer answer = Blocking::control(socket, request, 10'000);
        if (!answer.reached)
            return errorResult(503, u"no_master"_s, answer.error);
        if (!answer.ok) {
            const QString message = answer.lines.join(u'\n');
            // "no service cron:cron": no [crontab:line] job at all, so no cron agent.
            if (message.contains(u"no cron job"_s) || message.startsWith(u"no service"_s))
                return errorResult(404, u"not_found"_s, message);
            if (message.contains(u"still running"_s))
                return errorResult(409, u"running"_s, message);
            return errorResult(503, u"failed"_s, message);
        }
        // The agent answers: id, pid, command.
        return Result{202,
                      QJsonObject{{u"result"_s, u"started"_s},
                                  {u"job"_s, answer.lines.value(0, job)},
                                  {u"pid"_s, answer.lines.value(1).toLongLong()},
                                  {u"command"_s, answer.lines.value(2)}},
                      {}};
    });
}

void AdminApi::mailRetry(const CallPtr &call)
{
    if (m_settings.mailSpoolDir.isEmpty())
        return fail(call, 404, u"not_found"_s, u"no mail spool: [mailer] spool_dir is not set"_s);
    const QString dir = m_settings.mailSpoolDir;
    offload(call, [dir] {
        // As `berthd mail retry`: the messages become due now and the mailer, which scans the
        // spool on each pass, delivers them.
        const int retried = Mail::Spool(dir).retryAll();
        return Result{200, QJsonObject{{u"result"_s, u"ok"_s}, {u"retried"_s, retried}}, {}};
    });
}

void AdminApi::keysRotate(const CallPtr &call)
{
    QJsonParseError parseError;
    const QJsonObject body = QJsonDocument::fromJson(call->body, &parseError).object();
    const QJsonValue keynum = body.value(u"keynum"_s);
    const QJsonValue secret = body.value(u"secret"_s);
    if (parseError.error != QJsonParseError::NoError || !keynum.isDouble() ||
        keynum.toDouble() != double(keynum.toInt(-1)) || keynum.toInt() < 0 ||
        keynum.toInt() > 255 || !secret.isString())
        return fail(call, 400, u"bad_request"_s,
                    u"the body must be {\"keynum\": 0..255, \"secret\": \"...\", \"when\": "
                    u"\"2026-03-01T09:00:00Z\" or \"+2h\" (optional)}"_s);
    const int newKeynum = keynum.toInt();
    // Only in this call's memory: never logged, audited or answered.
    const QByteArray newSecret = secret.toString().toUtf8().trimmed();
    const QString whenText = body.value(u"when"_s).toString();
    const QStringList files = m_settings.configFiles;
    offload(call, [files, newKeynum, newSecret, whenText] {
        const Config::Config config = Config::Config::load(files);
        if (!config.has(u"sessions"_s, u"secret"_s) && !config.has(u"sessions"_s, u"secret_file"_s))
            return errorResult(
                404, u"not_found"_s,
                u"the configuration has no [sessions] secret: there is no key chain"_s);
        const Sessions::SessionSettings settings =
            Sessions::SessionSettings::fromConfig(config, u"sessions"_s);
        for (const Config::Diagnostic &d : config.diagnostics()) {
            if (d.isError())
                return errorResult(409, u"invalid_config"_s, d.toString());
        }
        QString why;
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        const std::optional<qint64> when = Sessions::parseKeyTime(whenText, now, u"when"_s, &why);
        if (!when)
            return errorResult(422, u"invalid"_s, why);
        why = Sessions::checkNewSecret(newSecret, settings.secret);
        if (!why.isEmpty())
            return errorResult(422, u"invalid"_s, u"secret: "_s + why);
        Sessions::KeyRotation done;
        if (!Sessions::rotateKey(settings, newKeynum, newSecret, *when, &done, &why))
            return errorResult(409, u"failed"_s, why);
        return Result{
            200,
            QJsonObject{
                {u"result"_s, u"ok"_s},
                {u"keynum"_s, newKeynum},
                {u"previous_keynum"_s, done.previousKeynum},
                {u"active_from"_s, done.activates},
                {u"store"_s, done.store},
                {u"next"_s,
                 u"set [sessions] keynum = %1 and the new secret in the configuration of every "
                 u"node sharing this store, then restart them%2"_s.arg(
                     QString::number(newKeynum),
                     *when > now ? u" before "_s + done.activates : QString())}},
            {}};
    });
}

} // namespace Berth::Admin
