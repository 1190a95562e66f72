#pragma once

#include "connection.h"
#include "exchangedriver.h"
#include "http/exchange.h"
#include "http1codec.h"

#include <QByteArray>

#include <memory>

namespace Berth::Engine {

// An HTTP/1.x client connection and the exchange of the request it is serving (reused for
// each request on the connection). The codec (Http1::RequestDecoder, appendResponseHead) does
// the framing, Connection the I/O and ExchangeDriver what every protocol's exchange needs
// (txn ids, routing, request.log, stats, the app boundary); this class is the HTTP/1 flow
// between them: requests are served one at a time, in order, so pipelined responses can't
// overtake each other, and each response is written with as few system calls as possible
// (head and small bodies together, large files with sendfile).
class Http1Connection final : public Connection, public Http::Exchange
{
    Q_OBJECT
public:
    // transport: how bytes move (TLS); null means plain TCP on fd.
    Http1Connection(ConnectionManager &manager, int fd, quint64 id,
                    std::unique_ptr<Transport> transport = nullptr);
    ~Http1Connection() override;

    // Connection
    void checkTimeouts(qint64 now) override;
    qint64 nextCheck(qint64 now) const override;
    bool isIdle() const override;
    void drain() override;

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
    void setDrainHandler(EventHandler handler) override
    {
        m_driver.setDrainHandler(std::move(handler));
    }
    void abort() override;
    bool startTunnel() override;
    bool isTunnel() const override
    {
        return m_tunnel && !m_responseFinished && m_state == State::Active;
    }
    void runAfter(qint64 msecs, EventHandler handler) override;
    void appFailed(const QString &appName, const char *what) override;

protected:
    // Connection
    void process() override;
    qsizetype inputCap() const override;
    void onStarted() override;
    void onFileSent() override;
    void onWritableRoom() override;
    bool wantsWritable() const override;
    void onClosing(State previous) override;
    void onReleaseIdleBuffers() override;

private:
    void processInput();
    bool startRequest();
    // Upgrade: h2c: hands the socket and this request (as stream 1) to the HTTP/2 codec.
    bool upgradeToHttp2();
    void pumpBody();
    // The tunnel after a 101: raw input to the owner's data handler, the peer's end to onEnd.
    void pumpTunnel();
    bool bodyComplete() const { return m_decoder.bodyComplete(); }
    void finishRequestIfDone();
    void resetForNextRequest();
    void failRequest(int status, const char *reason);
    void sendErrorAndClose(int status);
    void closeAfterResponse();
    void writeRequestLog();
    bool callApp(const char *what, const std::function<void()> &callback);
    // The exchange is over: per-exchange state released, handles turn null.
    void endExchange();
    // Between requests: the head storage, header fields and output buffer go back to the
    // thread (ThreadBuffers), so an idle keep-alive connection holds no buffer.
    void lendBuffers();

    static constexpr qsizetype OutputHighWater = 256 * 1024; // pipelined output held at most
    static constexpr qint64 IdleReleaseMs = 1000; // idle this long: give the buffers back

    Http1::RequestDecoder m_decoder;
    ExchangeDriver m_driver;
    QByteArray m_headStorage; // the current request's head; Request views point here
    bool m_processing = false;
    bool m_draining = false;
    quint32 m_requestsOnConnection = 0;

    // request body
    qint64 m_maxBody = 0;
    bool m_bodyWanted = false; // the app called readBody()
    bool m_bodyPaused = false;
    bool m_continueSent = false;
    bool m_endDelivered = false;
    DataHandler m_onData;
    EventHandler m_onEnd;
    EventHandler m_onWritable;

    // response
    bool m_responseStarted = false;
    bool m_responseFinished = false;
    bool m_headOnly = false; // HEAD, 1xx, 204, 304: no body bytes go out
    bool m_chunkedOut = false;
    bool m_keepAlive = true;
    bool m_writableWanted = false;
    bool m_tunnel = false; // after startTunnel(): the exchange is a byte tunnel until it ends
    int m_status = 0;

    // timeouts
    qint64 m_headDeadline = 0; // 0: none
    qint64 m_lastBodyProgress = 0;
};

} // namespace Berth::Engine
