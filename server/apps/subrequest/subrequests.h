#pragma once

#include "localexchange.h"

#include "pipeline/pipeline.h"

#include <QByteArray>
#include <QElapsedTimer>
#include <QObject>
#include <QString>

#include <chrono>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace Berth::Pipeline {
struct AppSetup;
}

namespace Berth::Gateway {
class ProxyApp;
}

namespace Berth::Subrequests {

// A gateway member group ([@users]) that subrequests go to, through the proxy's balancer and
// this thread's connection pools (the same members, health and keep-alive connections as the
// group's routes). An app opens its groups when it is built: one per app and event-loop thread.
class GroupTarget
{
public:
    // Null, with a diagnostic at setup.section, when the group has no valid section.
    static std::unique_ptr<GroupTarget> open(const QString &group, const Pipeline::AppSetup &setup);
    ~GroupTarget();
    const QString &name() const { return m_name; }
    const Http::AppChain *chain() const { return &m_chain; }

private:
    GroupTarget() = default;
    QString m_name;
    std::unique_ptr<Gateway::ProxyApp> m_app;
    Pipeline::Pipeline m_chain;
};

// One subrequest: into the local pipeline (the router of this thread, as a client's request with
// this target would be routed), to a member group, or into a given chain.
struct Call
{
    QByteArray method = QByteArrayLiteral("GET");
    QByteArray target; // path and query, percent-encoded: "/v1/users/7?full=1"
    std::vector<std::pair<QByteArray, QByteArray>> headers;
    QByteArray body;
    const GroupTarget *group = nullptr;
    // Or any chain, from its app number chainIndex: brim's get_response(next_app), e.g. an auth
    // app whose subrequest travels on from the next app of its own pipeline
    // (exchange.pipeline(), exchange.pipelineIndex() + 1). Used when group is null.
    const Http::AppChain *chain = nullptr;
    int chainIndex = 0;
    // The parent's user and session (request attributes) and its Cookie and Authorization
    // fields, unless the call sets them; false: a clean request.
    bool inherit = true;
    std::chrono::milliseconds timeout{0}; // 0: only the batch's deadline
    qint64 maxBody = 1 << 20;             // a longer response body fails the call
};

// What became of a call.
struct Result
{
    int status = 0; // 0: no response (see error)
    std::vector<std::pair<QByteArray, QByteArray>> headers;
    QByteArray body;
    // Empty when the call got a complete response (whatever its status); otherwise "timeout",
    // "deadline", "body_too_large", "app_aborted" (the app or member failed mid-response),
    // "bad_target", "bad_header", "loop" (nested deeper than SubrequestDepth::MaxDepth).
    QString error;
    qint64 elapsedMs = 0;
    bool ok() const { return error.isEmpty(); }
    QByteArrayView header(QByteArrayView name) const;
};

struct BatchOptions
{
    std::chrono::milliseconds deadline{0}; // 0: none; every unfinished call fails then
    // The router for local calls; null: RequestRouter::forCurrentThread().
    const Http::RequestRouter *router = nullptr;
    // Runs after everything was cancelled because the client went away (the batch takes the
    // parent's abort handler).
    std::function<void()> onClientGone;
};

// Subrequests run in parallel for one exchange (brim's clone_env/get_response, a backend for
// frontend). Each call is a LocalExchange; the parent's own exchange is untouched until done
// runs. Calls and clocks live on the parent's thread: done runs there, from the event loop,
// once every call finished or failed (results in call order), never from inside start(). If the
// client goes away first, every unfinished call is cancelled (a proxied one closes its member
// connection, so nothing is left hanging upstream) and done never runs. Timeouts use the
// parent's runAfter, so they die with it and tests drive them with a fake exchange's clock.
class Batch final : public QObject
{
    Q_OBJECT
public:
    using Done = std::function<void(std::vector<Result> &results)>;
    static void start(Http::Exchange &parent, std::vector<Call> calls, BatchOptions options,
                      Done done);

private:
    Batch(Http::Exchange &parent, BatchOptions options, Done done);
    ~Batch() override;
    void launch(std::vector<Call> &calls);
    void finished(size_t index);
    void fail(size_t index, const QString &error);
    void clientGone();
    void deliverIfDone();

    struct Slot
    {
        std::unique_ptr<LocalExchange> exchange;
        Result result;
        QElapsedTimer clock;
        bool done = false;
    };
    Http::ExchangeHandle m_parent;
    BatchOptions m_options;
    Done m_done;
    std::vector<Slot> m_slots;
    size_t m_pending = 0;
    bool m_delivered = false;
    bool m_launching = false;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace Berth::Subrequests
