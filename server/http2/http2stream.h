#pragma once

#include "engine/exchangedriver.h"
#include "http/exchange.h"

#include <QByteArray>

#include <cstdint>
#include <vector>

namespace Berth::Http2 {

class Http2Connection;

// One HTTP/2 stream: the exchange an app sees. The connection feeds it what nghttp2 decoded
// (header fields, DATA) and asks it for DATA to send; the app drives it through Http::Exchange
// exactly as it drives an HTTP/1 exchange. Request body bytes are held only until the app takes
// them and only then given back to the client's window, so a stream never holds more than its
// window and a slow reader stalls only its own stream. Response bytes wait in a bounded buffer
// (write() returns false above it) or are read from a file as nghttp2 asks for them.
class Http2Stream final : public Http::Exchange
{
public:
    Http2Stream(Http2Connection &connection, std::int32_t id);
    ~Http2Stream() override;

    std::int32_t id() const { return m_id; }

    // --- what the connection feeds in (from nghttp2's callbacks) ---
    enum class HeaderResult {
        Stored,
        OverLimit, // kept count only: the stream is answered 431 or 414 once the head is in
        Bomb,      // far past every limit: the stream is reset
    };
    HeaderResult addHeader(QByteArrayView name, QByteArrayView value);
    // The request head is complete; endStream: no body follows.
    void headersComplete(bool endStream);
    // Request body bytes (already counted against the windows by nghttp2).
    void receiveData(QByteArrayView data);
    void receiveEndStream();
    // The stream is gone (sent or received END_STREAM both ways, or reset): errorCode is the
    // RST_STREAM code, 0 for a normal close. The app's abort handler runs if it still held it.
    void closed(std::uint32_t errorCode);
    // A frame that ends our side went out (END_STREAM on HEADERS or DATA).
    void responseSent();
    // nghttp2's data source: response bytes into buf.
    long readResponse(std::uint8_t *buf, std::size_t length, std::uint32_t *flags);

    // --- what the connection drives ---
    // Starts the exchange once the head is in, delivers body bytes the app waits for, tells a
    // writer waiting for room. May call app code.
    void pump();
    void checkTimeouts(qint64 now);
    // The connection is closing under the stream.
    void connectionClosing();
    bool isClosed() const { return m_closed; }
    bool headersDone() const { return m_headersDone; }
    // Response bytes wait for the client's window.
    bool isSending() const
    {
        return m_responseStarted && !m_responseSent && !m_reset &&
               (outputWaiting() > 0 || m_fileFd >= 0);
    }
    qint64 openedAt() const { return m_openedAt; }

    // Http::Exchange
    void readBody(DataHandler onData, EventHandler onEnd) override;
    void pauseBody() override;
    void resumeBody() override;
    void respond(int status, QByteArrayView contentType, QByteArray body) override;
    void startResponse(qint64 contentLength) override;
    bool write(QByteArrayView data) override;
    void sendFile(int fd, qint64 offset, qint64 length) override;
    void finish() override;
    bool responseStarted() const override { return m_responseStarted; }
    void setWritableHandler(EventHandler handler) override { m_onWritable = std::move(handler); }
    void setAbortHandler(EventHandler handler) override
    {
        m_driver.setAbortHandler(std::move(handler));
    }
    void abort() override;
    bool startTunnel() override;
    bool isTunnel() const override { return m_tunnel && !m_closed; }
    void runAfter(qint64 msecs, EventHandler handler) override;
    void appFailed(const QString &appName, const char *what) override;

private:
    struct Span
    {
        qsizetype nameAt;
        qsizetype nameLength;
        qsizetype valueAt;
        qsizetype valueLength;
    };

    void start();
    bool buildHead();
    void pumpBody();
    void fail(int status, const char *reason);
    void reset(std::uint32_t errorCode);
    void consume(qsizetype n);
    void resumeData();
    void writeRequestLog();
    void endExchange();
    void dropAppHandlers();
    bool callApp(const char *what, const std::function<void()> &callback);
    qsizetype outputWaiting() const { return m_out.size() - m_outPos; }

    Http2Connection &m_connection;
    std::int32_t m_id;
    Engine::ExchangeDriver m_driver;
    qint64 m_openedAt = 0;

    // request head
    QByteArray m_headStorage;
    std::vector<Span> m_spans;
    qint64 m_headerListBytes = 0;
    int m_headerCount = 0;
    int m_headError = 0; // 414 or 431 found while the fields came in
    bool m_headersDone = false;
    bool m_started = false;
    bool m_closed = false;

    // request body
    qint64 m_maxBody = 0;
    qint64 m_bodyReceived = 0;
    QByteArray m_bodyIn; // received, not yet taken by the app (bounded by the stream window)
    bool m_endStreamIn = false;
    bool m_bodyWanted = false;
    bool m_bodyPaused = false;
    bool m_endDelivered = false;
    bool m_discardBody = false; // answered already: what comes is dropped (and its window freed)
    qint64 m_lastBodyProgress = 0;
    DataHandler m_onData;
    EventHandler m_onEnd;
    EventHandler m_onWritable;

    // response
    int m_status = 0;
    bool m_responseStarted = false;
    bool m_responseFinished = false; // the app is done (finish, respond, sendFile)
    bool m_responseSent = false;     // END_STREAM went out
    bool m_headOnly = false;
    bool m_tunnel = false;
    bool m_deferred = false; // nghttp2 waits for us to resume the data source
    bool m_writableWanted = false;
    bool m_reset = false; // we sent RST_STREAM
    QByteArray m_out;
    qsizetype m_outPos = 0;
    int m_fileFd = -1;
    qint64 m_fileOffset = 0;
    qint64 m_fileRemaining = 0;
    qint64 m_lastSendProgress = 0;
};

} // namespace Berth::Http2
