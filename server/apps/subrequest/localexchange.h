#pragma once

#include "http/exchange.h"

#include <QByteArray>
#include <QString>

#include <functional>
#include <memory>
#include <utility>
#include <vector>

class QTimer;

namespace Berth::Subrequests {

// How deep a subrequest is nested (a request attribute): a compose app whose call reaches
// itself stops at MaxDepth instead of recursing until the worker runs out of memory.
struct SubrequestDepth
{
    static constexpr int MaxDepth = 4;
    int depth = 0;
};

// How many subrequests an exchange has issued (a request attribute): the next one's txn suffix,
// so two batches of one exchange never reuse an id. Not inherited by the subrequests.
struct SubrequestCount
{
    int issued = 0;
};

// What a LocalExchange is asked to carry.
struct LocalRequest
{
    QByteArray method = QByteArrayLiteral("GET");
    QByteArray target; // path and query as sent: "/v1/users/7?full=1"
    std::vector<std::pair<QByteArray, QByteArray>> headers;
    QByteArray body;
    bool inherit = true; // the parent's user, session, Cookie and Authorization
    qint64 maxBody = 1 << 20;
};

// An exchange that lives in memory: a subrequest, run by any app chain (a route of the local
// router, or a gateway group's proxy app) exactly as the engine runs a client's request, with
// the response captured instead of sent. The request copies the parent's connection facts
// (client address, TLS, host), so apps and members see the real client; the txn id is given.
// Production code with the engine's rules: handles turn null and timers die when the exchange
// ends (complete, aborted by its app, or cancelled), a callback that throws ends it as the
// pipeline would (500). Use on the parent's event-loop thread only.
class LocalExchange final : public Http::Exchange
{
public:
    // False from valid() (with error()) when the target or a header can't be sent.
    LocalExchange(const Http::Request &parent, const LocalRequest &request, QByteArray txnId);
    ~LocalExchange() override;

    // Called once when the exchange ends, from inside the app's own call (respond, finish,
    // abort, a write over the cap): the owner must not delete the exchange from it.
    void setCompletionHandler(std::function<void()> handler) { m_onComplete = std::move(handler); }
    // Runs the chain from app number index (a chain of null: 404, as the engine answers).
    void run(const Http::AppChain *chain, int index = 0);
    // Ends the exchange from outside (timeout, the client left): the app's abort handler runs
    // (a proxied call closes its member connection), its timers are cancelled. No completion.
    void cancel(const QString &error);

    bool valid() const { return m_error.isEmpty() || m_complete; }
    // False when the path can't be normalised (an encoded control byte, ".." above the root):
    // the local router answers it 400, as the engine would.
    bool routable() const { return m_routable; }
    bool complete() const { return m_complete; }
    // The captured response: status (0 when none was given), headers as the app set them
    // (Content-Type included), body (at most maxBody bytes) and the error, if any:
    // "body_too_large", "app_aborted", "bad_target", "bad_header", "loop", or cancel()'s.
    int status() const { return m_status; }
    const std::vector<std::pair<QByteArray, QByteArray>> &headers() const { return m_headers; }
    const QByteArray &body() const { return m_body; }
    const QString &error() const { return m_error; }

    // --- Http::Exchange ---
    void readBody(DataHandler onData, EventHandler onEnd) override;
    void pauseBody() override {}
    void resumeBody() override {}
    void respond(int status, QByteArrayView contentType, QByteArray body) override;
    void startResponse(qint64 contentLength) override;
    bool write(QByteArrayView data) override;
    void sendFile(int fd, qint64 offset, qint64 length) override;
    void finish() override;
    bool responseStarted() const override { return m_started; }
    void abort() override;
    void setWritableHandler(EventHandler handler) override { m_writable = std::move(handler); }
    void setAbortHandler(EventHandler handler) override { m_onAbort = std::move(handler); }
    void runAfter(qint64 msecs, EventHandler handler) override;
    bool startTunnel() override { return false; }
    bool isTunnel() const override { return false; }
    void setDrainHandler(EventHandler handler) override { (void)handler; }

private:
    void buildHead(const Http::Request &parent, const LocalRequest &request);
    void captureHead(int status);
    void appendBody(QByteArrayView data);
    void end(const QString &error);
    void dropTimers();

    QByteArray m_storage; // every byte the request head's views point into
    qint64 m_maxBody;
    bool m_started = false;
    bool m_complete = false;
    bool m_routable = false;
    int m_status = 0;
    std::vector<std::pair<QByteArray, QByteArray>> m_headers;
    QByteArray m_body;
    QString m_error;
    EventHandler m_onAbort;
    EventHandler m_writable;
    std::function<void()> m_onComplete;
    std::vector<std::unique_ptr<QTimer>> m_timers;
};

} // namespace Berth::Subrequests
