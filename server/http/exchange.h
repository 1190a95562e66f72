#pragma once

#include "request.h"
#include "response.h"

#include <QByteArray>

#include <functional>
#include <memory>

namespace Berth::Http {

class Exchange;

// What serves a routed exchange: an ordered chain of apps (the pipeline layer's Pipeline). The
// engine and the exchange know it only through this interface, so the layers below the
// pipeline never name it.
class AppChain
{
public:
    virtual ~AppChain() = default;
    // Runs the exchange from app number index (0: the first); past the last app, 404.
    virtual void runFrom(Exchange &exchange, int index) const = 0;
    // The route's own request-body cap, or -1 for [limits] max_body_bytes.
    virtual qint64 maxBodyBytes() const = 0;
};

// Finds the chain that serves a request (the pipeline layer's Router): what the engine's exchange
// driver asks once the head is parsed.
class RequestRouter
{
public:
    struct Match
    {
        const AppChain *chain = nullptr; // null: no route (404)
        QByteArray scriptName;           // the mount point ("" for "/")
        QByteArray pathInfo;             // the rest of the path, starting with '/'
    };
    virtual ~RequestRouter() = default;
    // hostName: lower-case, no port. path: decoded and normalised.
    virtual Match resolve(QByteArrayView hostName, QByteArrayView path) const = 0;
    // The same, into the request's scriptName and pathInfo: the engine's call for every
    // request. A router may keep what they already hold when it is right (a keep-alive client
    // asks for the same route again and again); the default calls resolve().
    virtual const AppChain *resolveInto(QByteArrayView hostName, QByteArrayView path,
                                        QByteArray &scriptName, QByteArray &pathInfo) const;

    // The router that serves the calling event-loop thread (the engine sets it when the thread
    // starts), or null: what a subrequest into the local pipeline resolves its path with.
    static const RequestRouter *forCurrentThread();
    static void setForCurrentThread(const RequestRouter *router);
};

// The short text answer the engine and the pipeline give for errors: "404 Not Found\n".
void respondWithError(Exchange &exchange, int status);

// A weak reference to an exchange for code that runs later: a timer, a result posted back from
// the offload pool, an upstream's reply. get() is null once the exchange has ended (finished
// and its connection moved on to the next request, or aborted, or closed), so a late callback
// can't touch an exchange that is gone or already carries someone else's request. Copying is
// one reference count; use it only on the exchange's own event-loop thread (post results back
// there first).
class ExchangeHandle
{
public:
    ExchangeHandle() = default;
    Exchange *get() const { return m_anchor ? m_anchor->exchange : nullptr; }
    explicit operator bool() const { return get() != nullptr; }
    Exchange *operator->() const { return get(); }

private:
    friend class Exchange;
    struct Anchor
    {
        Exchange *exchange;
    };
    explicit ExchangeHandle(std::shared_ptr<Anchor> anchor)
        : m_anchor(std::move(anchor))
    {}
    std::shared_ptr<Anchor> m_anchor;
};

// One request/response exchange, as an app sees it. The engine (HTTP/1.1 today, HTTP/2 later)
// implements it; apps never know which protocol carries them. An app either answers at once,
// or keeps the exchange and completes it later from the same thread (async), or passes it on.
//
// Request bodies are streamed: the engine never buffers a whole body. An app that wants the
// body calls readBody(); if it answers without reading, the engine discards the rest (or
// closes the connection when it can't).
class Exchange
{
public:
    using DataHandler = std::function<void(QByteArrayView chunk)>;
    using EventHandler = std::function<void()>;

    virtual ~Exchange() { endLife(); }

    Request &request() { return m_request; }
    const Request &request() const { return m_request; }
    Response &response() { return m_response; }

    // --- request body ---
    // onData gets each decoded piece as it arrives (valid only during the call); onEnd once the
    // body is complete (at once when there is none). Errors (413, 400, timeout) are answered by
    // the engine itself; onEnd is then never called and the abort handler runs instead.
    virtual void readBody(DataHandler onData, EventHandler onEnd) = 0;
    // Flow control for slow consumers (a proxy whose upstream is slow).
    virtual void pauseBody() = 0;
    virtual void resumeBody() = 0;

    // --- response ---
    // A complete response with this body (none is sent for HEAD, Content-Length still is).
    virtual void respond(int status, QByteArrayView contentType, QByteArray body) = 0;
    // Sends the status line and response() headers. contentLength < 0: the body is chunked
    // (HTTP/1.1) or ends with the connection (HTTP/1.0).
    virtual void startResponse(qint64 contentLength) = 0;
    // Queues body bytes. Returns false when the output buffer is over its high-water mark: stop
    // writing until the writable handler runs. Ignored for HEAD.
    virtual bool write(QByteArrayView data) = 0;
    // Streams [offset, offset+length) of an open file descriptor (sendfile where possible) and
    // then finishes the response. The exchange takes ownership of fd and closes it.
    virtual void sendFile(int fd, qint64 offset, qint64 length) = 0;
    // Ends the response body.
    virtual void finish() = 0;
    virtual bool responseStarted() const = 0;
    // Ends the exchange abnormally (an app that failed mid-response): the connection is closed
    // without completing the response, so the client can't mistake it for a complete one (500
    // when nothing was sent yet). Pure: no implementation may turn a truncated response into a
    // complete one by finishing it. The app's own abort handler is not called back.
    virtual void abort() = 0;

