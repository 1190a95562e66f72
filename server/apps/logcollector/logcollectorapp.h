#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

#include <QString>

#include <memory>

namespace Berth::Log {
class LogSink;
}

namespace Berth::Apps {

// berth.log_collector: the receiving end of Python's logging.handlers.HTTPHandler. Accepts a
// record as a POST with an application/x-www-form-urlencoded body, or as a GET with the same
// data in the query string (HTTPHandler's two methods), and appends it to `file` as one JSON
// object per line and to `file`.txt as the line a logging.Formatter would print. Answers 200,
// 413 past max_bytes, 415 for another body type, 405 for other methods. Authentication is
// berth.basic_auth's job: put it before this app in the route's pipeline.
class LogCollectorApp final : public Pipeline::App
{
public:
    struct Options
    {
        QString file;
        qint64 maxBytes = 64 * 1024;
    };

    // Takes the options without touching the files (building an app has no side effect).
    void configure(const Options &options) { m_options = options; }
    // Opens (creates, appends to) both files, after the privilege drop. False and *error when
    // one can't be opened.
    bool start(QString *error) override;
    // configure() then start(): for tests.
    bool open(const Options &options, QString *error);
    void declareStats(Core::ServerContext *server);

    Pipeline::Outcome handle(Http::Exchange &exchange) override;

    // The sink for a path, shared by every app instance (one per event-loop thread) and every
    // configuration generation that writes to the same file, so records are never interleaved
    // mid-line. Null and *error when the file can't be opened.
    static std::shared_ptr<Log::LogSink> sharedSink(const QString &path, QString *error);

private:
    Options m_options;
    std::shared_ptr<Log::LogSink> m_json;
    std::shared_ptr<Log::LogSink> m_text;
    Core::ServerContext *m_server = nullptr;
    int m_recordsStat = -1;
    int m_rejectedStat = -1;
};

void registerLogCollectorApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
