#include "http1connection.h"

#include "connectionmanager.h"
#include "core/servercontext.h"
#include "core/statsregistry.h"
#include "core/workerhealth.h"
#include "http/httpdate.h"
#include "http/pathnormalizer.h"
#include "log/cef.h"
#include "log/logging.h"
#include "log/logsink.h"
#include "log/requestlogline.h"
#include "pipeline/router.h"
#include "transport.h"

#include "poller.h"
#include <QDateTime>
#include <QElapsedTimer>
#include <QLoggingCategory>
#include <QTimer>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <limits>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcHttp1, "berth.http1")

namespace Berth::Engine {

namespace {

constexpr qsizetype ReadChunk = 16 * 1024;
constexpr qsizetype BodyBufferCap = 64 * 1024; // unread body bytes held before we stop reading
constexpr qsizetype OutputHighWater = 256 * 1024;
constexpr qint64 SmallFileBytes = 32 * 1024; // read into the response buffer: one write
constexpr qint64 SendfileChunk = 1024 * 1024;
constexpr qint64 IdleReleaseMs = 1000;           // idle this long: give the buffers back
constexpr qsizetype FileBufferChunk = 64 * 1024; // file piece per write when sendfile can't be used

// Decimal or hex without a temporary QByteArray (this runs several times per response).
void appendNumber(QByteArray &out, qint64 value, int base = 10)
{
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, base);
    out.append(buffer, result.ptr - buffer);
}

void rebase(QByteArrayView &view, const char *from, const char *to)
{
    if (!view.isNull())
        view = QByteArrayView(to + (view.data() - from), view.size());
}

// Moves every view of a parsed head from the input buffer to the head's own storage, so the
// input buffer can grow and shift while the request is served.
void rebaseHead(Http::RequestHead &head, const char *from, const char *to)
{
    for (QByteArrayView *v :
         {&head.method, &head.target, &head.path, &head.query, &head.authority, &head.host})
        rebase(*v, from, to);
    for (Http::HeaderField &field : head.fields) {
        rebase(field.name, from, to);
        rebase(field.value, from, to);
    }
}

// "Example.COM:8080" -> "example.com"; "[::1]:80" -> "[::1]".
QByteArray hostWithoutPort(QByteArrayView host)
{
    qsizetype end = host.size();
    if (host.startsWith('[')) {
        const qsizetype close = host.indexOf(']');
        end = close < 0 ? host.size() : close + 1;
    } else if (const qsizetype colon = host.lastIndexOf(':'); colon >= 0) {
        end = colon;
    }
    return host.first(end).toByteArray().toLower();
}

bool isFramingHeader(QByteArrayView name)
{
    return Http::equalsIgnoreCase(name, "content-length") ||
           Http::equalsIgnoreCase(name, "transfer-encoding") ||
           Http::equalsIgnoreCase(name, "connection") || Http::equalsIgnoreCase(name, "date") ||
           Http::equalsIgnoreCase(name, "server");
}

bool isSafeFieldText(QByteArrayView text)
{
    for (char c : text) {
        if (c == '\r' || c == '\n' || c == '\0')
            return false;
    }
    return true;
}

qint64 nowMicros()
{
    static const QElapsedTimer clock = [] {
        QElapsedTimer t;
        t.start();
        return t;
    }();
    return clock.nsecsElapsed() / 1000;
}

} // namespace

Http1Connection::Http1Connection(ConnectionManager &manager, int fd, quint64 id,
                                 std::unique_ptr<Transport> transport)
    : QObject(&manager)
    , m_manager(manager)
    , m_transport(transport ? std::move(transport) : std::make_unique<PlainTransport>(fd))
    , m_fd(fd)
    , m_id(id)
    , m_parser(manager.settings().head)
{
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (::getpeername(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0) {
        m_peerAddress = QHostAddress(reinterpret_cast<sockaddr *>(&addr));
        m_peerPort =
            ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&addr)->sin6_port
                                             : reinterpret_cast<sockaddr_in *>(&addr)->sin_port);
    }
    len = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0) {
        m_localAddress = QHostAddress(reinterpret_cast<sockaddr *>(&addr));
        m_localPort =
            ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&addr)->sin6_port
                                             : reinterpret_cast<sockaddr_in *>(&addr)->sin_port);
    }
    // Responses go out whole in one write, so Nagle can only delay them.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    m_request.peerAddress = m_peerAddress;
    m_request.peerPort = m_peerPort;
    m_request.localAddress = m_localAddress;
    m_request.localPort = m_localPort;
    m_request.secure = m_transport->isSecure();
}

Http1Connection::~Http1Connection()
{
    if (m_fileFd >= 0)
        ::close(m_fileFd);
    if (m_fd >= 0)
        ::close(m_fd);
}

void Http1Connection::start()
{
    m_wantRead = true;
    m_wantWrite = false;
    m_registered = m_manager.poller()->add(m_fd, this, m_wantRead, m_wantWrite);
    const qint64 now = ConnectionManager::now();
    m_lastActivity = now;
    // A client that connects and sends nothing gets header_timeout, not idle_timeout.
    m_headDeadline = now + m_manager.settings().headerTimeoutMs;
    if (auto *stats = m_manager.server() ? m_manager.server()->stats : nullptr) {
        stats->add(Core::StatsRegistry::ActiveConnections);
        stats->add(Core::StatsRegistry::TotalConnections);
        m_countedActive = true;
    }
}

