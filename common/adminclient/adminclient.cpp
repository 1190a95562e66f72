#include "adminclient.h"
#include "localhttp.h"

#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QUrlQuery>

#include <utility>

namespace Berth::Client {

using namespace Qt::StringLiterals;

AdminClient::AdminClient(const QUrl &base, const QString &token, QObject *parent)
    : AdminConnection(parent)
    , m_network(new QNetworkAccessManager(this))
    , m_base(base)
    , m_socketPath(socketPathOf(base))
    , m_token(token.toUtf8())
{
    m_stats.name = u"stats"_s;
    for (Stream *stream : {&m_stats, &m_log}) {
        stream->retry.setSingleShot(true);
        connect(&stream->retry, &QTimer::timeout, this, [this, stream] { openStream(*stream); });
    }
}

AdminClient::~AdminClient()
{
    stopStream(m_stats);
    stopStream(m_log);
}

void AdminClient::setBackoff(int firstMs, int capMs)
{
    m_backoffFirstMs = firstMs;
    m_backoffCapMs = capMs;
}

int AdminClient::backoffDelay(int failures, int firstMs, int capMs)
{
    qint64 delay = firstMs;
    for (int i = 1; i < failures && delay < capMs; ++i)
        delay *= 2;
    return int(qMin<qint64>(delay, capMs));
}

QString AdminClient::socketPathOf(const QUrl &url)
{
    if (url.scheme() == u"unix"_s || (url.scheme().isEmpty() && url.path().startsWith(u'/')))
        return url.path();
    return {};
}

QByteArray AdminClient::localTarget(const QString &path)
{
    return "/api/v1" + path.toUtf8();
}

QNetworkRequest AdminClient::request(const QString &path) const
{
    QUrl url = m_base;
    const qsizetype q = path.indexOf(u'?');
    url.setPath(url.path().chopped(url.path().endsWith(u'/') ? 1 : 0) + u"/api/v1"_s +
                path.left(q));
    if (q >= 0)
        url.setQuery(path.mid(q + 1));
    QNetworkRequest request(url);
    request.setRawHeader("Authorization", "Bearer " + m_token);
    request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    return request;
}

AdminError AdminClient::errorOf(int status, const QByteArray &body, const QString &errorString)
{
    AdminError error;
    error.status = status;
    const QJsonObject object = QJsonDocument::fromJson(body).object().value(u"error"_s).toObject();
    if (!object.isEmpty()) {
        error.code = object.value(u"code"_s).toString();
        error.message = object.value(u"message"_s).toString();
        error.details = object.value(u"details"_s);
    } else {
        error.code = error.status == 0 ? u"unreachable"_s : u"http_error"_s;
        error.message = errorString;
    }
    return error;
}

void AdminClient::complete(const QString &operation, int status, const QByteArray &body,
                           const QString &errorString,
                           const std::function<void(const QJsonObject &)> &done)
{
    if (status < 200 || status >= 300) {
        Q_EMIT failed(operation, errorOf(status, body, errorString));
        return;
    }
    done(QJsonDocument::fromJson(body).object());
}

void AdminClient::send(const QString &operation, const QByteArray &method, const QString &path,
                       const QByteArray &body, const QByteArray &ifMatch,
                       std::function<void(const QJsonObject &)> done)
{
    if (!m_socketPath.isEmpty()) {
        LocalHttpReply::Headers headers{{"Authorization", "Bearer " + m_token}};
        if (!body.isEmpty())
            headers.emplaceBack("Content-Type", "application/json");
        if (!ifMatch.isEmpty())
            headers.emplaceBack("If-Match", '"' + ifMatch + '"');
        auto *reply =
            new LocalHttpReply(m_socketPath, method, localTarget(path), headers, body, this);
        connect(reply, &LocalHttpReply::finished, this, [this, reply, operation, done] {
            reply->deleteLater();
            // A response cut short is no answer at all.
            const int status = reply->errorString().isEmpty() ? reply->status() : 0;
            complete(operation, status, reply->readAll(), reply->errorString(), done);
        });
        return;
    }
    QNetworkRequest req = request(path);
    if (!body.isEmpty())
        req.setHeader(QNetworkRequest::ContentTypeHeader, u"application/json"_s);
    if (!ifMatch.isEmpty())
        req.setRawHeader("If-Match", '"' + ifMatch + '"');
    QNetworkReply *reply = m_network->sendCustomRequest(req, method, body);
    connect(reply, &QNetworkReply::finished, this, [this, reply, operation, done] {
        reply->deleteLater();
        complete(operation, reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(),
                 reply->readAll(), reply->errorString(), done);
    });
}

namespace {

QByteArray filesBody(const QList<ConfigFile> &files)
{
    QJsonArray list;
    for (const ConfigFile &f : files)
        list.append(QJsonObject{{u"path"_s, f.path}, {u"text"_s, f.text}});
    return QJsonDocument(QJsonObject{{u"files"_s, list}}).toJson(QJsonDocument::Compact);
}

} // namespace

void AdminClient::fetchInfo()
{
    send(u"info"_s, "GET", u"/info"_s, {}, {},
         [this](const QJsonObject &o) { Q_EMIT infoReceived(o); });
}

void AdminClient::fetchChildren()
{
    send(u"children"_s, "GET", u"/children"_s, {}, {}, [this](const QJsonObject &o) {
        Q_EMIT childrenReceived(o.value(u"children"_s).toArray());
    });
}

void AdminClient::fetchStats()
{
    send(u"stats"_s, "GET", u"/stats"_s, {}, {},
         [this](const QJsonObject &o) { Q_EMIT statsReceived(o); });
}

void AdminClient::fetchConfig()
{
    send(u"config"_s, "GET", u"/config"_s, {}, {}, [this](const QJsonObject &o) {
        QList<ConfigFile> files;
        for (const QJsonValue &f : o.value(u"files"_s).toArray())
            files.append({f.toObject().value(u"path"_s).toString(),
                          f.toObject().value(u"text"_s).toString()});
        Q_EMIT configReceived(files, o.value(u"hash"_s).toString(),
                              o.value(u"generation"_s).toInteger());
    });
}

void AdminClient::validateConfig(const QList<ConfigFile> &files)
{
    send(u"validate"_s, "POST", u"/config/validate"_s, filesBody(files), {},
         [this](const QJsonObject &o) {
             Q_EMIT validated(o.value(u"valid"_s).toBool(), o.value(u"diagnostics"_s).toArray());
         });
}

void AdminClient::applyConfig(const QList<ConfigFile> &files, const QString &ifMatch)
{
    send(u"apply"_s, "PUT", u"/config"_s, filesBody(files), ifMatch.toUtf8(),
         [this](const QJsonObject &o) { Q_EMIT applied(o); });
}

void AdminClient::reload()
{
    send(u"reload"_s, "POST", u"/reload"_s, {}, {},
         [this](const QJsonObject &o) { Q_EMIT reloaded(o); });
}

void AdminClient::tailLog(const QString &name, int lines, const QString &filter)
{
    QUrlQuery query;
    query.addQueryItem(u"lines"_s, QString::number(lines));
    if (!filter.isEmpty())
        query.addQueryItem(u"filter"_s, filter);
    const QString path = u"/logs/%1?%2"_s.arg(QString::fromUtf8(QUrl::toPercentEncoding(name)),
                                              query.toString(QUrl::FullyEncoded));
    send(u"log"_s, "GET", path, {}, {}, [this, name](const QJsonObject &o) {
        QStringList lines;
        for (const QJsonValue &l : o.value(u"lines"_s).toArray())
            lines.append(l.toString());
        Q_EMIT logTail(name, lines);
    });
}

void AdminClient::startStatsStream(int intervalMs)
{
    stopStream(m_stats);
    m_stats.path = u"/stats/stream?interval=%1ms"_s.arg(intervalMs);
    m_stats.active = true;
    m_stats.failures = 0;
    openStream(m_stats);
}

void AdminClient::stopStatsStream()
{
    stopStream(m_stats);
}

void AdminClient::followLog(const QString &name)
{
    stopStream(m_log);
    m_logName = name;
    m_log.name = u"log:"_s + name;
    m_log.path = u"/logs/%1?follow=1"_s.arg(QString::fromUtf8(QUrl::toPercentEncoding(name)));
    m_log.parser = SseParser();
    m_log.active = true;
    m_log.failures = 0;
    openStream(m_log);
}

void AdminClient::stopLogFollow()
{
    stopStream(m_log);
}

void AdminClient::listLogs()
{
    send(u"logs"_s, "GET", u"/logs"_s, {}, {},
         [this](const QJsonObject &o) { Q_EMIT logsListed(o.value(u"logs"_s).toArray()); });
}

void AdminClient::restartChild(qint64 pid)
{
    send(u"restart"_s, "POST", u"/children/%1/restart"_s.arg(pid), {}, {},
         [this, pid](const QJsonObject &o) { Q_EMIT childRestarted(pid, o); });
}

void AdminClient::daemonAction(const QString &name, const QString &action)
{
    send(u"daemon"_s, "POST",
         u"/daemons/%1/%2"_s.arg(QString::fromUtf8(QUrl::toPercentEncoding(name)),
                                 QString::fromUtf8(QUrl::toPercentEncoding(action))),
         {}, {},
         [this, name, action](const QJsonObject &o) { Q_EMIT daemonActionDone(name, action, o); });
}

void AdminClient::runCronJob(const QString &job)
{
    // The id is FILE:LINE; its slashes stay (the route takes several segments).
    send(u"cron"_s, "POST",
         u"/cron/%1/run"_s.arg(QString::fromUtf8(QUrl::toPercentEncoding(job, "/:"))), {}, {},
         [this](const QJsonObject &o) { Q_EMIT cronJobStarted(o); });
}

void AdminClient::retryMail()
{
    send(u"mail"_s, "POST", u"/mail/retry"_s, {}, {},
         [this](const QJsonObject &o) { Q_EMIT mailRetried(o); });
}

void AdminClient::fetchCron()
{
    send(u"cronjobs"_s, "GET", u"/cron"_s, {}, {}, [this](const QJsonObject &o) {
        Q_EMIT cronReceived(o.value(u"jobs"_s).toArray(), o.value(u"timezone"_s).toString());
    });
}

void AdminClient::fetchMail()
{
    send(u"mailqueue"_s, "GET", u"/mail"_s, {}, {}, [this](const QJsonObject &o) {
        Q_EMIT mailReceived(o.value(u"messages"_s).toArray(), o.value(u"total"_s).toInt());
    });
}

void AdminClient::fetchGroups()
{
    send(u"groups"_s, "GET", u"/groups"_s, {}, {},
         [this](const QJsonObject &o) { Q_EMIT groupsReceived(o.value(u"groups"_s).toArray()); });
}

void AdminClient::drainMember(const QString &group, const QString &member, bool undo)
{
    send(u"drain"_s, "POST",
         u"/groups/%1/members/%2/drain%3"_s.arg(
             QString::fromUtf8(QUrl::toPercentEncoding(group)),
             QString::fromUtf8(QUrl::toPercentEncoding(member, ":")),
             undo ? u"?undo=1"_s : QString()),
         {}, {}, [this, group, member, undo](const QJsonObject &) {
             Q_EMIT memberDrained(group, member, undo);
         });
}

void AdminClient::fetchConfigHistory()
{
    send(u"history"_s, "GET", u"/config/history"_s, {}, {}, [this](const QJsonObject &o) {
        Q_EMIT configHistoryReceived(o.value(u"history"_s).toArray());
    });
}

void AdminClient::rollbackConfig(qint64 generation)
{
    send(u"rollback"_s, "POST", u"/config/rollback/%1"_s.arg(generation), {}, {},
         [this](const QJsonObject &o) { Q_EMIT rolledBack(o); });
}

void AdminClient::applyConfigCanary(const QList<ConfigFile> &files, const QString &ifMatch,
                                    int windowSeconds)
{
    send(u"apply"_s, "PUT", u"/config?canary=%1s"_s.arg(windowSeconds), filesBody(files),
         ifMatch.toUtf8(), [this](const QJsonObject &o) { Q_EMIT applied(o); });
}

void AdminClient::fetchCanary()
{
    send(u"canary"_s, "GET", u"/config/canary"_s, {}, {},
         [this](const QJsonObject &o) { Q_EMIT canaryReceived(o); });
}

void AdminClient::stopStream(Stream &stream)
{
    stream.active = false;
    stream.retry.stop();
    if (QNetworkReply *reply = stream.reply) {
        stream.reply = nullptr;
        reply->disconnect(this);
        reply->abort();
        reply->deleteLater();
    }
    if (LocalHttpReply *local = stream.local) {
        stream.local = nullptr;
        local->disconnect(this);
        local->abort();
        local->deleteLater();
    }
}

void AdminClient::streamHead(Stream &stream, int status)
{
    if (status == 200) {
        stream.failures = 0;
        Q_EMIT streamState(stream.name, true, 0);
    }
}

void AdminClient::streamFinished(Stream &stream, int status, const QByteArray &body,
                                 const QString &errorString)
{
    if (status != 200 && status != 0) {
        // Refused (401, 403, 404): retrying would not help.
        Q_EMIT failed(stream.name, errorOf(status, body, errorString));
        stream.active = false;
        return;
    }
    streamEnded(stream);
}

void AdminClient::openStream(Stream &stream)
{
    if (!stream.active)
        return;
    const QByteArray lastId = stream.parser.lastEventId().toUtf8();
    stream.parser.reset();
    if (!m_socketPath.isEmpty()) {
        LocalHttpReply::Headers headers{{"Authorization", "Bearer " + m_token},
                                        {"Accept", "text/event-stream"}};
        if (!lastId.isEmpty())
            headers.emplaceBack("Last-Event-ID", lastId);
        auto *reply =
            new LocalHttpReply(m_socketPath, "GET", localTarget(stream.path), headers, {}, this);
        stream.local = reply;
        connect(reply, &LocalHttpReply::metaDataChanged, this,
                [this, &stream, reply] { streamHead(stream, reply->status()); });
        connect(reply, &LocalHttpReply::readyRead, this, [this, &stream, reply] {
            if (reply->status() == 200)
                streamEvents(stream, stream.parser.feed(reply->readAll()));
        });
        connect(reply, &LocalHttpReply::finished, this, [this, &stream, reply] {
            reply->deleteLater();
            if (stream.local != reply)
                return;
            stream.local = nullptr;
            streamFinished(stream, reply->status(), reply->readAll(), reply->errorString());
        });
        return;
    }
    QNetworkRequest req = request(stream.path);
    req.setRawHeader("Accept", "text/event-stream");
    if (!lastId.isEmpty())
        req.setRawHeader("Last-Event-ID", lastId);
    QNetworkReply *reply = m_network->get(req);
    stream.reply = reply;
    connect(reply, &QNetworkReply::metaDataChanged, this, [this, &stream, reply] {
        streamHead(stream, reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt());
    });
    connect(reply, &QNetworkReply::readyRead, this, [this, &stream, reply] {
        if (reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt() != 200)
            return;
        streamEvents(stream, stream.parser.feed(reply->readAll()));
    });
    connect(reply, &QNetworkReply::finished, this, [this, &stream, reply] {
        reply->deleteLater();
        if (stream.reply != reply)
            return;
        stream.reply = nullptr;
        streamFinished(stream, reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(),
                       reply->readAll(), reply->errorString());
    });
}

void AdminClient::streamEnded(Stream &stream)
{
    if (!stream.active)
        return;
    ++stream.failures;
    const int delay = backoffDelay(stream.failures, m_backoffFirstMs, m_backoffCapMs);
    Q_EMIT streamState(stream.name, false, delay);
    stream.retry.start(delay);
}

void AdminClient::streamEvents(Stream &stream, const QList<SseEvent> &events)
{
    for (const SseEvent &event : events) {
        if (&stream == &m_stats) {
            if (event.event == u"stats"_s)
                Q_EMIT statsEvent(QJsonDocument::fromJson(event.data.toUtf8()).object());
        } else if (event.event == u"message"_s) {
            Q_EMIT logLine(m_logName, event.data, event.id.toLongLong());
        }
    }
}

} // namespace Berth::Client
