#pragma once

#include "memberaddress.h"
#include "responsehead.h"

#include "engine/poller.h"
#include "engine/timerwheel.h"
#include "http/chunkeddecoder.h"

#include <QByteArray>

#include <chrono>
#include <functional>
#include <memory>

using SSL = struct ssl_st;

namespace Berth::Upstream {

class ClientTlsContext;

// One non-blocking HTTP/1.1 client connection to a member, on the calling thread's poller
// (Engine::Poller::forCurrentThread()). It carries one request at a time: the caller writes the
// request head and body bytes already framed, and gets the final response head and the
// decoded body back through a Handler, with back-pressure both ways. Kept between requests by
// the ConnectionPool. Deleted by close() only, at the end of the poller's turn (it may still
// hold an event for it). Not a QObject: its timeouts sit on the thread's timer wheel
// (Engine::TimerWheel::forCurrentThread()) and its events go to the Handler, so a new member
// connection costs one allocation of its own, not a QObject's and a QTimer's.
class UpstreamConnection final : private Engine::Poller::Handler, private Engine::TimerWheel::Timer
{
public:
    enum class Failure {
        Connect,         // refused, unreachable, TLS handshake or verification failed
        ConnectTimeout,  // connect_timeout
        ResponseTimeout, // response_timeout: no response head in time
        ReadTimeout,     // read_timeout: the member stalled mid-response or mid-upload
        Closed,          // the member closed or reset before the response was complete
        BadResponse,     // an unparseable or ambiguous response head
    };
    static const char *failureName(Failure failure);
    // Connections of the calling thread not yet deleted (tests, leak checks).
    static int liveCount();

    // The request in flight. Calls may close the connection; the connection stays a valid
    // object until control returns to the event loop. A connection that closes itself tells
    // its handler (upstreamFailed(), or upstreamEnd() for a tunnel or a response that ends
    // with the connection), so a handler may hold it by plain pointer.
    class Handler
    {
    public:
        virtual ~Handler() = default;
        virtual void upstreamConnected() = 0;
        // The final response head (1xx other than 101 are dropped here).
        virtual void upstreamHead(const ResponseHead &head) = 0;
        virtual void upstreamData(QByteArrayView data) = 0;
        virtual void upstreamEnd() = 0;
        // The output buffer drained after write() returned false.
        virtual void upstreamWritable() = 0;
        virtual void upstreamFailed(Failure failure, bool responseStarted) = 0;
    };

    struct Timeouts
    {
        std::chrono::milliseconds connect{5000};
        std::chrono::milliseconds response{60000};
        std::chrono::milliseconds read{60000};
    };

    // tls: null for cleartext; serverName: SNI and the name verified (empty: none).
    UpstreamConnection(const ResolvedAddress &address, std::shared_ptr<ClientTlsContext> tls,
                       const QByteArray &serverName);
    ~UpstreamConnection() override;
    UpstreamConnection(const UpstreamConnection &) = delete;
    UpstreamConnection &operator=(const UpstreamConnection &) = delete;

    // Starts connecting; the handler's upstreamConnected() or upstreamFailed() follows (never
    // inline).
    void open(Handler *handler, const Timeouts &timeouts);
    bool isConnected() const { return m_state == State::Ready || m_state == State::Busy; }
    bool isIdle() const { return m_state == State::Ready; }

    // Starts a request on a connected connection: head is the whole request head; method
    // decides the response framing (HEAD).
    void beginRequest(Handler *handler, const QByteArray &head, QByteArrayView method,
                      const Timeouts &timeouts);
    // Body bytes, already framed. False when the output buffer is over its high-water mark:
    // stop until upstreamWritable().
    bool write(QByteArrayView data);
    // The request is complete: the response timeout starts.
    void endRequest();
    // The request asked for an upgrade (WebSocket): a 101 answer turns the connection into a
    // byte tunnel whose bytes come as upstreamData() until the member's end (upstreamEnd()).
    void expectUpgrade() { m_upgrade = true; }
    bool isTunnel() const { return m_readState == ReadState::Tunnel; }
    // Tunnel: our direction ends (FIN, or TLS close_notify then FIN).
    void shutdownWrite();
    // Flow control for a slow client.
    void pauseReading();
    void resumeReading();
    // True once a whole response was read and the member will take another request.
    bool reusable() const { return m_state == State::Ready && m_reusable; }
    // Parks the connection idle: closes it and runs onGone when the member hangs up or after
    // idleTimeout. onGone runs on every close() of a parked connection, whoever closes it.
    void park(std::chrono::milliseconds idleTimeout, std::function<void()> onGone);
    // Closes the socket (no handler call; a parked connection's onGone runs) and schedules
    // deletion (Poller::deferToTurnEnd()).
    void close();

private:
    enum class State { Connecting, Handshaking, Ready, Busy, Closed };
    enum class ReadState { Head, Body, Tunnel, Done };

    void onPollEvents(bool readable, bool writable) override;
    void onTimer(qint64 now) override;
    // What runs at the end of the loop turn (runLater()): a failure open() found, which the
    // caller must not see inline, or the bytes TLS decrypted already, which announce
    // themselves with no socket event.
    enum class Later { None, Fail, Read };
    void runLater(Later what);
    void cancelLater();
    static void runLaterBatch(void *);
    void finishConnect();
    void doHandshake();
    void onReadable();
    void processBody(QByteArrayView data);
    void completeResponse();
    bool flush();
    void fail(Failure failure);
    void updateInterest();
    void watch(bool read, bool write);
    void armTimer(std::chrono::milliseconds timeout, Failure failure);
    void setDeadline(qint64 deadlineMs);
    void disarmTimer() { m_deadlineMs = 0; }
    qsizetype rawRead(char *buffer, qsizetype size, bool *eof, bool *error);
    qsizetype rawWrite(const char *data, qsizetype size, bool *error);

    int m_fd = -1;
    ResolvedAddress m_address;
    std::shared_ptr<ClientTlsContext> m_tls;
    QByteArray m_serverName;
    SSL *m_ssl = nullptr;
    bool m_sslWantsWrite = false;
    Engine::Poller *m_poller = nullptr;
    Handler *m_handler = nullptr;
    State m_state = State::Connecting;
    ReadState m_readState = ReadState::Done;
    Timeouts m_timeouts;
    Failure m_timerFailure = Failure::ConnectTimeout;
    // When the armed timeout (or the idle time in the pool) expires on the wheel's clock, 0:
    // none. The wheel's timer runs lazily behind it (setDeadline()).
    qint64 m_deadlineMs = 0;
    Later m_later = Later::None; // queued with runLater()

    QByteArray m_out;
    qsizetype m_outSent = 0;
    bool m_wantWritable = false;
    bool m_watchRead = false; // the interest the poller has, as last set
    bool m_watchWrite = false;
    bool m_paused = false;
    bool m_requestEnded = false;
    bool m_upgrade = false;
    bool m_shutdownPending = false;
    QByteArray m_in;            // a response head not yet complete
    bool m_headRequest = false; // a HEAD: the response has no body
    ResponseHead m_head;
    ResponseHeadParser m_parser;
    BodyFraming m_framing = BodyFraming::None;
    qint64 m_remaining = 0;
    Http::ChunkedDecoder m_chunked;
    bool m_responseStarted = false;
    bool m_reusable = false;
    std::function<void()> m_onGone;
};

} // namespace Berth::Upstream
