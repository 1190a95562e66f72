#include "adminhandlers.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace Berth::Admin {

using namespace Qt::StringLiterals;

const QList<HandlerSpec> &handlerSpecs()
{
    static const QList<HandlerSpec> specs{
        {"GET", u"/info"_s, Scope::Read, false,
         u"Server name, version, master pid, uptime, configuration generation and hash, "
         u"listeners and services."_s,
         Endpoint::Info},
        {"GET", u"/children"_s, Scope::Read, false,
         u"Every child process: kind, name, pid, state, generation, uptime, restarts, last exit, "
         u"requests served and the current request of each thread."_s,
         Endpoint::Children},
        {"GET", u"/stats"_s, Scope::Read, false,
         u"Aggregate HTTP stats (requests, status classes, bytes, connections, p50/p99 latency) "
         u"and each child's."_s,
         Endpoint::Stats},
        {"GET", u"/stats/stream"_s, Scope::Read, false,
         u"Server-Sent Events: one stats snapshot per `interval` (default 1s) with derived rates "
         u"(requests/s, errors/s, bytes/s) and the interval's p50/p99 latency."_s,
         Endpoint::StatsStream},
        {"GET", u"/logs"_s, Scope::Read, false, u"The logs there are: name, file, size."_s,
         Endpoint::Logs},
        {"GET", u"/logs/{name}"_s, Scope::Read, false,
         u"The last `lines` lines (default 200) of a log, those containing `filter` only; "
         u"`follow=1`: Server-Sent Events, one per new line, the event id its end's byte "
         u"offset (resume with Last-Event-ID); follows a rename and USR1 reopen."_s,
         Endpoint::Log},
        {"GET", u"/config"_s, Scope::Read, false,
         u"Every configuration file: path, text (secrets masked for read tokens), hash; the "
         u"combined `hash` is also the ETag."_s,
         Endpoint::Config},
        {"POST", u"/config/validate"_s, Scope::Read, false,
         u"Validates proposed texts `{\"files\": [{\"path\", \"text\"}]}` (files not named keep "
         u"theirs): the diagnostics `berthd check` gives (file, line, severity, message)."_s,
         Endpoint::ConfigValidate},
        {"PUT", u"/config"_s, Scope::Admin, true,
         u"Applies proposed texts (body as validate) with `If-Match: <hash>` (412 when the files "
         u"changed): validates (422), writes each changed file atomically with a backup, "
         u"reloads and waits for the new generation; restores the files when it fails. "
         u"`?canary=60s`: starts one HTTP worker of the new generation beside the old ones, "
         u"compares its 5xx ratio and crashes with theirs for that long, then rolls forward or "
         u"back by itself (202; see config/canary)."_s,
         Endpoint::ConfigPut},
        {"GET", u"/config/canary"_s, Scope::Read, false,
         u"The last canary apply: state (watching, rolled_forward, rolled_back), generation, "
         u"window, the old and new error ratios, crashes and why it decided."_s,
         Endpoint::ConfigCanary},
        {"GET", u"/config/history"_s, Scope::Read, false,
         u"The configurations applied through the API, newest first (generation, time, who, "
         u"hash)."_s,
         Endpoint::ConfigHistory},
        {"POST", u"/config/rollback/{generation}"_s, Scope::Admin, true,
         u"Applies the files of a generation from config/history again."_s,
         Endpoint::ConfigRollback},
        {"POST", u"/reload"_s, Scope::Admin, true,
         u"Reloads the configuration from disk and waits for the new generation."_s,
         Endpoint::Reload},
        {"POST", u"/stop"_s, Scope::Admin, true, u"Stops the server gracefully (as SIGTERM)."_s,
         Endpoint::Stop},
        {"POST", u"/children/{pid}/restart"_s, Scope::Admin, true,
         u"Restarts one child process (it is replaced by its supervisor)."_s,
         Endpoint::ChildRestart},
        {"POST", u"/daemons/{name}/{action}"_s, Scope::Admin, true,
         u"`start`, `stop` or `restart` a [daemon:NAME] program."_s, Endpoint::DaemonAction},
        {"GET", u"/cron"_s, Scope::Read, false,
         u"Every [crontab:line] job as `berthd cron list` reads it from the configuration files: "
         u"`id` (FILE:LINE), file, line, schedule, command, `reboot`, `next` (the next run, ISO "
         u"8601 in the [cron] timezone; null for @reboot or a date that never comes) and "
         u"`next_runs` (the next five), with `last_run` and `last_exit` (\"ok, status 0\", "
         u"\"failed, status 3\", \"running\"; null before the first run) from the cron agent's "
         u"cron.state. Also `timezone`, and `agent`: whether cron.state was found."_s,
         Endpoint::CronList},
        {"POST", u"/cron/{job+}/run"_s, Scope::Admin, true,
         u"Runs a [crontab:line] job now through the cron agent (logged in cron.log as its "
         u"scheduled runs); `job` is its id as `berthd cron list` prints it, FILE:LINE (the "
         u"file's slashes as they are). 202 `{\"job\", \"pid\", \"command\"}`; 404 for an "
         u"unknown job, 409 while it still runs (overlap)."_s,
         Endpoint::CronRun},
        {"GET", u"/mail"_s, Scope::Read, false,
         u"The mail spool's messages, oldest first, as `berthd mail queue` lists them: id, "
         u"from, to, subject, size, queued, status (queued, delivering, deferred, "
         u"undelivered), attempts, `next_attempt` (null: due now), `last_error`, and the "
         u"recipients pending, delivered and failed. `total` counts them all; at most 1000 "
         u"are listed. 404 without a [mailer] spool_dir."_s,
         Endpoint::MailList},
        {"POST", u"/mail/retry"_s, Scope::Admin, true,
         u"Makes every deferred message of the mail spool due now (as `berthd mail retry`); "
         u"the mailer delivers them on its next pass. `{\"retried\": N}`."_s,
         Endpoint::MailRetry},
        {"POST", u"/keys/rotate"_s, Scope::Admin, true,
         u"Registers a new session key, as `berthd keys rotate`: body `{\"keynum\": N, "
         u"\"secret\": \"...\", \"when\": \"2026-03-01T09:00:00Z\" or \"+2h\"}` (`when` "
         u"optional: now). The secret is never logged or audited. Answers the key, when it "
         u"activates and what to change in the configuration; 422 for an unusable secret or "
         u"time, 404 without a [sessions] secret, 409 when the chain refuses it."_s,
         Endpoint::KeysRotate},
        {"GET", u"/groups"_s, Scope::Read, false,
         u"Every gateway group ([@NAME]): balance, health_check and its members, each with "
         u"address, weight, state (up, down, backup), active health (up, down, unknown), "
         u"requests in flight, requests, failures and latency_us, summed over the workers."_s,
         Endpoint::Groups},
        {"PUT", u"/groups/{name}/members"_s, Scope::Admin, true,
         u"Replaces a group's members with `{\"members\": [\"127.0.0.1:5001\", \"10.0.0.6:5001 "
         u"backup\", ...]}`: its `members =` line is rewritten through the PUT config path "
         u"(validated, backed up, audited, reloaded, restored when the reload fails); answers "
         u"as PUT config."_s,
         Endpoint::GroupMembers},
        {"POST", u"/groups/{name}/members/{member+}/drain"_s, Scope::Admin, true,
         u"Drains one member (its address as [@NAME] members lists it): every worker's balancer "
         u"gives it no new requests, those in flight finish; `?undo=1` takes it back. The flag "
         u"lives in shared memory, not persisted (docs/gateway.md)."_s,
         Endpoint::GroupDrain},
        {"POST", u"/groups/{name}/purge"_s, Scope::Admin, true,
         u"Removes a target's entries from the group's response cache, every variant and host, "
         u"memory and disk tier (as `PURGE` from loopback): `?path=/x?y=1`. "
         u"`{\"purged\": N}`; 404 for a group without `cache`."_s,
         Endpoint::GroupPurge},
        {"GET", u"/openapi.json"_s, Scope::Read, false, u"This API as an OpenAPI 3 document."_s,
         Endpoint::OpenApi},
    };
    return specs;
}

