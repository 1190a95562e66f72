#pragma once

#include "http/exchange.h"

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QStringList>

#include <vector>

namespace Berth::Tests {

// An Http::Exchange for unit tests of apps: no sockets, no event loop. It owns the bytes the
// request head's views point into, delivers a scripted request body synchronously, and records
// everything the app does to the response, the way the engine would put it on the wire (no body
// bytes for HEAD; write() before startResponse() starts a streamed response, finish() before it
// an empty one). Misuse an engine would have to guard against (starting twice, writing after
// finish, finishing twice, a body that disagrees with Content-Length) is collected in
// protocolErrors().
class FakeExchange final : public Http::Exchange
{
public:
    using Headers = QList<QPair<QByteArray, QByteArray>>;

    // target is the request-target as sent ("/a/b?x=1"). request().path and pathInfo start as
    // its path part, undecoded; use setPaths() for what the router would have set.
    explicit FakeExchange(const QByteArray &method = QByteArrayLiteral("GET"),
                          const QByteArray &target = QByteArrayLiteral("/"),
                          const Headers &headers = {}, const QList<QByteArray> &bodyChunks = {});
    ~FakeExchange() override;

    // As the router sets them: path = scriptName + pathInfo.
    void setPaths(const QByteArray &scriptName, const QByteArray &pathInfo);

    // --- what the app did ---
    int status() const { return m_status; }
    bool started() const { return m_started; }
    bool finished() const { return m_finished; }
    bool aborted() const { return m_aborted; }
    // The response header fields at the moment the response started, plus the Content-Type
    // given to respond().
    const Headers &headers() const { return m_headers; }
    QByteArray header(QByteArrayView name) const; // first value, or a null QByteArray
    int headerCount(QByteArrayView name) const;
    QByteArray body() const { return m_body; }
    // Content-Length the response declared (startResponse argument or respond body size);
    // -1 for a chunked/streamed response.
    qint64 contentLength() const { return m_contentLength; }
    int sendFileCalls() const { return m_sendFileCalls; }
    int respondCalls() const { return m_respondCalls; }
    const QStringList &protocolErrors() const { return m_errors; }

    // --- scripting the client side ---
    // write() returns false once this many bytes are pending (-1: never); drain() empties the
    // pending count and runs the writable handler, as the engine does when the socket drains.
    void setHighWaterMark(qint64 bytes) { m_highWaterMark = bytes; }
    void drain();
    // Ends the exchange's life as the engine does once it is over: handles turn null.
    void endLifeNow() { endLife(); }
    // Drains until the response finishes or `maxRounds` drains happen; returns the rounds used.
    int drainUntilFinished(int maxRounds = 100000);
    // Simulates the client going away: runs the abort handler.
    void simulateClientAbort();
    bool hasWritableHandler() const { return bool(m_writableHandler); }
    int pauseCount() const { return m_pauseCount; }
    int resumeCount() const { return m_resumeCount; }

    // --- the peer's side of a tunnel (after startTunnel) ---
    // Bytes from the peer: delivered to the readBody() handler at once, or when resumeBody()
    // is called if the owner paused. endTunnelInput() is the peer's end of stream.
    void feedTunnel(QByteArrayView bytes);
    void endTunnelInput();
    bool tunnelPaused() const { return m_tunnelPaused; }
    qsizetype tunnelInputHeld() const { return m_tunnelHeld.size(); }
    // What the owner wrote to the tunnel since the last call.
    QByteArray takeTunnelOutput();

    // --- Http::Exchange ---
    void readBody(DataHandler onData, EventHandler onEnd) override;
    void pauseBody() override;
    void resumeBody() override;
    void respond(int status, QByteArrayView contentType, QByteArray body) override;
    void startResponse(qint64 contentLength) override;
    bool write(QByteArrayView data) override;
    void sendFile(int fd, qint64 offset, qint64 length) override;
    void finish() override;
    void abort() override;
    // A tunnel is accepted when the request asks for one (Request::tunnelProtocol()) and the
    // response has not started; it records status 101 like HTTP/1.1.
    bool startTunnel() override;
    bool isTunnel() const override { return m_tunnel; }
    void setDrainHandler(EventHandler handler) override { m_drainHandler = std::move(handler); }
    // Simulates the server starting to drain: runs the drain handler once.
    void simulateDrain();
    bool responseStarted() const override { return m_started; }
    void setWritableHandler(EventHandler handler) override
    {
        m_writableHandler = std::move(handler);
    }
    void setAbortHandler(EventHandler handler) override { m_abortHandler = std::move(handler); }
    // Timers are not run by a clock: runTimers() fires every pending one (shortest first), as
    // if their time had come; an exception from one propagates to the test.
    void runAfter(qint64 msecs, EventHandler handler) override;
    int pendingTimers() const { return int(m_timers.size()); }
    void runTimers();

private:
    void recordStart(int status, qint64 contentLength);
    void appendBody(QByteArrayView data);

    QByteArray m_storage; // every byte the request head's views point into
    QList<QByteArray> m_bodyChunks;

    int m_status = 0;
    bool m_started = false;
    bool m_finished = false;
    bool m_aborted = false;
    Headers m_headers;
    QByteArray m_body;
    qint64 m_contentLength = -1;
    int m_sendFileCalls = 0;
    int m_respondCalls = 0;
    QStringList m_errors;

    qint64 m_highWaterMark = -1;
    qint64 m_pending = 0;
    int m_pauseCount = 0;
    int m_resumeCount = 0;
    EventHandler m_writableHandler;
    EventHandler m_abortHandler;
    std::vector<std::pair<qint64, EventHandler>> m_timers;
    bool m_tunnel = false;
    EventHandler m_drainHandler;
    bool m_tunnelPaused = false;
    bool m_tunnelEnded = false;
    QByteArray m_tunnelHeld; // fed while paused
    qsizetype m_tunnelTaken = 0;
    DataHandler m_tunnelOnData;
    EventHandler m_tunnelOnEnd;
};

} // namespace Berth::Tests
