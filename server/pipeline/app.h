#pragma once

#include <QString>

namespace Berth::Http {
class Exchange;
}

namespace Berth::Core {
class StatsRegistry;
}

namespace Berth::Pipeline {

// What an app did with an exchange.
enum class Outcome {
    Answered, // the app responded, or owns the exchange and will complete it later
    Pass,     // hand the exchange to the next app of the pipeline (brim's "next app")
};

// The one request-handling interface built-in apps and plugins share (brim's WSGI app chain,
// Caddy's handlers, h2o's handlers). An app is built once per configuration from its
// [app:NAME] section and is shared, read-only, by every exchange of its event-loop thread.
// handle() must not block: long work completes the exchange later from the same thread.
class App
{
public:
    virtual ~App() = default;
    virtual Outcome handle(Http::Exchange &exchange) = 0;
    // Opens or creates what the app writes (files, sockets). Called once the process runs as
    // the configured user, before the first exchange. Building an app must have no such side
    // effect: `berthd check` and the master's pre-flight build apps only to validate them.
    // False and *error (saying which app and file) when the app can't serve.
    virtual bool start(QString *error)
    {
        (void)error;
        return true;
    }

    // The [app:NAME] name ("echo"), or a generated one for a directory route.
    const QString &name() const { return m_name; }
    void setName(const QString &name) { m_name = name; }

    // The stat that counts the requests this app answered (berth_app_requests_total{app=...}):
    // "app_requests:NAME", one per app of the configuration, so the label set is bounded.
    // Declared by the Router; the Pipeline counts.
    void setRequestCounter(Core::StatsRegistry *stats, int index)
    {
        m_stats = stats;
        m_requestStat = index;
    }
    void countRequest() const;

private:
    QString m_name;
    Core::StatsRegistry *m_stats = nullptr;
    int m_requestStat = -1;
};

} // namespace Berth::Pipeline