namespace {

bool matches(const QString &pattern, const QString &path, QStringList *params)
{
    const QStringList want = pattern.split(u'/');
    const QStringList have = path.split(u'/');
    // A "{name+}" segment takes one or more segments (a cron job id is a file path: FILE:LINE).
    const qsizetype extra = have.size() - want.size();
    const bool greedy = pattern.contains(u"+}"_s);
    if (extra != 0 && !(greedy && extra > 0))
        return false;
    QStringList found;
    qsizetype h = 0;
    for (qsizetype i = 0; i < want.size(); ++i, ++h) {
        if (want[i].startsWith(u'{')) {
            QString value = have[h];
            if (want[i].endsWith(u"+}"_s)) {
                for (qsizetype k = 0; k < extra; ++k)
                    value += u'/' + have[++h];
            }
            if (value.isEmpty())
                return false;
            found.append(value);
        } else if (want[i] != have[h]) {
            return false;
        }
    }
    *params = found;
    return true;
}

} // namespace

const HandlerSpec *findHandler(QByteArrayView method, const QString &path, QStringList *params,
                               bool *pathKnown)
{
    *pathKnown = false;
    const HandlerSpec *found = nullptr;
    for (const HandlerSpec &spec : handlerSpecs()) {
        QStringList candidate;
        if (!matches(spec.path, path, &candidate))
            continue;
        *pathKnown = true;
        // A literal segment beats a parameter ("/config/history" is not "/logs/{name}").
        if (spec.method == method && (!found || !spec.path.contains(u'{'))) {
            found = &spec;
            *params = candidate;
        }
    }
    return found;
}

