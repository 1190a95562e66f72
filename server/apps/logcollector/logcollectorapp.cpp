#include "logcollectorapp.h"

#include "http/exchange.h"
#include "log/logsink.h"
#include "logrecord.h"
#include "pipeline/pipeline.h"
#include "runtime/offloadpool.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <config/config.h>

#include <QDir>
#include <QFileInfo>
#include <QHash>
#include <QMutex>

#include <atomic>
#include <memory>

namespace Berth::Apps {

namespace {

struct Collected
{
    QByteArray body;
    bool done = false; // answered (413) while the body was still arriving
};

bool isFormType(QByteArrayView contentType)
{
    qsizetype end = contentType.indexOf(';');
    if (end < 0)
        end = contentType.size();
    return Http::equalsIgnoreCase(contentType.first(end).trimmed(),
                                  "application/x-www-form-urlencoded");
}

void respondOk(Http::Exchange &exchange)
{
    exchange.respond(200, "text/plain; charset=utf-8", QByteArrayLiteral("OK\n"));
}

} // namespace

std::shared_ptr<Log::LogSink> LogCollectorApp::sharedSink(const QString &path, QString *error)
{
    static QMutex mutex;
    static QHash<QString, std::weak_ptr<Log::LogSink>> sinks;
    const QString key = QDir::cleanPath(QFileInfo(path).absoluteFilePath());
    QMutexLocker lock(&mutex);
    if (std::shared_ptr<Log::LogSink> sink = sinks.value(key).lock())
        return sink;
    auto sink = std::make_shared<Log::LogSink>(key);
    if (!sink->open(error))
        return nullptr;
    sinks.insert(key, sink);
    return sink;
}

bool LogCollectorApp::open(const Options &options, QString *error)
{
    configure(options);
    return start(error);
}

bool LogCollectorApp::start(QString *error)
{
    if (m_options.file.isEmpty())
        return true; // reported by the validator (a required key); the app answers 400
    QString why;
    m_json = sharedSink(m_options.file, &why);
    if (m_json)
        m_text = sharedSink(m_options.file + QStringLiteral(".txt"), &why);
    if (m_json && m_text)
        return true;
    if (error)
        *error = QStringLiteral("[app:%1] file: %2").arg(name(), why);
    return false;
}

void LogCollectorApp::declareStats(Core::ServerContext *server)
{
    m_server = server;
    if (!server || !server->stats)
        return;
    m_recordsStat =
        server->stats->declare(name() + QStringLiteral(".records"), Core::StatType::Sum);
    m_rejectedStat =
        server->stats->declare(name() + QStringLiteral(".rejected"), Core::StatType::Sum);
}

Pipeline::Outcome LogCollectorApp::handle(Http::Exchange &exchange)
{
    const Http::Request &request = exchange.request();
    const QByteArrayView method = request.method();
    // Everything the callbacks need is captured by value: the exchange may outlive this app
    // when a reload replaces the configuration while a body is still arriving.
    const std::shared_ptr<Log::LogSink> json = m_json;
    const std::shared_ptr<Log::LogSink> text = m_text;
    const qint64 maxBytes = m_options.maxBytes;
    Core::StatsRegistry *stats = m_server ? m_server->stats : nullptr;
    const int recordsStat = m_recordsStat;
    const int rejectedStat = m_rejectedStat;
    auto reject = [stats, rejectedStat](Http::Exchange &ex, int status) {
        if (stats)
            stats->add(rejectedStat);
        Http::respondWithError(ex, status);
    };
    auto record = [=](Http::Exchange &ex, QByteArrayView data) {
        const LogRecordFields fields = parseUrlEncoded(data);
        if (fields.isEmpty() || !json || !text) {
            reject(ex, 400);
            return;
        }
        // One append per record and file: LogSink appends a whole string under its lock, so
        // the lines of a multi-line record never interleave with another thread's.
        json->append(logRecordJson(fields));
        text->append(logRecordText(fields));
        if (stats)
            stats->add(recordsStat);
        // Collected records are what someone is waiting to read: no batching, and the answer
        // says they are in both files. The files' writers say when; the event loop never
        // waits for them (a stalled disk holds this request only).
        // The writers call back from their own threads: there the handle is only copied (one
        // reference count), and looked at only back on this loop thread through the mailbox.
        const Http::ExchangeHandle handle = ex.handle();
        const std::shared_ptr<Core::ThreadMailbox> mailbox = Core::ThreadMailbox::current();
        auto remaining = std::make_shared<std::atomic<int>>(2);
        auto written = [handle, mailbox, remaining] {
            if (remaining->fetch_sub(1) != 1)
                return;
            mailbox->post([handle] {
                if (Http::Exchange *e = handle.get())
                    respondOk(*e);
            });
        };
        json->whenWritten(written);
        text->whenWritten(written);
    };

    if (method == "GET") {
        if (request.query().size() > maxBytes) {
            reject(exchange, 413);
            return Pipeline::Outcome::Answered;
        }
        record(exchange, request.query());
        return Pipeline::Outcome::Answered;
    }
    if (method != "POST") {
        exchange.response().setHeader("Allow", "GET, POST");
        reject(exchange, 405);
        return Pipeline::Outcome::Answered;
    }
    const QByteArrayView type = request.header("Content-Type");
    if (!type.isEmpty() && !isFormType(type)) {
        reject(exchange, 415);
        return Pipeline::Outcome::Answered;
    }
    // HTTPHandler always sends Content-Length: refuse an oversized record before reading it.
    if (request.head.contentLength > maxBytes) {
        reject(exchange, 413);
        return Pipeline::Outcome::Answered;
    }
    auto collected = std::make_shared<Collected>();
    Http::Exchange *ex = &exchange;
    exchange.readBody(
        [collected, ex, maxBytes, reject](QByteArrayView chunk) {
            if (collected->done)
                return;
            if (collected->body.size() + chunk.size() > maxBytes) {
                // A chunked body that grew past the cap: answer now, the engine discards the
                // rest.
                collected->done = true;
                collected->body.clear();
                reject(*ex, 413);
                return;
            }
            collected->body.append(chunk);
        },
        [collected, ex, record] {
            if (collected->done)
                return;
            collected->done = true;
            record(*ex, collected->body);
        });
    return Pipeline::Outcome::Answered;
}

void registerLogCollectorApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.log_collector"), [](const Pipeline::AppSetup &setup) {
        const Config::Config &config = setup.config;
        LogCollectorApp::Options options;
        options.file = config.getPath(setup.section, QStringLiteral("file"));
        options.maxBytes = config.getSize(setup.section, QStringLiteral("max_bytes"));
        auto app = std::make_unique<LogCollectorApp>();
        app->setName(setup.name);
        app->declareStats(setup.server);
        // The files are opened by start(), after the privilege drop: `berthd check` builds
        // this app too and must create nothing. What can be checked without creating the file
        // is checked here. A missing `file` is reported by the schema validator (a required
        // key); the app then answers 400 to everything.
        const QFileInfo file(options.file);
        if (!options.file.isEmpty() && !file.exists() && !file.absoluteDir().exists()) {
            config.addDiagnostic({Config::Diagnostic::Severity::Error,
                                  config.location(setup.section, QStringLiteral("file")),
                                  QStringLiteral("[%1] file: directory %2 does not exist")
                                      .arg(setup.section, file.absolutePath())});
        } else if (file.isDir()) {
            config.addDiagnostic(
                {Config::Diagnostic::Severity::Error,
                 config.location(setup.section, QStringLiteral("file")),
                 QStringLiteral("[%1] file: %2 is a directory").arg(setup.section, options.file)});
        }
        app->configure(options);
        return std::unique_ptr<Pipeline::App>(std::move(app));
    });
}

} // namespace Berth::Apps