    virtual void setWritableHandler(EventHandler handler) = 0;
    // Called when the exchange dies before the app finished it: client gone, timeout, or the
    // engine answering a protocol error itself (400, 408, 413 in the middle of the body the app
    // is reading). After it runs the app must not touch the exchange again.
    virtual void setAbortHandler(EventHandler handler) = 0;
    // Runs handler once after `msecs` on the exchange's thread, unless the exchange has ended by
    // then (the timer dies with it). Like every callback an app registers, an exception thrown
    // from it is caught by the engine: logged with the txn id, the exchange aborted (500 when
    // nothing was sent), and the worker keeps serving.
    virtual void runAfter(qint64 msecs, EventHandler handler) = 0;

    // --- tunnels (WebSocket: RFC 6455 over HTTP/1.1, RFC 8441 over HTTP/2) ---
    // Accepts the switch the request asked for (see Request::tunnelProtocol()): HTTP/1.1 answers
    // 101 Switching Protocols ("Connection: upgrade" and "Upgrade: <protocol>" are added to
    // response() headers), HTTP/2 answers 200 on the stream. From then on the exchange is a
    // byte tunnel: readBody() delivers the peer's bytes as they arrive until its end of stream
    // (onEnd), write() sends raw bytes with the usual back-pressure (writable handler),
    // pauseBody()/resumeBody() stop and restart reading, finish() ends our direction (HTTP/1:
    // close_notify/FIN, then the connection closes; HTTP/2: END_STREAM) and abort() drops the
    // tunnel (HTTP/2: RST_STREAM). [limits] body_timeout, idle_timeout and max_body_bytes stop
    // applying (the tunnel's owner keeps its own clocks with runAfter); send_timeout still
    // applies, and a drain gives the tunnel graceful_timeout before it is closed. False, with
    // nothing sent, when the request asked for no tunnel, the protocol can't carry one, or the
    // response started.
    virtual bool startTunnel() = 0;
    // After startTunnel(): true while the tunnel is open.
    virtual bool isTunnel() const = 0;
    // Runs handler once when the server starts draining (stop or reload) while this exchange is
    // still open, so that a long-lived exchange can end itself politely (a WebSocket sends
    // close 1001) instead of being cut at graceful_timeout. Dropped when the exchange ends.
    virtual void setDrainHandler(EventHandler handler) = 0;

    // A weak reference for callbacks that may outlive the exchange (see ExchangeHandle).
    ExchangeHandle handle()
    {
        if (!m_anchor)
            m_anchor = std::make_shared<ExchangeHandle::Anchor>(ExchangeHandle::Anchor{this});
        else if (!m_anchor->exchange) // kept by endLife(): no handle of an earlier life is left
            m_anchor->exchange = this;
        return ExchangeHandle(m_anchor);
    }

    // --- pipeline ---
    // An app threw from handle() (Pipeline::runFrom caught it). The default logs it with the
    // txn id and answers 500 (or aborts a response that started); the engine first runs the
    // app's abort handler, since the exchange dies before the app finished it.
    virtual void appFailed(const QString &appName, const char *what);
    // For an app that returned Outcome::Answered but later decides to pass (an async auth
    // check): hands the exchange to the next app of its pipeline.
    void passToNext();

    // Pipeline bookkeeping (used by the AppChain that runs the exchange).
    const AppChain *pipeline() const { return m_pipeline; }
    int pipelineIndex() const { return m_pipelineIndex; }
    void setPipelinePosition(const AppChain *pipeline, int index)
    {
        m_pipeline = pipeline;
        m_pipelineIndex = index;
    }

protected:
    // The implementation calls this when the exchange ends: every handle() given out so far
    // turns null. A reused exchange object (the next request on a connection) hands out new ones;
    // when no handle is left the anchor itself is kept for them (no allocation per request for
    // an async app that lets go of its handle before the end, as the gateway's proxy does).
    void endLife()
    {
        if (m_anchor) {
            m_anchor->exchange = nullptr;
            if (m_anchor.use_count() != 1)
                m_anchor.reset();
        }
    }

    Request m_request;
    Response m_response;
    const AppChain *m_pipeline = nullptr;
    int m_pipelineIndex = 0;

private:
    std::shared_ptr<ExchangeHandle::Anchor> m_anchor;
};

} // namespace Berth::Http
