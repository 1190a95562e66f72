#include "mailapp.h"

#include "http/exchange.h"
#include "http/formencoding.h"
#include "pipeline/pipeline.h"
#include "runtime/offloadpool.h"
#include "runtime/servercontext.h"

#include <config/config.h>

#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>

Q_LOGGING_CATEGORY(lcMailApp, "berth.mail")

namespace Berth::Apps {

using namespace Qt::StringLiterals;

namespace {

void respondJson(Http::Exchange &exchange, int status, const QJsonObject &object)
{
    exchange.response().setHeader("Cache-Control", "no-store");
    exchange.respond(status, "application/json",
                     QJsonDocument(object).toJson(QJsonDocument::Compact) + '\n');
}

void respondError(Http::Exchange &exchange, int status, const QString &reason)
{
    respondJson(exchange, status, QJsonObject{{u"error"_s, reason}});
}

bool startsWithType(QByteArrayView contentType, QByteArrayView type)
{
    const QByteArrayView bare = contentType.trimmed();
    return bare.size() >= type.size() &&
           QByteArrayView(bare.first(type.size())).compare(type, Qt::CaseInsensitive) == 0 &&
           (bare.size() == type.size() || bare[type.size()] == ';' || bare[type.size()] == ' ');
}

} // namespace

MailApp::MailApp(Mail::Spool spool, Net::AddressList allowed, Core::OffloadPool *pool)
    : m_spool(std::move(spool))
    , m_allowed(std::move(allowed))
    , m_pool(pool)
{}

MailApp::~MailApp() = default;

bool MailApp::start(QString *)
{
    QString error;
    if (!m_spool.dir().isEmpty() && !m_spool.prepare(&error))
        qCWarning(lcMailApp).noquote() << error;
    return true;
}

std::optional<Mail::Message> MailApp::parseBody(QByteArrayView contentType, const QByteArray &body,
                                                QString *error)
{
    if (startsWithType(contentType, "application/x-www-form-urlencoded")) {
        QJsonObject object;
        Http::forEachFormPair(body, [&](QByteArrayView rawKey, QByteArrayView rawValue) {
            const QString key = QString::fromUtf8(Http::decodeFormComponent(rawKey));
            if (!object.contains(key))
                object.insert(key, QString::fromUtf8(Http::decodeFormComponent(rawValue)));
        });
        for (const QString &internal :
             {u"id"_s, u"message_id"_s, u"date"_s, u"headers"_s, u"attachments"_s})
            object.remove(internal);
        return Mail::Message::fromJson(object, error);
    }
    if (!contentType.isEmpty() && !startsWithType(contentType, "application/json")) {
        *error = u"Content-Type must be application/json or application/x-www-form-urlencoded"_s;
        return std::nullopt;
    }
    QJsonParseError parse;
    const QJsonDocument doc = QJsonDocument::fromJson(body, &parse);
    if (!doc.isObject()) {
        *error = parse.error == QJsonParseError::NoError
                     ? u"the body is not a JSON object"_s
                     : u"invalid JSON: "_s + parse.errorString();
        return std::nullopt;
    }
    QJsonObject object = doc.object();
    // The spool sets these; a client must not choose another message's id.
    for (const QString &internal : {u"id"_s, u"message_id"_s, u"date"_s})
        object.remove(internal);
    return Mail::Message::fromJson(object, error);
}

Pipeline::Outcome MailApp::handle(Http::Exchange &exchange)
{
    const Http::Request &request = exchange.request();
    if (!m_allowed.contains(request.peerAddress)) {
        Http::respondWithError(exchange, 403);
        return Pipeline::Outcome::Answered;
    }
    if (request.method() != "POST") {
        exchange.response().setHeader("Allow", "POST");
        Http::respondWithError(exchange, 405);
        return Pipeline::Outcome::Answered;
    }
    // base64 makes attachments a third bigger, and JSON escapes add some more.
    const qint64 maxBytes = m_spool.maxMessageBytes() * 3 / 2 + 64 * 1024;
    if (request.head.contentLength > maxBytes) {
        respondError(exchange, 413, u"request body over the mail size limit"_s);
        return Pipeline::Outcome::Answered;
    }
    struct Collected
    {
        QByteArray body;
        bool done = false;
    };
    auto collected = std::make_shared<Collected>();
    Http::Exchange *ex = &exchange;
    exchange.readBody(
        [collected, ex, maxBytes](QByteArrayView chunk) {
            if (collected->done)
                return;
            if (collected->body.size() + chunk.size() > maxBytes) {
                collected->done = true;
                collected->body.clear();
                respondError(*ex, 413, u"request body over the mail size limit"_s);
                return;
            }
            collected->body.append(chunk);
        },
        [this, collected, ex] {
            if (collected->done)
                return;
            collected->done = true;
            queue(*ex, collected->body);
        });
    return Pipeline::Outcome::Answered;
}

Mail::QueueResult MailApp::parseAndQueue(const Mail::Spool &spool, const QByteArray &contentType,
                                         const QByteArray &body)
{
    QString error;
    std::optional<Mail::Message> message = parseBody(contentType, body, &error);
    if (!message) {
        Mail::QueueResult result;
        result.error = Mail::QueueError::Invalid;
        result.reason = error;
        return result;
    }
    return spool.queue(std::move(*message)); // validates first: nothing written when invalid
}

void MailApp::queue(Http::Exchange &exchange, const QByteArray &body)
{
    const auto answer = [](Http::Exchange &ex, const Mail::QueueResult &result) {
        if (result.ok())
            respondJson(ex, 202, QJsonObject{{u"id"_s, result.id}});
        else
            respondError(ex, result.httpStatus(), result.reason);
    };
    const QByteArray contentType = exchange.request().header("Content-Type").toByteArray();
    if (!m_pool) { // tests without a server: inline
        answer(exchange, parseAndQueue(m_spool, contentType, body));
        return;
    }
    const Http::ExchangeHandle handle = exchange.handle();
    const std::weak_ptr<int> lifetime = m_lifetime;
    // Parsing (up to tens of MB of JSON and base64) and the fsync both run on the pool: the
    // event loop only collects the body and answers. The spool is copied into the job: the app
    // may be replaced (reload) while it runs.
    const bool submitted = m_pool->submit(
        [spool = m_spool, contentType, body] { return parseAndQueue(spool, contentType, body); },
        [lifetime, handle, answer](Mail::QueueResult result) {
            if (lifetime.expired())
                return;
            if (Http::Exchange *ex = handle.get())
                answer(*ex, result);
        });
    if (!submitted)
        respondError(exchange, 503, u"server busy: the offload queue is full"_s);
}

void registerMailApp(Pipeline::AppRegistry &registry)
{
    registry.add(u"berth.mail"_s, [](const Pipeline::AppSetup &setup) {
        const Config::Config &config = setup.config;
        Net::AddressList allowed = Net::AddressList::fromConfig(config, setup.section, u"allow"_s);
        Mail::Spool spool = Mail::Spool::fromConfig(config);
        if (spool.dir().isEmpty())
            config.addDiagnostic(
                {Config::Diagnostic::Severity::Error, config.location(setup.section, u"call"_s),
                 u"[%1] berth.mail needs [mailer] spool_dir"_s.arg(setup.section)});
        Core::OffloadPool *pool = setup.server ? setup.server->offload : nullptr;
        return std::unique_ptr<Pipeline::App>(
            std::make_unique<MailApp>(std::move(spool), std::move(allowed), pool));
    });
}

} // namespace Berth::Apps