QByteArray openApiJson()
{
    QJsonObject paths;
    const QJsonObject error{
        {u"description"_s, u"{\"error\": {\"code\", \"message\", \"details\"}}"_s}};
    for (const HandlerSpec &spec : handlerSpecs()) {
        QJsonObject operation{
            {u"summary"_s, spec.help},
            {u"x-berth-scope"_s, scopeName(spec.scope)},
            {u"x-berth-mutates"_s, spec.mutates},
            {u"security"_s, QJsonArray{QJsonObject{{u"bearer"_s, QJsonArray()}}}},
            {u"responses"_s, QJsonObject{{u"200"_s, QJsonObject{{u"description"_s, u"OK"_s}}},
                                         {u"401"_s, error},
                                         {u"403"_s, error}}},
        };
        QJsonArray parameters;
        for (const QString &segment : spec.path.split(u'/')) {
            if (segment.startsWith(u'{'))
                parameters.append(
                    QJsonObject{{u"name"_s, segment.mid(1, segment.size() - 2).remove(u'+')},
                                {u"in"_s, u"path"_s},
                                {u"required"_s, true},
                                {u"schema"_s, QJsonObject{{u"type"_s, u"string"_s}}}});
        }
        if (!parameters.isEmpty())
            operation.insert(u"parameters"_s, parameters);
        const QString path = u"/api/v1"_s + QString(spec.path).replace(u"+}"_s, u"}"_s);
        QJsonObject item = paths.value(path).toObject();
        item.insert(QString::fromLatin1(spec.method).toLower(), operation);
        paths.insert(path, item);
    }
    const QJsonObject document{
        {u"openapi"_s, u"3.0.3"_s},
        {u"info"_s, QJsonObject{{u"title"_s, u"Berth admin API"_s},
                                {u"version"_s, QStringLiteral(BERTH_VERSION)}}},
        {u"components"_s,
         QJsonObject{{u"securitySchemes"_s,
                      QJsonObject{{u"bearer"_s, QJsonObject{{u"type"_s, u"http"_s},
                                                            {u"scheme"_s, u"bearer"_s}}}}}}},
        {u"paths"_s, paths},
    };
    return QJsonDocument(document).toJson(QJsonDocument::Indented);
}

QString adminApiMarkdown()
{
    QString out = uR"(# Admin API

<!-- Generated from the handler table (server/services/admin/adminhandlers.cpp) by
     `BERTH_UPDATE_DOCS=1 build/tests/tst_admin`; edit the table, not this file. -->

The admin API is the control plane berth-admin and scripts drive: JSON under `/api/v1` on a
listener of its own, served by one `admin` child process (`[admin]` in
[configuration.md](configuration.md)).

```ini
[admin]
enabled = yes
ip = 127.0.0.1
port = 8099
token_file = /etc/berth/admin.tokens   ; TOKEN read|admin [LABEL], one per line
allowed_hosts = admin.example.com      ; Host names besides the listener's address
```

## Security

- Every request carries `Authorization: Bearer TOKEN`. The token file holds one token per line,
  `TOKEN SCOPE [LABEL]` (`read` or `admin`, `#` comments). When it is missing, berthd creates it
  (mode 0600) with one random `admin` token and writes its path (never the token) to server.log.
- No token: 401. An unknown token, or a `read` token on a call that changes something: 403.
  Tokens are compared in constant time; failures are CEF events (cef.log) and a client address
  with more than `max_failures` failures in a minute gets 429.
- DNS rebinding and CSRF: the `Host` header must be the listener's address (`localhost` too on
  a loopback listener, any address on a wildcard one) or an `allowed_hosts` name, a request with an `Origin` that is not the listener's own, or with
  `Sec-Fetch-Site: cross-site`, is refused (403). There is no CORS.
