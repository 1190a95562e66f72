#include "debugapp.h"

#include "http/exchange.h"
#include "pipeline/pipeline.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <config/config.h>
#include <config/dump.h>

#include <QCoreApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSysInfo>

namespace Berth::Apps {

namespace {

QString htmlEscape(const QString &text)
{
    return text.toHtmlEscaped();
}

void appendTable(QString &html, const QString &title, const QJsonObject &object)
{
    html += QStringLiteral("<h2>%1</h2>\n<table>\n").arg(htmlEscape(title));
    for (auto it = object.begin(); it != object.end(); ++it) {
        QString value =
            it.value().isString()
                ? it.value().toString()
                : QString::fromUtf8(
                      QJsonDocument(QJsonArray{it.value()}).toJson(QJsonDocument::Compact))
                      .mid(1)
                      .chopped(1);
        html += QStringLiteral("<tr><th>%1</th><td>%2</td></tr>\n")
                    .arg(htmlEscape(it.key()), htmlEscape(value));
    }
    html += QStringLiteral("</table>\n");
}

} // namespace

DebugApp::DebugApp(Core::ServerContext *server, Net::AddressList allowed)
    : m_server(server)
    , m_allowed(std::move(allowed))
{}

bool DebugApp::isSecretKey(const QString &key)
{
    static const char *const words[] = {"secret", "password", "passphrase", "token", "passwd"};
    for (const char *w : words) {
        if (key.contains(QLatin1String(w), Qt::CaseInsensitive))
            return true;
    }
    return false;
}

QJsonObject DebugApp::report(const Http::Exchange &exchange) const
{
    QJsonObject server;
    server.insert(QStringLiteral("version"), QStringLiteral(BERTH_VERSION));
    server.insert(QStringLiteral("qt"), QString::fromLatin1(qVersion()));
    server.insert(QStringLiteral("host"), QSysInfo::machineHostName());
    server.insert(QStringLiteral("kernel"), QSysInfo::kernelVersion());
    server.insert(QStringLiteral("pid"), QCoreApplication::applicationPid());
    if (m_server) {
        server.insert(QStringLiteral("name"), m_server->serverName);
        server.insert(QStringLiteral("started"), m_server->startTime.toString(Qt::ISODate));
        server.insert(QStringLiteral("uptime_seconds"),
                      m_server->startTime.secsTo(QDateTime::currentDateTimeUtc()));
        server.insert(QStringLiteral("listeners"), QJsonArray::fromStringList(m_server->listeners));
        server.insert(QStringLiteral("draining"), m_server->isDraining());
    }

    QJsonObject workers;
    QJsonObject stats;
    if (m_server && m_server->stats) {
        using S = Core::StatsRegistry;
        // One process today (workers = 0): its event-loop threads share the counters below.
        workers.insert(QStringLiteral("mode"), QStringLiteral("single process"));
        workers.insert(QStringLiteral("threads"), m_server->threads);
        workers.insert(QStringLiteral("active_connections"),
                       m_server->stats->value(S::ActiveConnections));
        for (const S::Entry &e : m_server->stats->snapshot())
            stats.insert(e.name, e.value);
    }

    QJsonObject config;
    if (m_server && m_server->config) {
        const Config::Config &c = *m_server->config;
        config.insert(QStringLiteral("files"), QJsonArray::fromStringList(c.files()));
        for (const QString &name : c.sectionNames()) {
            const Config::Section *section = c.section(name);
            if (section->isRawLines()) {
                QJsonArray lines;
                for (const Config::RawLine &line : section->lines)
                    lines.append(line.text);
                config.insert(name, lines);
                continue;
            }
            QJsonObject keys;
            for (const Config::Entry &entry : section->entries)
                keys.insert(entry.key, isSecretKey(entry.key) && !entry.value.isEmpty()
                                           ? QStringLiteral("********")
                                           : Config::maskedValue(c, name, entry.key, entry.value));
            config.insert(name, keys);
        }
    }

    const Http::Request &r = exchange.request();
    QJsonObject request;
    request.insert(QStringLiteral("method"), QString::fromLatin1(r.method()));
    request.insert(QStringLiteral("target"), QString::fromUtf8(r.head.target));
    request.insert(QStringLiteral("path"), QString::fromUtf8(r.path));
    request.insert(QStringLiteral("script_name"), QString::fromUtf8(r.scriptName));
    request.insert(QStringLiteral("path_info"), QString::fromUtf8(r.pathInfo));
    request.insert(QStringLiteral("client"),
                   QStringLiteral("%1:%2").arg(r.peerAddress.toString()).arg(r.peerPort));
    request.insert(QStringLiteral("secure"), r.secure);
    request.insert(QStringLiteral("txn"), QString::fromLatin1(r.txnId));
    QJsonObject headers;
    for (const Http::HeaderField &field : r.head.fields) {
        const QString name = QString::fromLatin1(field.name);
        const bool secret =
            name.compare(QLatin1String("authorization"), Qt::CaseInsensitive) == 0 ||
            name.compare(QLatin1String("cookie"), Qt::CaseInsensitive) == 0;
        headers.insert(name, secret ? QStringLiteral("********") : QString::fromUtf8(field.value));
    }
    request.insert(QStringLiteral("headers"), headers);

    QJsonObject all;
    all.insert(QStringLiteral("server"), server);
    all.insert(QStringLiteral("workers"), workers);
    all.insert(QStringLiteral("stats"), stats);
    all.insert(QStringLiteral("config"), config);
    all.insert(QStringLiteral("request"), request);
    return all;
}

Pipeline::Outcome DebugApp::handle(Http::Exchange &exchange)
{
    if (!m_allowed.contains(exchange.request().peerAddress)) {
        Http::respondWithError(exchange, 403);
        return Pipeline::Outcome::Answered;
    }
    exchange.response().setHeader("Cache-Control", "no-store");
    const QJsonObject all = report(exchange);
    if (exchange.request().query().contains("format=json")) {
        exchange.respond(200, "application/json", QJsonDocument(all).toJson());
        return Pipeline::Outcome::Answered;
    }
    QString html = QStringLiteral("<!doctype html>\n<html><head><meta charset=\"utf-8\">"
                                  "<title>berthd debug</title><style>body{font-family:sans-"
                                  "serif}th{text-align:left;padding-right:1em}</style></head>"
                                  "<body>\n<h1>berthd debug</h1>\n");
    appendTable(html, QStringLiteral("Server"), all.value(QStringLiteral("server")).toObject());
    appendTable(html, QStringLiteral("Workers"), all.value(QStringLiteral("workers")).toObject());
    appendTable(html, QStringLiteral("Stats"), all.value(QStringLiteral("stats")).toObject());
    const QJsonObject config = all.value(QStringLiteral("config")).toObject();
    for (auto it = config.begin(); it != config.end(); ++it) {
        if (it.value().isObject())
            appendTable(html, QStringLiteral("[%1]").arg(it.key()), it.value().toObject());
    }
    appendTable(html, QStringLiteral("Request"), all.value(QStringLiteral("request")).toObject());
    html += QStringLiteral("</body></html>\n");
    exchange.respond(200, "text/html; charset=utf-8", html.toUtf8());
    return Pipeline::Outcome::Answered;
}

void registerDebugApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.debug"), [](const Pipeline::AppSetup &setup) {
        Net::AddressList allowed =
            Net::AddressList::fromConfig(setup.config, setup.section, QStringLiteral("allow"));
        return std::unique_ptr<Pipeline::App>(
            std::make_unique<DebugApp>(setup.server, std::move(allowed)));
    });
}

} // namespace Berth::Apps
