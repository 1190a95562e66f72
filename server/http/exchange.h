#pragma once

#include "request.h"
#include "response.h"

#include <QByteArray>

#include <functional>

namespace Berth::Pipeline {
class Pipeline;
}

namespace Berth::Http {

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

    virtual ~Exchange() = default;

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
    // without completing the response, so the client can't mistake it for a complete one.
    virtual void abort() { finish(); }

    virtual void setWritableHandler(EventHandler handler) = 0;
    // Called when the exchange dies before finish(): client gone, timeout, protocol error.
    // After it runs the app must not touch the exchange again.
    virtual void setAbortHandler(EventHandler handler) = 0;

    // --- pipeline ---
    // For an app that returned Outcome::Answered but later decides to pass (an async auth
    // check): hands the exchange to the next app of its pipeline.
    void passToNext();

    // Pipeline bookkeeping (used by Berth::Pipeline::Pipeline).
    const Pipeline::Pipeline *pipeline() const { return m_pipeline; }
    int pipelineIndex() const { return m_pipelineIndex; }
    void setPipelinePosition(const Pipeline::Pipeline *pipeline, int index)
    {
        m_pipeline = pipeline;
        m_pipelineIndex = index;
    }

protected:
    Request m_request;
    Response m_response;
    const Pipeline::Pipeline *m_pipeline = nullptr;
    int m_pipelineIndex = 0;
};

} // namespace Berth::Http