- TLS: `tls = yes` with `cert`/`key` (or the `[tls]` certificate). Mutual TLS for the control
  plane alone: `client_ca = /etc/berth/ops-ca.pem` and `verify_client = require` (or
  `optional`) ask admin clients for a certificate chained to that CA while the public listeners
  take anyone; a bearer token is still required.
- Every call that changes something is audited: one line in server.log and one in
  `admin-audit.log` (`berthd log -s admin-audit`): time, token label, client, method, path,
  status.

## Errors

Every failure answers `{"error": {"code": "...", "message": "...", "details": ...}}` with the
HTTP status (400, 401, 403, 404, 405, 409, 412, 422, 428, 429, 500, 503).

## Configuration apply

`GET /api/v1/config` returns the files and a `hash`, also sent as the `ETag`. `PUT
/api/v1/config` takes `{"files": [{"path", "text"}]}` (files not named keep their text) and
`If-Match: <hash>`: 428 without it, 412 when the files changed underneath (also by hand on
disk), 422 with `diagnostics` when the proposed configuration is invalid (nothing is written).
Otherwise each changed file is backed up (`admin-history/` beside the token file) and replaced
atomically, the server reloads and the answer says `{"generation", "result", "diagnostics"}`;
when the reload fails the previous files are written back and the running generation stays.
Reloads need worker processes (`workers` > 0) and a `pid_file` (the control socket). The admin
process itself is kept across reloads unless `[admin]`, `[server]`, `[berth]`, `[cron]` or
`[mailer]` changed, so its event streams survive an apply.

`PUT /api/v1/config?canary=60s` validates and writes the files like any PUT and answers 202
as soon as ONE HTTP worker of the new generation serves beside the old ones (the kernel shares
new connections between them; the rest of the new generation and changed non-HTTP services
wait). For the window the canary's 5xx ratio is compared with the old workers' over the same
seconds: the canary crashing decides at once, and a ratio above both 5% and twice the old
workers' (with at least 5 requests) rolls back — the canary stops and the previous files are
written back; the old generation never stopped. Otherwise it rolls forward: the rest of the new
generation starts and the old one drains, as in a reload. `GET /api/v1/config/canary` shows the
state (`watching`, `rolled_forward`, `rolled_back`), the canary's pid, both ratios and request
counts, crashes and the reason; the verdict is audited. While a canary waits, other applies and
reloads are refused. The control socket verbs behind it are `reload canary`, `reload commit`
and `reload abort`.

## Endpoints

| Method | Path | Scope | Changes | What |
|---|---|---|---|---|
)"_s;
    for (const HandlerSpec &spec : handlerSpecs()) {
        out += u"| %1 | `/api/v1%2` | %3 | %4 | %5 |\n"_s.arg(
            QString::fromLatin1(spec.method), QString(spec.path).replace(u"+}"_s, u"}"_s),
            scopeName(spec.scope), spec.mutates ? u"yes"_s : u"no"_s, spec.help);
    }
    out += uR"(
`GET /api/v1/openapi.json` describes the same table as OpenAPI 3.

## Client library

`Berth::Client::AdminClient` (common/adminclient/, Qt Core and Network only) is the C++ client
berth-admin uses: every call returns at once and its result arrives as a signal (or `failed`
with the error's status, code, message and details); the two event streams are parsed as
Server-Sent Events and reconnect by themselves with exponential back-off, a log follow resuming
at its `Last-Event-ID`. GUI code is written against the abstract `AdminConnection`, which tests
replace with a fake.
)"_s;
    return out;
}

} // namespace Berth::Admin
