#pragma once

#include "http/chunkeddecoder.h"
#include "http/exchange.h"
#include "http/requestheadparser.h"
#include "poller.h"

#include <QByteArray>
#include <QHostAddress>
#include <QObject>

#include <functional>
#include <memory>
#include <vector>

class QTimer;

namespace Berth::Engine {

class ConnectionManager;
class Transport;

// One HTTP/1.x client connection, and the exchange of the request it is serving (reused for
// each request on the connection). Reads into one buffer and parses in place; requests are
// served one at a time, in order, so pipelined responses can't overtake each other; each
// response is written with as few system calls as possible (head and small bodies together,
// large files with sendfile).
class Http1Connection final : public QObject, public Http::Exchange, public Poller::Handler
{
    Q_OBJECT
public:
    // transport: how bytes move (TLS); null means plain TCP on fd.
    Http1Connection(ConnectionManager &manager, int fd, quint64 id,
                    std::unique_ptr<Transport> transport = nullptr);
    ~Http1Connection() override;

    void start();
    void checkTimeouts(qint64 now);
    // Between requests with nothing received: may be closed to make room or on drain.
    bool isIdle() const;
    // Closes at once (idle on drain, making room, server stopping).
    void closeNow();
    // Draining: finish the current response with Connection: close.
    void drain();

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
    void setAbortHandler(EventHandler handler) override { m_onAbort = std::move(handler); }
    void abort() override;
    void runAfter(qint64 msecs, EventHandler handler) override;

    // Poller::Handler
    void onPollEvents(bool readable, bool writable) override;

private:
    enum class State {
        WaitingHead, // reading the next request head (or idle between requests)
        Serving,     // an app has the exchange
        Closing,     // the last response is being written / we linger before close
        Closed,
    };
    enum class BodyMode { None, Length, Chunked };

    void onReadable();
    void onWritable();
    bool readInput();
    void process();
    void processInput();
    bool startRequest();
    void dispatch();
    void pumpBody();
    bool bodyComplete() const { return m_bodyMode == BodyMode::None; }
    // After the peer's end of stream: the rest of the body can't arrive any more.
    bool bodyCanNeverComplete() const;
    void finishRequestIfDone();
    void resetForNextRequest();
    void failRequest(int status, const char *reason);
    void sendErrorAndClose(int status);
    void flush();
    void afterFlushed();
    void waitForWritable();
    qsizetype readFileIntoOutput(qsizetype count);
    void beginClosing();
    void closeSocket();
    void writeRequestLog();
    const QByteArray &clientText();
    // Runs an app's callback; an exception stops at this boundary (appFailed). False when it
    // threw.
    bool callApp(const char *what, const std::function<void()> &callback);
    void appFailed(const char *what, const char *failure);
    // The exchange dies before the app finished it: drops its callbacks and runs its abort
    // handler (once).
    void runAbortHandler();
    void cancelAppTimers();
    // The exchange is over (finished and done, or closed): per-exchange state is released.
    void endExchange();
    void updateReadInterest();
    void setInterest(bool read, bool write);
    void compactInput();
    void releaseIdleBuffers();
    QByteArrayView pendingInput() const;
    void consumeInput(qsizetype n) { m_inPos += n; }

    ConnectionManager &m_manager;
    std::unique_ptr<Transport> m_transport;
    int m_fd;
    quint64 m_id;
    bool m_registered = false; // in the thread's epoll set
    bool m_wantRead = false;
    bool m_wantWrite = false;
    QByteArray m_clientText; // "ip:port" and "name:port" for request.log, made on first use
    QByteArray m_serverText;
    QHostAddress m_peerAddress;
    quint16 m_peerPort = 0;
    QHostAddress m_localAddress;
    quint16 m_localPort = 0;

    State m_state = State::WaitingHead;
    QByteArray m_in;
    qsizetype m_inPos = 0;
    QByteArray m_headStorage; // the current request's head; Request views point here
    Http::RequestHeadParser m_parser;
    Http::ChunkedDecoder m_chunked;
    bool m_peerEof = false;
    bool m_readNeedsWritable = false;  // TLS: a read waits for the socket to take our bytes
    bool m_writeNeedsReadable = false; // TLS: a write waits for the peer's bytes
    bool m_processing = false;
    bool m_draining = false;
    quint32 m_requestsOnConnection = 0;

    // request body
    BodyMode m_bodyMode = BodyMode::None;
    qint64 m_bodyRemaining = 0;
    qint64 m_maxBody = 0;
    bool m_bodyWanted = false; // the app called readBody()
    bool m_bodyPaused = false;
    bool m_continueSent = false;
    bool m_endDelivered = false;
    DataHandler m_onData;
    EventHandler m_onEnd;
    EventHandler m_onWritable;
    EventHandler m_onAbort;
    std::vector<QTimer *> m_appTimers; // runAfter(); they die with the exchange
    bool m_inAppCallback = false;

    // response
    bool m_responseStarted = false;
    bool m_responseFinished = false;
    bool m_headOnly = false; // HEAD, 1xx, 204, 304: no body bytes go out
    bool m_chunkedOut = false;
    bool m_keepAlive = true;
    bool m_writableWanted = false;
    int m_status = 0;
    qint64 m_bodyBytesOut = 0;
    QByteArray m_out;
    qsizetype m_outPos = 0;
    int m_fileFd = -1;
    qint64 m_fileOffset = 0;
    qint64 m_fileRemaining = 0;
    QByteArray m_afterFile; // chunk framing that follows a file being sent

    // accounting and timeouts
    qint64 m_bytesInRequest = 0;
    qint64 m_bytesOutRequest = 0;
    qint64 m_requestStartMicros = 0;
    qint64 m_responseStartMicros = 0;
    qint64 m_requestWallMsecs = 0;
    qint64 m_lastActivity = 0;
    qint64 m_headDeadline = 0; // 0: none
    qint64 m_lastBodyProgress = 0;
    qint64 m_lastWriteProgress = 0;
    qint64 m_lingerDeadline = 0;
    bool m_lingering = false;
    bool m_logged = false;
    bool m_countedActive = false;
};

} // namespace Berth::Engine