void Http1Connection::onPollEvents(bool readable, bool writable)
{
    if (readable && m_state != State::Closed)
        onReadable();
    if (writable && m_state != State::Closed)
        onWritable();
}

void Http1Connection::setInterest(bool read, bool write)
{
    if (!m_registered || (read == m_wantRead && write == m_wantWrite))
        return;
    m_wantRead = read;
    m_wantWrite = write;
    m_manager.poller()->update(m_fd, this, read, write);
}

bool Http1Connection::isIdle() const
{
    return m_state == State::WaitingHead && pendingInput().isEmpty() && m_outPos >= m_out.size() &&
           m_fileFd < 0;
}

QByteArrayView Http1Connection::pendingInput() const
{
    return QByteArrayView(m_in).sliced(m_inPos);
}

void Http1Connection::compactInput()
{
    if (m_inPos == 0)
        return;
    if (m_inPos >= m_in.size()) {
        m_in.resize(0);
        m_inPos = 0;
    } else if (m_inPos > m_in.size() / 2 || m_in.capacity() - m_in.size() < 1024) {
        m_in.remove(0, m_inPos);
        m_inPos = 0;
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

void Http1Connection::onReadable()
{
    if (m_state == State::Closed)
        return;
    if (m_writeNeedsReadable) {
        // A TLS write was waiting for the peer's handshake bytes.
        m_writeNeedsReadable = false;
        flush();
        if (m_state == State::Closed)
            return;
    }
    if (!readInput())
        return;
    if (m_state != State::Closing)
        process();
}

bool Http1Connection::readInput()
{
    if (m_state == State::Closing) {
        // Lingering close: swallow what the client still sends so that our last response is
        // not destroyed by a reset before the client has read it.
        char sink[4096];
        for (;;) {
            const qsizetype n = m_transport->read(sink, sizeof(sink));
            if (n > 0)
                continue;
            if (n == Transport::WouldBlock)
                return true;
            m_peerEof = true;
            if (m_outPos >= m_out.size() && m_fileFd < 0)
                closeSocket();
            else
                updateReadInterest();
            return false;
        }
    }
    for (int round = 0; round < 4; ++round) {
        compactInput();
        const qsizetype buffered = m_in.size() - m_inPos;
        const qsizetype cap = m_state == State::WaitingHead
                                  ? m_manager.settings().head.maxHeaderBytes + ReadChunk
                                  : BodyBufferCap;
        if (buffered >= cap)
            break;
        const qsizetype old = m_in.size();
        if (m_in.capacity() - old < ReadChunk)
            m_in.reserve(old + ReadChunk);
        const qsizetype room = m_in.capacity() - old;
        m_in.resize(old + room);
        const qsizetype n = m_transport->read(m_in.data() + old, room);
        if (n > 0) {
            m_in.resize(old + n);
            m_lastActivity = ConnectionManager::now();
            if (n < room && !m_transport->hasBufferedInput())
                break;
            continue;
        }
        m_in.resize(old);
        if (n == 0) {
            m_peerEof = true;
            break;
        }
        if (n == Transport::WouldBlock) {
            // A TLS handshake may need to send before it can read any further.
            m_readNeedsWritable = m_transport->wantsWrite();
            if (m_readNeedsWritable)
                setInterest(m_wantRead, true);
            break;
        }
        closeSocket(); // reset, or a TLS failure: the client is gone
        return false;
    }
    updateReadInterest();
    return true;
}

void Http1Connection::updateReadInterest()
{
    if (!m_registered || m_state == State::Closed)
        return;
    bool want = !m_peerEof;
    if (want && m_state != State::Closing) {
        const qsizetype buffered = m_in.size() - m_inPos;
        const qsizetype cap = m_state == State::WaitingHead
                                  ? m_manager.settings().head.maxHeaderBytes + ReadChunk
                                  : BodyBufferCap;
        want = buffered < cap;
    }
    if (m_wantRead != want)
        setInterest(want, m_wantWrite);
}

// ---------------------------------------------------------------------------------------------
// Request processing

void Http1Connection::process()
{
    if (m_processing || m_state == State::Closed)
        return;
    do {
        m_processing = true;
        processInput();
        m_processing = false;
        if (m_state == State::Closed)
            return;
        flush();
        // The flush may have sent the rest of a file and so completed the response: then the
        // exchange can end now (no further event would announce it).
    } while (m_state == State::Serving && m_responseFinished && m_fileFd < 0 && bodyComplete());
    if (m_state != State::Closed)
        updateReadInterest();
}

void Http1Connection::processInput()
{
    for (;;) {
        if (m_state == State::WaitingHead) {
            if (m_out.size() - m_outPos > OutputHighWater) {
                // Pipelined responses piled up: write them out before serving more, and wait
                // for the socket if the client is not reading (onWritable resumes us).
                flush();
                if (m_state == State::Closed || m_out.size() - m_outPos > OutputHighWater)
                    break;
            }
            const QByteArrayView in = pendingInput();
            if (in.isEmpty()) {
                if (m_peerEof)
                    closeSocket();
                break;
            }
            if (m_headDeadline == 0)
                m_headDeadline = ConnectionManager::now() + m_manager.settings().headerTimeoutMs;
            const auto status = m_parser.parse(in, m_request.head);
            if (status == Http::RequestHeadParser::Status::NeedMore) {
                if (m_peerEof)
                    closeSocket(); // a truncated head: nobody is left to answer
                break;
            }
            if (status == Http::RequestHeadParser::Status::EmptyClose) {
                closeSocket();
                break;
            }
            if (status == Http::RequestHeadParser::Status::Error) {
                m_request.head.clear();
                failRequest(m_parser.errorStatus(), m_parser.errorReason());
                break;
            }
            if (!startRequest())
                break;
            continue;
        }
        if (m_state != State::Serving)
            break;
        pumpBody();
        if (m_state != State::Serving)
            break;
        if (m_peerEof && !bodyComplete() && bodyCanNeverComplete()) {
            // The client closed in the middle of its body: it can't be completed, nobody is
            // left to answer, and waiting for body_timeout would hold the connection (and its
            // max_connections slot) in CLOSE-WAIT for nothing.
            closeSocket();
            break;
        }
        finishRequestIfDone();
        if (m_state != State::WaitingHead)
            break;
    }
}

bool Http1Connection::startRequest()
{
    const EngineSettings &settings = m_manager.settings();
    const QByteArrayView in = pendingInput();
    const qsizetype consumed = m_parser.consumed();
    m_headStorage.resize(consumed);
    std::memcpy(m_headStorage.data(), in.data(), size_t(consumed));
    rebaseHead(m_request.head, in.data(), m_headStorage.constData());
    consumeInput(consumed);
    m_parser.reset();

    const qint64 now = ConnectionManager::now();
    m_state = State::Serving;
    m_headDeadline = 0;
    m_requestStartMicros = nowMicros();
    m_requestWallMsecs = QDateTime::currentMSecsSinceEpoch();
    m_bytesInRequest = consumed;
    m_lastBodyProgress = now;
    ++m_requestsOnConnection;
    m_request.txnId = m_manager.nextTxnId();
    m_request.clearPerExchange();

    const Http::RequestHead &head = m_request.head;
    m_keepAlive = head.keepAlive && !m_draining && !m_manager.isDraining();
    m_bodyMode = head.chunked ? BodyMode::Chunked
                              : (head.contentLength > 0 ? BodyMode::Length : BodyMode::None);
    m_bodyRemaining = head.chunked ? 0 : qMax<qint64>(0, head.contentLength);

    if (head.method == "CONNECT") {
        failRequest(405, "CONNECT is not supported");
        return false;
    }
    const bool asterisk = head.path == "*";
    if (asterisk) {
        m_request.path = QByteArrayLiteral("*");
    } else if (!Http::normalizePath(head.path, m_request.path)) {
        failRequest(400, "invalid request path");
        return false;
    }
    m_request.hostName = hostWithoutPort(head.host);

    const Pipeline::Pipeline *pipeline = nullptr;
    if (!asterisk) {
        Pipeline::Router::Match match =
            m_manager.router()->route(m_request.hostName, m_request.path);
        pipeline = match.pipeline;
        m_request.scriptName = std::move(match.scriptName);
        m_request.pathInfo = std::move(match.pathInfo);
    }
    m_maxBody = pipeline && pipeline->maxBodyBytes() >= 0 ? pipeline->maxBodyBytes()
                                                          : settings.maxBodyBytes;
    // Refuse an announced oversized body before reading any of it (and without 100 Continue).
    if (m_bodyMode == BodyMode::Length && head.contentLength > m_maxBody) {
        failRequest(413, "request body over max_body_bytes");
        return false;
    }
    if (m_bodyMode == BodyMode::Chunked)
        m_chunked.reset(m_maxBody);

    setPipelinePosition(pipeline, 0);
    if (asterisk) {
        if (head.method == "OPTIONS") {
            m_response.setHeader("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
            respond(200, {}, {});
        } else {
            failRequest(400, "'*' target without OPTIONS");
            return false;
        }
    } else if (pipeline) {
        // What this thread is busy with, for the watchdog's report if it never comes back.
        Core::ThreadHealth::beginRequest(head.method, head.target, m_request.txnId, clientText());
        pipeline->run(*this);
        Core::ThreadHealth::endRequest();
    } else {
        Pipeline::respondWithError(*this, 404);
    }
    return m_state != State::Closed;
}

void Http1Connection::readBody(DataHandler onData, EventHandler onEnd)
{
    if (m_request.bodyBuffered) {
        // An earlier app of the pipeline already read the body and kept it.
        if (!m_request.bufferedBody.isEmpty() && onData)
            onData(m_request.bufferedBody);
        if (onEnd)
            onEnd();
        return;
    }
    m_onData = std::move(onData);
    m_onEnd = std::move(onEnd);
    m_bodyWanted = true;
    m_endDelivered = false;
    // 100 Continue only once the app asks for the body (RFC 9110 §10.1.1): an app that
    // answers without reading spares the client sending it.
    if (!bodyComplete() && m_request.head.expectContinue && !m_continueSent && !m_responseStarted) {
        m_continueSent = true;
        m_out.append("HTTP/1.1 100 Continue\r\n\r\n");
    }
    m_lastBodyProgress = ConnectionManager::now();
    if (!m_processing)
        process();
}

void Http1Connection::pauseBody()
{
    m_bodyPaused = true;
}

void Http1Connection::resumeBody()
{
    if (!m_bodyPaused)
        return;
    m_bodyPaused = false;
    m_lastBodyProgress = ConnectionManager::now();
    if (!m_processing)
        process();
}

void Http1Connection::pumpBody()
{
    const bool deliver = m_bodyWanted && !m_bodyPaused && !m_responseFinished;
    const bool discard = m_responseFinished;
    while (!bodyComplete() && (deliver || discard) && m_state == State::Serving) {
        const QByteArrayView in = pendingInput();
        if (in.isEmpty())
            break;
        QByteArrayView chunk;
        if (m_bodyMode == BodyMode::Length) {
            const qsizetype n = qsizetype(qMin<qint64>(m_bodyRemaining, in.size()));
            chunk = in.first(n);
            consumeInput(n);
            m_bytesInRequest += n;
            m_bodyRemaining -= n;
            if (m_bodyRemaining == 0)
                m_bodyMode = BodyMode::None;
        } else {
            const auto status = m_chunked.decode(in);
            consumeInput(m_chunked.consumed());
            m_bytesInRequest += m_chunked.consumed();
            if (status == Http::ChunkedDecoder::Status::Error) {
                failRequest(400, m_chunked.errorReason());
                return;
            }
            if (status == Http::ChunkedDecoder::Status::TooLarge) {
                failRequest(413, "chunked body over max_body_bytes");
                return;
            }
            if (status == Http::ChunkedDecoder::Status::Done)
                m_bodyMode = BodyMode::None;
            else if (status == Http::ChunkedDecoder::Status::Data)
                chunk = m_chunked.data();
            else if (m_chunked.consumed() == 0)
                break;
        }
        m_lastBodyProgress = ConnectionManager::now();
        if (deliver && !chunk.isEmpty() && m_onData) {
            // A copy: the app may replace or drop its handler (readBody, abort) while it runs.
            const DataHandler onData = m_onData;
            if (!callApp("body data", [&] { onData(chunk); }))
                return;
            if (m_state != State::Serving || m_bodyPaused || m_responseFinished)
                break;
        }
    }
    if (m_state == State::Serving && bodyComplete() && m_bodyWanted && !m_endDelivered &&
        !m_responseFinished) {
        m_endDelivered = true;
        if (EventHandler onEnd = m_onEnd)
            callApp("body end", onEnd);
    }
}

bool Http1Connection::bodyCanNeverComplete() const
{
    const qsizetype buffered = m_in.size() - m_inPos;
    // A known length tells at once; a chunked body only once what is buffered is decoded.
    if (m_bodyMode == BodyMode::Length)
        return m_bodyRemaining > buffered;
    return buffered == 0;
}

void Http1Connection::finishRequestIfDone()
{
    if (m_state != State::Serving || !m_responseFinished || m_fileFd >= 0)
        return;
    if (!bodyComplete()) {
        if (m_request.head.expectContinue && !m_continueSent) {
            // The client is waiting for 100 Continue that will never come: the unread body
            // can't be skipped reliably, so the connection ends with this response.
            beginClosing();
        }
        return; // otherwise pumpBody() discards the rest as it arrives
    }
    if (!m_keepAlive || m_draining || m_manager.isDraining()) {
        beginClosing();
        return;
    }
    resetForNextRequest();
}

void Http1Connection::resetForNextRequest()
{
    endExchange();
    m_state = State::WaitingHead;
    m_request.head.clear();
    m_response.clear();
    setPipelinePosition(nullptr, 0);
    m_bodyMode = BodyMode::None;
    m_bodyRemaining = 0;
    m_bodyWanted = false;
    m_bodyPaused = false;
    m_endDelivered = false;
    m_continueSent = false;
    m_onData = nullptr;
    m_onEnd = nullptr;
    m_onWritable = nullptr;
    m_onAbort = nullptr;
    m_responseStarted = false;
    m_responseFinished = false;
    m_headOnly = false;
    m_chunkedOut = false;
    m_writableWanted = false;
    m_status = 0;
    m_bodyBytesOut = 0;
    m_bytesOutRequest = 0;
    m_bytesInRequest = 0;
    m_logged = false;
    m_headDeadline = 0; // idle_timeout until the next request's first byte
    m_lastActivity = ConnectionManager::now();
}

void Http1Connection::failRequest(int status, const char *reason)
{
    if (m_state == State::Closed)
        return;
    if (status == 400 || status == 431 || status == 414 || status == 501 || status == 505) {
        if (auto *stats = m_manager.server() ? m_manager.server()->stats : nullptr)
            stats->add(Core::StatsRegistry::BadRequests);
    }
    qCDebug(lcHttp1).noquote() << QStringLiteral("%1:%2 %3: %4")
                                      .arg(m_peerAddress.toString())
                                      .arg(m_peerPort)
                                      .arg(status)
                                      .arg(QString::fromLatin1(reason));
    m_keepAlive = false;
    // The engine answers in the middle of an exchange an app holds (a 413 or 400 in the body it
    // is reading, a 408): for the app the exchange dies, so its abort handler runs.
    if (m_state == State::Serving && !m_responseFinished)
        runAbortHandler();
    // Security log (CEF): input that closed the connection. Logged after sendErrorAndClose so a
    // head that failed to parse carries its own txn id; no user (an earlier request's is stale).
    const auto logBadInput = [&] {
        if (status == 400 || status == 408 || status == 413 || status == 414 || status == 431 ||
            status == 501 || status == 505) {
            Log::logCef(QStringLiteral("Bad request"), 3, &m_request, QString(),
                        QStringLiteral("BadRequest"),
                        {{QStringLiteral("msg"), QString::fromLatin1(reason)},
                         {QStringLiteral("cn1Label"), QStringLiteral("status")},
                         {QStringLiteral("cn1"), QString::number(status)}});
        }
    };
    if (m_responseStarted) {
        logBadInput();
        abort();
        return;
    }
    sendErrorAndClose(status);
    logBadInput();
}

void Http1Connection::sendErrorAndClose(int status)
{
    if (m_state == State::WaitingHead) {
        // A head that failed to parse: log it as a request of its own.
        m_state = State::Serving;
        m_requestStartMicros = nowMicros();
        m_requestWallMsecs = QDateTime::currentMSecsSinceEpoch();
        m_request.txnId = m_manager.nextTxnId();
        m_request.clearPerExchange();
        ++m_requestsOnConnection;
        m_bytesInRequest = pendingInput().size();
    }
    m_keepAlive = false;
    m_response.clear();
    QByteArray body = QByteArray::number(status);
    body += ' ';
    body += Http::reasonPhrase(status);
    body += '\n';
    respond(status, "text/plain; charset=utf-8", body);
    beginClosing();
}

// ---------------------------------------------------------------------------------------------
// Responses

void Http1Connection::respond(int status, QByteArrayView contentType, QByteArray body)
{
    m_response.status = status;
    if (!contentType.isEmpty())
        m_response.setHeader("Content-Type", contentType);
    startResponse(body.size());
    write(body);
    finish();
}

void Http1Connection::startResponse(qint64 contentLength)
{
    if (m_responseStarted || m_state == State::Closed) {
        qCWarning(lcHttp1) << "startResponse called twice on txn" << m_request.txnId;
        return;
    }
    m_responseStarted = true;
    m_status = m_response.status;
    m_responseStartMicros = nowMicros();
    const int status = m_status;
    const bool noBodyStatus = status < 200 || status == 204 || status == 304;
    m_headOnly = noBodyStatus || m_request.isHead();
    if (!bodyComplete() && m_request.head.expectContinue && !m_continueSent)
        m_keepAlive = false;
    if (m_draining || m_manager.isDraining())
        m_keepAlive = false;
    const bool http11 = m_request.head.versionMinor >= 1 || m_request.head.method.isEmpty();

    if (m_outPos >= m_out.size()) {
        m_out.resize(0);
        m_outPos = 0;
        m_lastWriteProgress = ConnectionManager::now();
    }
    const qsizetype mark = m_out.size();
    m_out.append("HTTP/1.1 ");
    appendNumber(m_out, status);
    m_out.append(' ');
    m_out.append(Http::reasonPhrase(status));
    m_out.append("\r\nServer: berth\r\nDate: ");
    m_out.append(Http::DateCache::now());
    m_out.append("\r\n");
    if (!noBodyStatus) {
        if (contentLength >= 0) {
            m_out.append("Content-Length: ");
            appendNumber(m_out, contentLength);
            m_out.append("\r\n");
        } else if (http11) {
            m_out.append("Transfer-Encoding: chunked\r\n");
            m_chunkedOut = !m_headOnly;
        } else {
            m_keepAlive = false; // HTTP/1.0: the body ends with the connection
        }
    }
    if (!m_keepAlive)
        m_out.append("Connection: close\r\n");
    else if (!http11 || m_request.head.versionMinor == 0)
        m_out.append("Connection: keep-alive\r\n");
    if (m_request.secure && !m_manager.settings().hsts.isEmpty()) {
        m_out.append("Strict-Transport-Security: ");
        m_out.append(m_manager.settings().hsts);
        m_out.append("\r\n");
    }
    m_out.append("X-Berth-Txn: ");
    m_out.append(m_request.txnId);
    m_out.append("\r\n");
    for (const auto &[name, value] : m_response.headers()) {
        // The engine owns framing; and a CR or LF from an app would split the response.
        if (isFramingHeader(name) || !isSafeFieldText(name) || !isSafeFieldText(value))
            continue;
        m_out.append(name);
        m_out.append(": ");
        m_out.append(value);
        m_out.append("\r\n");
    }
    m_out.append("\r\n");
    m_bytesOutRequest += m_out.size() - mark;
}

bool Http1Connection::write(QByteArrayView data)
{
    if (m_state == State::Closed)
        return false;
    if (!m_responseStarted)
        startResponse(-1);
    if (m_responseFinished)
        return false;
    if (!m_headOnly && !data.isEmpty()) {
        if (m_outPos >= m_out.size()) {
            m_out.resize(0);
            m_outPos = 0;
            m_lastWriteProgress = ConnectionManager::now();
        }
        const qsizetype mark = m_out.size();
        if (m_chunkedOut) {
            appendNumber(m_out, data.size(), 16);
            m_out.append("\r\n");
            m_out.append(data);
            m_out.append("\r\n");
        } else {
            m_out.append(data);
        }
        m_bytesOutRequest += m_out.size() - mark;
        m_bodyBytesOut += data.size();
    }
    if (!m_processing)
        flush();
    const bool roomLeft = m_out.size() - m_outPos < OutputHighWater;
    if (!roomLeft)
        m_writableWanted = true;
    return roomLeft;
}

void Http1Connection::sendFile(int fd, qint64 offset, qint64 length)
{
    if (m_state == State::Closed || m_responseFinished) {
        ::close(fd);
        return;
    }
    if (!m_responseStarted)
        startResponse(length);
    if (m_headOnly || length <= 0) {
        ::close(fd);
        finish();
        return;
    }
    if (length <= SmallFileBytes && !m_chunkedOut) {
        // Small files travel in the same write as the head.
        if (m_outPos >= m_out.size()) {
            m_out.resize(0);
            m_outPos = 0;
        }
        const qsizetype at = m_out.size();
        m_out.resize(at + length);
        qint64 done = 0;
        while (done < length) {
            const ssize_t n =
                ::pread(fd, m_out.data() + at + done, size_t(length - done), offset + done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            done += n;
        }
        ::close(fd);
        if (done < length) {
            m_out.resize(at);
            qCWarning(lcHttp1) << "file shrank or failed while being served, txn"
                               << m_request.txnId;
            abort();
            return;
        }
        m_bytesOutRequest += length;
        m_bodyBytesOut += length;
        finish();
        return;
    }
    if (m_chunkedOut) {
        appendNumber(m_out, length, 16);
        m_out.append("\r\n");
        m_afterFile = QByteArrayLiteral("\r\n");
    }
    m_fileFd = fd;
    m_fileOffset = offset;
    m_fileRemaining = length;
    m_bytesOutRequest += length;
    m_bodyBytesOut += length;
    finish();
}

void Http1Connection::finish()
{
    if (m_state == State::Closed || m_responseFinished)
        return;
    if (!m_responseStarted)
        startResponse(0);
    if (m_chunkedOut) {
        if (m_fileFd >= 0)
            m_afterFile.append("0\r\n\r\n");
        else
            m_out.append("0\r\n\r\n");
        m_bytesOutRequest += 5;
    }
    m_responseFinished = true;
    if (m_fileFd < 0)
        writeRequestLog();
    if (!m_processing)
        process();
}

void Http1Connection::abort()
{
    if (m_state == State::Closed)
        return;
    m_onAbort = nullptr; // the app aborted itself; don't call it back
    m_onData = nullptr;
    m_onEnd = nullptr;
    m_onWritable = nullptr;
    cancelAppTimers();
    if (!m_responseStarted)
        m_status = 500;
    writeRequestLog();
    // What was queued goes out (best effort) so the client sees a response that stops short;
    // the close then tells it the response is incomplete.
    m_responseFinished = true;
    flush();
    closeSocket();
}

// ---------------------------------------------------------------------------------------------
// Writing

void Http1Connection::onWritable()
{
    if (m_state == State::Closed)
        return;
    if (m_readNeedsWritable) {
        m_readNeedsWritable = false;
        onReadable();
        if (m_state == State::Closed)
            return;
    }
    flush();
    if (m_state == State::Closed)
        return;
    if (m_writableWanted && m_onWritable && !m_responseFinished &&
        m_out.size() - m_outPos < OutputHighWater) {
        m_writableWanted = false;
        EventHandler handler = m_onWritable;
        callApp("writable", handler);
    }
    if (m_state != State::Closed && !m_processing)
        process();
}

void Http1Connection::flush()
{
    while (m_state != State::Closed) {
        if (m_outPos < m_out.size()) {
            const qsizetype n = m_transport->write(m_out.constData() + m_outPos,
                                                   m_out.size() - m_outPos, m_fileFd >= 0);
            if (n > 0) {
                m_outPos += n;
                m_lastWriteProgress = ConnectionManager::now();
                continue;
            }
            if (n == Transport::WouldBlock) {
                waitForWritable();
                return;
            }
            closeSocket(); // EPIPE, ECONNRESET: the client is gone
            return;
        }
        m_out.resize(0);
        m_outPos = 0;
        if (m_fileFd >= 0) {
            const qsizetype chunk = qsizetype(qMin(m_fileRemaining, SendfileChunk));
            qsizetype n = 0;
            if (m_transport->canSendFile()) {
                n = m_transport->sendFile(m_fileFd, &m_fileOffset, chunk);
            } else {
                // TLS: the kernel can't encrypt for us, so the file goes through the output
                // buffer in bounded pieces.
                n = readFileIntoOutput(qMin<qsizetype>(chunk, FileBufferChunk));
            }
            if (n > 0) {
                m_fileRemaining -= n;
                m_lastWriteProgress = ConnectionManager::now();
                if (m_fileRemaining == 0) {
                    ::close(m_fileFd);
                    m_fileFd = -1;
                    m_out.append(m_afterFile);
                    m_afterFile.clear();
                    if (m_responseFinished)
                        writeRequestLog();
                }
                continue;
            }
            if (n == Transport::WouldBlock) {
                waitForWritable();
                return;
            }
            // The file shrank under us or can't be read: the promised length can't be
            // delivered, so the client must see the connection end.
            qCWarning(lcHttp1) << "sendfile failed on txn" << m_request.txnId;
            closeSocket();
            return;
        }
        break;
    }
    if (m_state == State::Closed)
        return;
    // Everything went out. An app waiting to write more is told from onWritable(), which the
    // notifier fires at once since the socket has room; nobody else needs write events.
    setInterest(m_wantRead,
                (m_writableWanted && m_onWritable && !m_responseFinished) || m_readNeedsWritable);
    afterFlushed();
}

void Http1Connection::waitForWritable()
{
    if (m_transport->wantsWrite()) {
        setInterest(m_wantRead, true);
    } else {
        // TLS wants the peer's bytes first; the read notifier brings us back.
        m_writeNeedsReadable = true;
        if (!m_wantRead)
            setInterest(true, m_wantWrite);
    }
}

qsizetype Http1Connection::readFileIntoOutput(qsizetype count)
{
    const qsizetype at = m_out.size();
    m_out.resize(at + count);
    for (;;) {
        const ssize_t n = ::pread(m_fileFd, m_out.data() + at, size_t(count), m_fileOffset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            m_out.resize(at);
            return Transport::Failed;
        }
        m_out.resize(at + n);
        m_fileOffset += n;
        return n;
    }
}

void Http1Connection::afterFlushed()
{
    if (m_state != State::Closing || m_lingering)
        return;
    if (m_peerEof) {
        closeSocket();
        return;
    }
    // Everything is sent: half-close and read whatever the client still sends for a moment.
    m_transport->shutdownWrite();
    m_lingering = true;
    m_lingerDeadline = ConnectionManager::now() + m_manager.settings().lingerTimeoutMs;
    updateReadInterest();
}

void Http1Connection::beginClosing()
{
    if (m_state == State::Closed || m_state == State::Closing)
        return;
    m_state = State::Closing;
    m_keepAlive = false;
    if (!m_processing)
        flush();
}

void Http1Connection::closeNow()
{
    closeSocket();
}

void Http1Connection::drain()
{
    m_draining = true;
    // An idle keep-alive connection can go now. One that was accepted but has not sent its
    // first request yet is a client that is about to: closing it would reset that request, so
    // it gets its answer (with Connection: close), bounded by header_timeout.
    if (isIdle() && m_requestsOnConnection > 0)
        closeSocket();
}

void Http1Connection::closeSocket()
{
    if (m_state == State::Closed)
        return;
    const bool appHoldsExchange = m_state == State::Serving && !m_responseFinished;
    m_state = State::Closed;
    if (appHoldsExchange) {
        if (!m_logged) {
            if (!m_responseStarted)
                m_status = 499; // nginx's "client closed request"
            writeRequestLog();
        }
        runAbortHandler();
    }
    m_onData = nullptr;
    m_onEnd = nullptr;
    m_onWritable = nullptr;
    m_onAbort = nullptr;
    endExchange();
    if (m_registered) {
        m_manager.poller()->remove(m_fd);
        m_registered = false;
    }
    if (m_fileFd >= 0) {
        ::close(m_fileFd);
        m_fileFd = -1;
    }
    ::close(m_fd);
    m_fd = -1;
    if (m_countedActive) {
        m_manager.server()->stats->add(Core::StatsRegistry::ActiveConnections, -1);
        m_countedActive = false;
    }
    m_manager.release(this);
}

// ---------------------------------------------------------------------------------------------
// Timeouts and logging

void Http1Connection::releaseIdleBuffers()
{
    // A keep-alive connection waiting for its next request needs no buffers: thousands of idle
    // clients then cost little more than their sockets (nginx frees its buffers the same way).
    // A busy connection keeps them, so there is no allocation per request.
    if (m_in.capacity() == 0 && m_out.capacity() == 0)
        return;
    m_in = QByteArray();
    m_inPos = 0;
    m_out = QByteArray();
    m_outPos = 0;
    m_headStorage = QByteArray();
    std::vector<Http::HeaderField>().swap(m_request.head.fields);
}

void Http1Connection::checkTimeouts(qint64 now)
{
    const EngineSettings &s = m_manager.settings();
    switch (m_state) {
    case State::WaitingHead:
        if (m_headDeadline != 0) {
            if (now >= m_headDeadline) {
                if (pendingInput().isEmpty())
                    closeSocket(); // connected but never sent a byte
                else
                    failRequest(408, "request head not received in time");
            }
        } else if (now - m_lastActivity >= s.idleTimeoutMs) {
            closeSocket(); // idle keep-alive connection
        } else if (now - m_lastActivity >= IdleReleaseMs && isIdle()) {
            releaseIdleBuffers();
        }
        return;
    case State::Serving: {
        const bool outputPending = m_outPos < m_out.size() || m_fileFd >= 0;
        if (outputPending && now - m_lastWriteProgress >= s.sendTimeoutMs) {
            closeSocket();
            return;
        }
        const bool waitingForBody =
            !bodyComplete() && ((m_bodyWanted && !m_bodyPaused) || m_responseFinished);
        if (waitingForBody && now - m_lastBodyProgress >= s.bodyTimeoutMs) {
            if (m_responseStarted)
                closeSocket();
            else
                failRequest(408, "request body not received in time");
        }
        return;
    }
    case State::Closing:
        if (m_lingering ? now >= m_lingerDeadline : now - m_lastWriteProgress >= s.sendTimeoutMs)
            closeSocket();
        return;
    case State::Closed:
        return;
    }
}

const QByteArray &Http1Connection::clientText()
{
    // Once per connection, not per request.
    if (m_clientText.isEmpty())
        m_clientText = m_peerAddress.toString().toLatin1() + ':' + QByteArray::number(m_peerPort);
    return m_clientText;
}

void Http1Connection::writeRequestLog()
{
    if (m_logged)
        return;
    m_logged = true;
    const qint64 endMicros = nowMicros();
    const qint64 started = m_responseStarted ? m_responseStartMicros : endMicros;
    if (auto *stats = m_manager.server() ? m_manager.server()->stats : nullptr)
        stats->recordRequest(m_status, endMicros - m_requestStartMicros, m_bytesInRequest,
                             m_bytesOutRequest);
    Log::LogSink *sink = Log::Logging::requestLog();
    if (!sink)
        return;
    const Http::RequestHead &head = m_request.head;
    if (m_serverText.isEmpty())
        m_serverText = m_manager.settings().serverName + ':' + QByteArray::number(m_localPort);
    const QByteArray user = m_request.user.isEmpty() ? QByteArray() : m_request.user.toUtf8();
    const QByteArray token = m_request.token.isEmpty() ? QByteArray() : m_request.token.toUtf8();
    char local[48] = "C";
    char *end = std::to_chars(local + 1, local + 24, m_id).ptr;
    *end++ = '-';
    *end++ = 'R';
    end = std::to_chars(end, local + sizeof(local), m_requestsOnConnection).ptr;
    Log::RequestLogRecord record;
    record.startedAtMsecs = m_requestWallMsecs;
    record.client = clientText();
    record.server = m_serverText;
    record.method = head.method;
    record.url = head.target;
    record.version = head.method.isEmpty() ? QByteArrayView()
                                           : (head.versionMinor == 0 ? QByteArrayView("HTTP/1.0")
                                                                     : QByteArrayView("HTTP/1.1"));
    record.status = m_status;
    record.bytesReceived = m_bytesInRequest;
    record.bytesSent = m_bytesOutRequest;
    record.globalTxn = m_request.txnId;
    record.localTxn = QByteArrayView(local, end - local);
    record.user = user;
    record.token = token;
    record.userAgent = head.field("User-Agent");
    record.handlingMicros = started - m_requestStartMicros;
    record.sendingMicros = endMicros - started;
    // One line buffer per thread, reused: no allocation per request once it has grown.
    thread_local QByteArray line;
    line.resize(0);
    Log::appendRequestLogLine(line, record);
    sink->append(line);
}

// ---------------------------------------------------------------------------------------------
// The app boundary

bool Http1Connection::callApp(const char *what, const std::function<void()> &callback)
{
    // Callbacks after the first one of an exchange run outside the pipeline's own try/catch
    // (Pipeline::runFrom), so the engine is the boundary: nothing an app throws may unwind
    // through the event loop and take the worker's other connections with it.
    const bool outermost = !m_inAppCallback;
    if (outermost) {
        m_inAppCallback = true;
        const Http::RequestHead &head = m_request.head;
        Core::ThreadHealth::beginRequest(head.method, head.target, m_request.txnId, clientText());
    }
    const char *failure = nullptr;
    std::string message;
    try {
        callback();
    } catch (const std::exception &e) {
        message = e.what();
        failure = message.c_str();
    } catch (...) {
        failure = "unknown exception";
    }
    if (outermost) {
        Core::ThreadHealth::endRequest();
        m_inAppCallback = false;
    }
    if (!failure)
        return true;
    appFailed(what, failure);
    return false;
}

void Http1Connection::appFailed(const char *what, const char *failure)
{
    qCCritical(lcHttp1).noquote() << QStringLiteral(
                                         "app callback (%1) failed on %2 %3 (txn %4): %5")
                                         .arg(QLatin1StringView(what),
                                              QString::fromLatin1(m_request.method()),
                                              QString::fromLatin1(m_request.head.target),
                                              QString::fromLatin1(m_request.txnId),
                                              QString::fromUtf8(failure));
    if (m_state != State::Serving || m_responseFinished)
        return; // the exchange is over already; nothing left to answer
    runAbortHandler();
    if (m_state != State::Serving)
        return;
    if (m_responseStarted) {
        abort(); // a truncated response must not look complete
        return;
    }
    // The operator finds the log line by the txn id; the client never sees the exception text.
    m_response.clear();
    m_keepAlive = false;
    QByteArray body = QByteArrayLiteral("500 Internal Server Error\ntxn: ");
    body += m_request.txnId;
    body += '\n';
    respond(500, "text/plain; charset=utf-8", body);
}

void Http1Connection::runAbortHandler()
{
    // The exchange dies before the app finished it: nothing else of the app's runs afterwards.
    m_onData = nullptr;
    m_onEnd = nullptr;
    m_onWritable = nullptr;
    cancelAppTimers();
    EventHandler onAbort = std::move(m_onAbort);
    m_onAbort = nullptr;
    if (!onAbort)
        return;
    try {
        onAbort();
    } catch (const std::exception &e) {
        qCCritical(lcHttp1) << "abort handler failed on txn" << m_request.txnId << ":" << e.what();
    } catch (...) {
        qCCritical(lcHttp1) << "abort handler failed on txn" << m_request.txnId;
    }
}

void Http1Connection::runAfter(qint64 msecs, EventHandler handler)
{
    if (m_state == State::Closed || !handler)
        return;
    auto *timer = new QTimer(this);
    timer->setSingleShot(true);
    m_appTimers.push_back(timer);
    connect(timer, &QTimer::timeout, this, [this, timer, handler = std::move(handler)] {
        m_appTimers.erase(std::remove(m_appTimers.begin(), m_appTimers.end(), timer),
                          m_appTimers.end());
        timer->deleteLater();
        if (m_state == State::Closed)
            return;
        callApp("timer", handler);
        if (m_state != State::Closed && !m_processing)
            process();
    });
    timer->start(int(std::clamp<qint64>(msecs, 0, std::numeric_limits<int>::max())));
}

void Http1Connection::cancelAppTimers()
{
    for (QTimer *timer : m_appTimers) {
        timer->stop();
        timer->deleteLater();
    }
    m_appTimers.clear();
}

void Http1Connection::endExchange()
{
    // Whatever apps attached to the exchange goes with it (the session owner too, rather than
    // when the next request starts), and handles given out turn null.
    cancelAppTimers();
    m_request.clearPerExchange();
    endLife();
}

} // namespace Berth::Engine
