#include "composeapp.h"

#include "http/exchange.h"
#include "http/formencoding.h"
#include "http/identity.h"
#include "pipeline/appregistry.h"

#include <config/config.h>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>

namespace Berth::Compose {

namespace {

const QString CallPrefix = QStringLiteral("call_");

// A JSON string literal, escaped by Qt's writer.
QByteArray jsonString(const QString &text)
{
    QByteArray array = QJsonDocument(QJsonArray{text}).toJson(QJsonDocument::Compact);
    return array.sliced(1, array.size() - 2);
}

// The body as JSON: the bytes themselves when they are one JSON value (so numbers keep their
// precision), else a JSON string of them.
QByteArray embedBody(const QByteArray &body)
{
    const QByteArray trimmed = body.trimmed();
    if (!trimmed.isEmpty()) {
        QJsonParseError error;
        const QJsonDocument wrapped = QJsonDocument::fromJson("[" + trimmed + "]", &error);
        if (error.error == QJsonParseError::NoError && wrapped.array().size() == 1)
            return trimmed;
    }
    return jsonString(QString::fromUtf8(body));
}

// The value of {name} for this request: {1}, {2}... the path segments after the mount point;
// {user} the authenticated user, then the query parameter; any other name the query parameter.
std::optional<QByteArray> placeholder(const Http::Request &request, const QByteArray &name)
{
    bool isNumber = false;
    const int index = name.toInt(&isNumber);
    if (isNumber) {
        const QList<QByteArray> segments = request.pathInfo.split('/');
        int seen = 0;
        for (const QByteArray &segment : segments) {
            if (segment.isEmpty())
                continue;
            if (++seen == index)
                return segment;
        }
        return std::nullopt;
    }
    if (name == "user") {
        const QString user = Http::userOf(request);
        if (!user.isEmpty())
            return user.toUtf8();
    }
    const QByteArray value = Http::formValue(request.head.query, name);
    if (value.isNull())
        return std::nullopt;
    return value;
}

} // namespace

ComposeApp::ComposeApp(Settings settings,
                       QHash<QString, std::shared_ptr<Subrequests::GroupTarget>> groups)
    : m_settings(std::move(settings))
    , m_groups(std::move(groups))
{}

Pipeline::Outcome ComposeApp::handle(Http::Exchange &exchange)
{
    const Http::Request &request = exchange.request();
    // Calls whose target can't be filled are not sent: they fail at once, in their place.
    std::vector<Subrequests::Call> calls;
    std::vector<int> sentIndex; // per template: index into calls, or -1
    std::vector<QString> earlyError;
    for (const CallTemplate &tpl : m_settings.calls) {
        QByteArray target;
        QString error;
        const bool ok = expandTarget(
            tpl.target, [&](const QByteArray &name) { return placeholder(request, name); }, &target,
            &error);
        if (!ok) {
            sentIndex.push_back(-1);
            earlyError.push_back(error);
            continue;
        }
        Subrequests::Call call;
        call.method = tpl.method;
        call.target = target;
        call.group = tpl.group.isEmpty() ? nullptr : m_groups.value(tpl.group.toLower()).get();
        call.inherit = m_settings.inherit;
        call.timeout = m_settings.timeout;
        call.maxBody = m_settings.maxBody;
        call.headers.emplace_back(QByteArrayLiteral("Accept"),
                                  QByteArrayLiteral("application/json"));
        sentIndex.push_back(int(calls.size()));
        earlyError.push_back(QString());
        calls.push_back(std::move(call));
    }
    Subrequests::BatchOptions options;
    options.deadline = m_settings.deadline;
    options.router = m_router;
    Http::ExchangeHandle handle = exchange.handle();
    const QList<CallTemplate> templates = m_settings.calls;
    Subrequests::Batch::start(
        exchange, std::move(calls), options,
        [handle, templates, sentIndex, earlyError](std::vector<Subrequests::Result> &sent) {
            Http::Exchange *parent = handle.get();
            if (!parent)
                return;
            std::vector<Subrequests::Result> results(size_t(templates.size()));
            for (size_t i = 0; i < results.size(); ++i) {
                if (sentIndex[i] >= 0)
                    results[i] = std::move(sent[size_t(sentIndex[i])]);
                else
                    results[i].error = earlyError[i];
            }
            parent->response().setHeader("Cache-Control", "no-store");
            parent->respond(200, "application/json", combine(templates, results));
        });
    return Pipeline::Outcome::Answered;
}

QByteArray ComposeApp::combine(const QList<CallTemplate> &calls,
                               const std::vector<Subrequests::Result> &results)
{
    QByteArray out = "{";
    QByteArray meta = "\"_calls\":{";
    for (qsizetype i = 0; i < calls.size(); ++i) {
        const Subrequests::Result &result = results[size_t(i)];
        QString error = result.error;
        if (error.isEmpty() && result.status >= 500)
            error = QStringLiteral("status %1").arg(result.status);
        const QByteArray name = jsonString(calls[i].name);
        out += name + ':' + (error.isEmpty() ? embedBody(result.body) : QByteArray("null")) + ',';
        meta += name + ":{\"status\":" + QByteArray::number(result.status) +
                ",\"ms\":" + QByteArray::number(result.elapsedMs);
        if (!error.isEmpty())
            meta += ",\"error\":" + jsonString(error);
        meta += '}';
        if (i + 1 < calls.size())
            meta += ',';
    }
    out += meta + "}}\n";
    return out;
}

void registerComposeApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.compose"),
                 [](const Pipeline::AppSetup &setup) -> std::unique_ptr<Pipeline::App> {
                     const Config::Config &config = setup.config;
                     const QString &section = setup.section;
                     ComposeApp::Settings settings;
                     QHash<QString, std::shared_ptr<Subrequests::GroupTarget>> groups;
                     bool ok = true;
                     auto report = [&](const QString &key, const QString &message) {
                         config.addDiagnostic(
                             {Config::Diagnostic::Severity::Error, config.location(section, key),
                              QStringLiteral("[%1] %2: %3").arg(section, key, message)});
                         ok = false;
                     };
                     QStringList seen;
                     if (const Config::Section *own = config.section(section)) {
                         // In file order; a key given twice counts once, with its last value.
                         for (const Config::Entry &entry : own->entries) {
                             if (!entry.key.startsWith(CallPrefix) || seen.contains(entry.key))
                                 continue;
                             seen.append(entry.key);
                             const QString value = own->find(entry.key)->value;
                             CallTemplate call;
                             QString error;
                             const QString name = entry.key.mid(CallPrefix.size());
                             if (name.isEmpty() || name.startsWith(u'_') ||
                                 !CallTemplate::parse(name, value, &call, &error)) {
                                 report(entry.key, error.isEmpty()
                                                       ? QStringLiteral("a call needs a name")
                                                       : error);
                                 continue;
                             }
                             const QString group = call.group.toLower();
                             if (!group.isEmpty() && !config.hasSection(group)) {
                                 report(entry.key, QStringLiteral("no [%1] section").arg(group));
                                 continue;
                             }
                             if (!group.isEmpty() && !groups.contains(group)) {
                                 std::unique_ptr<Subrequests::GroupTarget> target =
                                     Subrequests::GroupTarget::open(group, setup);
                                 if (!target) {
                                     ok = false;
                                     continue;
                                 }
                                 groups.insert(group, std::move(target));
                             }
                             settings.calls.append(call);
                         }
                     }
                     if (settings.calls.isEmpty() && ok)
                         report(QString(), QStringLiteral("no call_NAME key: nothing to call"));
                     if (!ok)
                         return nullptr;
                     settings.timeout = config.getDuration(section, QStringLiteral("timeout"));
                     settings.deadline = config.getDuration(section, QStringLiteral("deadline"));
                     settings.maxBody = config.getSize(section, QStringLiteral("max_body"));
                     settings.inherit = config.getBool(section, QStringLiteral("inherit"));
                     return std::make_unique<ComposeApp>(std::move(settings), std::move(groups));
                 });
}

} // namespace Berth::Compose
