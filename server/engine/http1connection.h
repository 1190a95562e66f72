#pragma once

#include "connection.h"
#include "http1exchange.h"

#include <QByteArray>

#include <memory>

namespace Berth::Engine {

// An HTTP/1.x client connection. The codec (Http1::RequestDecoder, appendResponseHead) does
// the framing, Connection the I/O and ExchangeDriver what every protocol's exchange needs
// (txn ids, routing, request.log, stats, the app boundary); this class is the HTTP/1 flow
// between them: requests are served one at a time, in order, so pipelined responses can't
// overtake each other, and each response is written with as few system calls as possible
// (head and small bodies together, large files with sendfile).
//
// What belongs to one exchange (the Http::Exchange an app sees, its request, response, decoder
// and driver) is an Http1Exchange borrowed from the thread's pool while a request is in
// flight: between requests a keep-alive connection is this object and its socket only.
class Http1Connection final : public Connection
{
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

    // The exchange in flight, or null between requests (tests).
    Http::Exchange *exchange() const;

protected:
    // Connection
    void process() override;
    qsizetype inputCap() const override;
    void onStarted() override;
    void onFileSent() override;
    void onWritableRoom() override;
    bool wantsWritable() const override;
    void onClosing(State previous) override;
    bool peerMaySendMore() const override;

private:
    friend class Http1Exchange; // its Exchange calls land in the methods below

    // --- the Exchange calls of the exchange in flight (see Http::Exchange) ---
    void readBody(Http::Exchange::DataHandler onData, Http::Exchange::EventHandler onEnd);
    void resumeBody();
    void respond(int status, QByteArrayView contentType, QByteArray body);
    // body: a whole body of contentLength bytes to send with the head (respond()).
    void startResponse(qint64 contentLength, QByteArrayView body = {});
    bool write(QByteArrayView data);
    void sendFile(int fd, qint64 offset, qint64 length);
    void finish();
    void abort();
    bool startTunnel();
    void runAfter(qint64 msecs, Http::Exchange::EventHandler handler);
    void appFailed(const QString &appName, const char *what);
    bool exchangeActive() const { return m_state == State::Active; }
    // An app callback returned: act on what it did (flush, go on reading).
    void afterAppCallback();

    // Borrows an exchange from the thread's pool when there is none; gives it back.
    Http1Exchange &borrowExchange();
    void giveBackExchange();

    void processInput();
    bool startRequest();
    // Upgrade: h2c: hands the socket and this request (as stream 1) to the HTTP/2 codec.
    bool upgradeToHttp2();
    void pumpBody();
    // The tunnel after a 101: raw input to the owner's data handler, the peer's end to onEnd.
    void pumpTunnel();
    bool bodyComplete() const { return !m_ex || m_ex->m_decoder.bodyComplete(); }
    void finishRequestIfDone();
    void resetForNextRequest();
    void failRequest(int status, const char *reason);
    void sendErrorAndClose(int status);
    void closeAfterResponse();
    void writeRequestLog();
    bool callApp(const char *what, const std::function<void()> &callback);
    // The exchange is over: per-exchange state released, handles turn null.
    void endExchange();

    static constexpr qsizetype OutputHighWater = 256 * 1024; // pipelined output held at most
    static constexpr qint64 IdleReleaseMs = 1000; // idle this long: give the buffers back

    std::unique_ptr<Http1Exchange> m_ex; // the exchange in flight (see Http1Exchange)
    qint64 m_headDeadline = 0;           // 0: none
    quint32 m_requestsOnConnection = 0;
    bool m_processing = false;
    bool m_draining = false;
    bool m_keepAlive = true;
};

} // namespace Berth::Engine
