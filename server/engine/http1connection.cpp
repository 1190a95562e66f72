#include "http1connection.h"

#include "connectionmanager.h"
#include "http/response.h"
#include "protocolselector.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"
#include "threadbuffers.h"
#include "transport.h"

#include <QLoggingCategory>

#include <algorithm>
#include <cstring>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcHttp1, "berth.http1")

namespace Berth::Engine {

namespace {

constexpr qsizetype ReadChunk = 16 * 1024;
constexpr qsizetype BodyBufferCap = 64 * 1024; // unread body bytes held before we stop reading
constexpr qint64 SmallFileBytes = 32 * 1024;   // read into the response buffer: one write

} // namespace

Http1Connection::Http1Connection(ConnectionManager &manager, int fd, quint64 id,
                                 std::unique_ptr<Transport> transport)
    : Connection(manager, fd, id, std::move(transport))
{
    m_lendsInput = true; // requests are read whole between idle spells: lend the buffer
}

Http1Connection::~Http1Connection()
{
    // Closed (onClosing ended the exchange) or handed over: the exchange serves another
    // connection next.
    giveBackExchange();
}

Http::Exchange *Http1Connection::exchange() const
{
    return m_ex.get();
}

Http1Exchange &Http1Connection::borrowExchange()
{
    if (!m_ex) {
        m_ex = m_manager.takeHttp1Exchange();
        m_ex->attach(this);
    }
    m_ex->m_dirty = true; // about to be used: reset() before it serves another connection
    return *m_ex;
}

void Http1Connection::giveBackExchange()
{
    if (m_ex)
        m_manager.giveHttp1Exchange(std::move(m_ex));
}

void Http1Connection::afterAppCallback()
{
    if (m_state != State::Closed)
        process();
}

void Http1Connection::onStarted()
{
    // A client that connects and sends nothing gets header_timeout, not idle_timeout.
    m_headDeadline = now() + m_manager.settings().headerTimeoutMs;
}

bool Http1Connection::isIdle() const
{
    return m_state == State::Idle && pendingInput().isEmpty() && !outputPending();
}

qsizetype Http1Connection::inputCap() const
{
    return m_state == State::Idle ? m_manager.settings().head.maxHeaderBytes + ReadChunk
                                  : BodyBufferCap;
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
    } while (m_state == State::Active && m_ex->m_responseFinished && !fileInFlight() &&
             bodyComplete());
    if (m_state == State::Closed)
        return;
    updateReadInterest();
    // Between requests with nothing pending: the exchange (and with it the head storage and
    // header fields) goes back to the thread, and so does the output buffer.
    if (isIdle() && m_ex) {
        giveBackExchange();
        lendInputBuffer();
        lendOutputBuffer();
        // Nothing to release later either: sleep until idle_timeout (an earlier arm, the
        // header_timeout or the tick of the exchange, would only wake it for nothing; the idle
        // deadline of the previous request, a little earlier, is kept: see relaxCheck()).
        relaxCheck();
    }
}

void Http1Connection::processInput()
{
    for (;;) {
        if (m_state == State::Idle) {
            if (outputQueued() > OutputHighWater) {
                // Pipelined responses piled up: write them out before serving more, and wait
                // for the socket if the client is not reading (a write event resumes us).
                flush();
                if (m_state == State::Closed || outputQueued() > OutputHighWater)
                    break;
            }
            const QByteArrayView in = pendingInput();
            if (in.isEmpty()) {
                if (m_peerEof)
                    closeSocket();
                break;
            }
            if (m_requestsOnConnection == 0) {
                // The connection's first bytes: the protocol is chosen here (ALPN, or the
                // cleartext HTTP/2 preface); with HTTP/1 the only codec, a preface is answered
                // by the HTTP/1 parser as before.
                const Protocol protocol = selectProtocol(m_transport->negotiatedProtocol(), in);
                if (protocol == Protocol::Undecided && !m_peerEof)
                    break;
                // Prior knowledge on cleartext only with [http2] h2c; "h2" by ALPN always.
                const bool allowed =
                    m_transport->isSecure() || (m_http2Allowed && m_manager.settings().http2.h2c);
                if (protocol == Protocol::Http2 && allowed &&
                    handOver(codecFactory(Protocol::Http2)))
                    return;
            }
            if (m_headDeadline == 0)
                m_headDeadline = now() + m_manager.settings().headerTimeoutMs;
            borrowExchange();
            if (m_ex->m_request.head.fields.capacity() == 0)
                m_ex->m_request.head.fields = ThreadBuffers::takeFields();
            const auto event = m_ex->m_decoder.decodeHead(in, m_ex->m_request.head);
            if (event == Http1::RequestDecoder::Event::NeedMore) {
                if (m_peerEof)
                    closeSocket(); // a truncated head: nobody is left to answer
                break;
            }
            if (event == Http1::RequestDecoder::Event::EmptyClose) {
                closeSocket();
                break;
            }
            if (event == Http1::RequestDecoder::Event::Error) {
                m_ex->m_request.head.clear();
                failRequest(m_ex->m_decoder.errorStatus(), m_ex->m_decoder.errorReason());
                break;
            }
            if (!startRequest())
                break;
            continue;
        }
        if (m_state != State::Active)
            break;
        if (m_ex->m_tunnel) {
            pumpTunnel();
            break;
        }
        pumpBody();
        if (m_state != State::Active)
            break;
        if (m_peerEof && !bodyComplete() &&
            m_ex->m_decoder.bodyCanNeverComplete(pendingInput().size())) {
            // The client closed in the middle of its body: it can't be completed, nobody is
            // left to answer, and waiting for body_timeout would hold the connection (and its
            // max_connections slot) in CLOSE-WAIT for nothing.
            closeSocket();
            break;
        }
        finishRequestIfDone();
        if (m_state != State::Idle)
            break;
    }
}

bool Http1Connection::startRequest()
{
    const qsizetype consumed = m_ex->m_decoder.consumed();
    if (m_ex->m_headStorage.capacity() == 0)
        m_ex->m_headStorage = ThreadBuffers::takeBytes();
    // The head is the whole input (one request, nothing pipelined behind it): its buffer
    // becomes the head storage, the storage's empty buffer the input buffer, and the head's
    // views stay where they point. Otherwise the head is copied out of the input.
    if (!swapWholeInput(m_ex->m_headStorage, consumed)) {
        const QByteArrayView in = pendingInput();
        ThreadBuffers::setSize(m_ex->m_headStorage, consumed);
        std::memcpy(m_ex->m_headStorage.data(), in.data(), size_t(consumed));
        Http1::rebaseHead(m_ex->m_request.head, in.data(), m_ex->m_headStorage.constData());
        consumeInput(consumed);
    }

    m_state = State::Active;
    m_headDeadline = 0;
    m_ex->m_lastBodyProgress = now();
    ++m_requestsOnConnection;
    // (the last request's forwarded client is not this one's)
    fillConnectionAddresses(m_ex->m_request, &m_ex->m_filledAddresses);
    m_ex->m_driver.begin(m_ex->m_request, consumed);
    m_ex->m_request.version = Http1::versionText(m_ex->m_request.head, m_ex->m_decoder.framing());

    const Http::RequestHead &head = m_ex->m_request.head;
    m_keepAlive = m_ex->m_decoder.framing().keepAlive && !m_draining && !m_manager.isDraining();

    if (head.method == "CONNECT") {
        failRequest(405, "CONNECT is not supported");
        return false;
    }
    if (upgradeToHttp2())
        return false; // the socket is an HTTP/2 connection's now
    if (m_requestsOnConnection == 1) {
        if (auto *stats = m_manager.server() ? m_manager.server()->stats : nullptr)
            stats->add(Core::StatsRegistry::Http1Connections);
    }
    bool badPath = false;
    const Http::AppChain *pipeline = m_ex->m_driver.route(m_ex->m_request, &badPath);
    if (badPath) {
        failRequest(400, "invalid request path");
        return false;
    }
    m_ex->m_maxBody = m_ex->m_driver.maxBodyBytes(pipeline);
    m_ex->m_decoder.startBody(head, m_ex->m_maxBody);
    // Refuse an announced oversized body before reading any of it (and without 100 Continue).
    if (!m_ex->m_decoder.framing().chunked && head.contentLength > m_ex->m_maxBody) {
        failRequest(413, "request body over max_body_bytes");
        return false;
    }

    m_ex->setPipelinePosition(pipeline, 0);
    if (head.path == "*") {
        if (head.method == "OPTIONS") {
            m_ex->m_response.setHeader("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
            respond(200, {}, {});
        } else {
            failRequest(400, "'*' target without OPTIONS");
            return false;
        }
    } else if (pipeline) {
        m_ex->m_driver.run(*m_ex, pipeline, clientText());
    } else {
        Http::respondWithError(*m_ex, 404);
    }
    return m_state != State::Closed;
}

bool Http1Connection::upgradeToHttp2()
{
    // Upgrade: h2c (RFC 7540 §3.2): only on cleartext, only for a request without a body (its
    // body would have to be read as HTTP/1 first), only with exactly one HTTP2-Settings.
    // Otherwise the header is ignored and the request is served over HTTP/1.1.
    const Http::RequestHead &head = m_ex->m_request.head;
    // Nearly no request has an HTTP2-Settings field: a scan by length first, before the
    // lookups by name below.
    if (std::none_of(head.fields.begin(), head.fields.end(), [](const Http::HeaderField &f) {
            return f.name.size() == 14 && Http::equalsIgnoreCase(f.name, "HTTP2-Settings");
        }))
        return false;
    const Http2Settings &h2 = m_manager.settings().http2;
    if (m_transport->isSecure() || !m_http2Allowed || !h2.enabled || !h2.h2c ||
        m_ex->m_decoder.framing().versionMinor < 1 || head.hasBody() ||
        m_ex->m_decoder.framing().chunked ||
        !Http::listContainsToken(head.field("Upgrade"), "h2c") ||
        head.fieldCount("HTTP2-Settings") != 1)
        return false;
    const CodecFactory factory = codecFactory(Protocol::Http2);
    if (!factory)
        return false;
    const auto decoded = QByteArray::fromBase64Encoding(
        head.field("HTTP2-Settings").toByteArray(),
        QByteArray::Base64UrlEncoding | QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded || decoded.decoded.size() % 6 != 0)
        return false;
    auto upgrade = std::make_unique<CodecUpgrade>();
    upgrade->switchingResponse =
        QByteArrayLiteral("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                          "Upgrade: h2c\r\n\r\n");
    upgrade->settings = decoded.decoded;
    upgrade->method = head.method.toByteArray();
    upgrade->target = head.target.toByteArray();
    upgrade->host = head.host.toByteArray();
    for (const Http::HeaderField &f : head.fields) {
        // Connection-specific fields stay behind (RFC 9113 §8.2.2); Host is :authority now.
        static constexpr QByteArrayView dropped[] = {"connection",
                                                     "upgrade",
                                                     "http2-settings",
                                                     "keep-alive",
                                                     "proxy-connection",
                                                     "transfer-encoding",
                                                     "te",
                                                     "host"};
        if (std::none_of(std::begin(dropped), std::end(dropped),
                         [&](QByteArrayView d) { return Http::equalsIgnoreCase(f.name, d); }))
            upgrade->fields.emplace_back(f.name.toByteArray(), f.value.toByteArray());
    }
    m_ex->m_driver.end(*m_ex);
    m_ex->endLife();
    return handOver(factory, std::move(upgrade));
}

void Http1Connection::readBody(Http::Exchange::DataHandler onData,
                               Http::Exchange::EventHandler onEnd)
{
    if (ExchangeDriver::deliverBufferedBody(m_ex->m_request, onData, onEnd))
        return;
    m_ex->m_onData = std::move(onData);
    m_ex->m_onEnd = std::move(onEnd);
    m_ex->m_bodyWanted = true;
    m_ex->m_endDelivered = false;
    // 100 Continue only once the app asks for the body (RFC 9110 §10.1.1): an app that
    // answers without reading spares the client sending it.
    if (!bodyComplete() && m_ex->m_decoder.framing().expectContinue && !m_ex->m_continueSent &&
        !m_ex->m_responseStarted) {
        m_ex->m_continueSent = true;
        output().append(Http1::ContinueResponse);
    }
    m_ex->m_lastBodyProgress = now();
    if (!m_processing)
        process();
}

void Http1Connection::resumeBody()
{
    if (!m_ex->m_bodyPaused)
        return;
    m_ex->m_bodyPaused = false;
    m_ex->m_lastBodyProgress = now();
    if (!m_processing)
        process();
}

void Http1Connection::pumpBody()
{
    const bool deliver = m_ex->m_bodyWanted && !m_ex->m_bodyPaused && !m_ex->m_responseFinished;
    const bool discard = m_ex->m_responseFinished;
    while (!bodyComplete() && (deliver || discard) && m_state == State::Active) {
        const QByteArrayView in = pendingInput();
        if (in.isEmpty())
            break;
        const auto event = m_ex->m_decoder.decodeBody(in);
        consumeInput(m_ex->m_decoder.consumed());
        m_ex->m_driver.addBytesIn(m_ex->m_decoder.consumed());
        if (event == Http1::RequestDecoder::Event::Error) {
            failRequest(m_ex->m_decoder.errorStatus(), m_ex->m_decoder.errorReason());
            return;
        }
        if (event == Http1::RequestDecoder::Event::NeedMore && m_ex->m_decoder.consumed() == 0)
            break;
        m_ex->m_lastBodyProgress = now();
        const QByteArrayView chunk = m_ex->m_decoder.data();
        if (deliver && !chunk.isEmpty() && m_ex->m_onData) {
            // A copy: the app may replace or drop its handler (readBody, abort) while it runs.
            const Http::Exchange::DataHandler onData = m_ex->m_onData;
            if (!callApp("body data", [&] { onData(chunk); }))
                return;
            if (m_state != State::Active || m_ex->m_bodyPaused || m_ex->m_responseFinished)
                break;
        }
    }
    if (m_state == State::Active && bodyComplete() && m_ex->m_bodyWanted && !m_ex->m_endDelivered &&
        !m_ex->m_responseFinished) {
        m_ex->m_endDelivered = true;
        if (Http::Exchange::EventHandler onEnd = m_ex->m_onEnd)
            callApp("body end", onEnd);
    }
}

void Http1Connection::pumpTunnel()
{
    if (!m_ex->m_bodyWanted || m_ex->m_bodyPaused || m_ex->m_responseFinished)
        return;
    const QByteArrayView in = pendingInput();
    if (!in.isEmpty()) {
        // The view stays valid after consumeInput: only the next read compacts the buffer.
        consumeInput(in.size());
        m_ex->m_driver.addBytesIn(in.size());
        if (m_ex->m_onData) {
            const Http::Exchange::DataHandler onData = m_ex->m_onData;
            if (!callApp("tunnel data", [&] { onData(in); }))
                return;
        }
        if (m_state != State::Active || m_ex->m_bodyPaused || m_ex->m_responseFinished)
            return;
    }
    if (m_peerEof && pendingInput().isEmpty() && !m_ex->m_endDelivered) {
        m_ex->m_endDelivered = true;
        if (Http::Exchange::EventHandler onEnd = m_ex->m_onEnd)
            callApp("tunnel end", onEnd);
    }
}

void Http1Connection::finishRequestIfDone()
{
    if (m_state != State::Active || !m_ex->m_responseFinished || fileInFlight())
        return;
    if (!bodyComplete()) {
        if (m_ex->m_decoder.framing().expectContinue && !m_ex->m_continueSent) {
            // The client is waiting for 100 Continue that will never come: the unread body
            // can't be skipped reliably, so the connection ends with this response.
            closeAfterResponse();
        }
        return; // otherwise pumpBody() discards the rest as it arrives
    }
    if (!m_keepAlive || m_draining || m_manager.isDraining()) {
        closeAfterResponse();
        return;
    }
    resetForNextRequest();
}

void Http1Connection::closeAfterResponse()
{
    m_keepAlive = false;
    endExchange();
    beginClosing(!m_processing);
}

void Http1Connection::resetForNextRequest()
{
    endExchange();
    m_state = State::Idle;
    m_ex->reset();      // the next request (pipelined, or soon) may use it as it is
    m_headDeadline = 0; // idle_timeout until the next request's first byte
    m_lastActivity = now();
}

void Http1Connection::endExchange()
{
    if (!m_ex)
        return;
    m_ex->dropHandlers();
    m_ex->m_driver.end(*m_ex);
    m_ex->endLife();
}

void Http1Connection::failRequest(int status, const char *reason)
{
    if (m_state == State::Closed)
        return;
    borrowExchange(); // a head that timed out before its protocol was even known has none
    qCDebug(lcHttp1).noquote() << QStringLiteral("%1 %2: %3")
                                      .arg(QString::fromLatin1(clientText()))
                                      .arg(status)
                                      .arg(QString::fromLatin1(reason));
    m_keepAlive = false;
    // The engine answers in the middle of an exchange an app holds (a 413 or 400 in the body it
    // is reading, a 408): for the app the exchange dies, so its abort handler runs.
    if (m_state == State::Active && !m_ex->m_responseFinished) {
        m_ex->dropHandlers();
        m_ex->m_driver.runAbortHandler(m_ex->m_request);
    }
    if (m_state == State::Closed)
        return;
    if (m_ex->m_responseStarted) {
        m_ex->m_driver.recordBadInput(m_ex->m_request, status, reason);
        abort();
        return;
    }
    // Recorded after the answer so a head that failed to parse carries its own txn id.
    sendErrorAndClose(status);
    m_ex->m_driver.recordBadInput(m_ex->m_request, status, reason);
}

void Http1Connection::sendErrorAndClose(int status)
{
    if (m_state == State::Idle) {
        // A head that failed to parse: log it as a request of its own.
        m_state = State::Active;
        ++m_requestsOnConnection;
        fillConnectionAddresses(m_ex->m_request, &m_ex->m_filledAddresses);
        m_ex->m_driver.begin(m_ex->m_request, pendingInput().size());
    }
    m_keepAlive = false;
    m_ex->m_response.clear();
    QByteArray body = QByteArray::number(status);
    body += ' ';
    body += Http::reasonPhrase(status);
    body += '\n';
    respond(status, "text/plain; charset=utf-8", body);
    if (m_state != State::Closed && m_state != State::Closing)
        closeAfterResponse();
}

// ---------------------------------------------------------------------------------------------
// Responses

void Http1Connection::respond(int status, QByteArrayView contentType, QByteArray body)
{
    m_ex->m_response.status = status;
    if (!contentType.isEmpty())
        m_ex->m_response.setHeader("Content-Type", contentType);
    if (m_ex->m_responseStarted || m_state == State::Closed) {
        startResponse(body.size()); // warns
        write(body);
    } else {
        // The body goes into the output buffer with the head (one resize), then on as write()
        // would send it.
        startResponse(body.size(), body);
        if (!m_processing)
            flush();
    }
    finish();
}

void Http1Connection::startResponse(qint64 contentLength, QByteArrayView body)
{
    if (m_ex->m_responseStarted || m_state == State::Closed) {
        qCWarning(lcHttp1) << "startResponse called twice on txn" << m_ex->m_request.txnId;
        return;
    }
    m_ex->m_responseStarted = true;
    m_ex->m_status = m_ex->m_response.status;
    m_ex->m_driver.responseStarted();
    if (!bodyComplete() && m_ex->m_decoder.framing().expectContinue && !m_ex->m_continueSent)
        m_keepAlive = false;
    if (m_draining || m_manager.isDraining())
        m_keepAlive = false;
    Http1::ResponseHeadInput input;
    input.status = m_ex->m_status;
    input.contentLength = contentLength;
    input.headRequest = m_ex->m_request.isHead();
    input.parsedRequest = !m_ex->m_request.head.method.isEmpty();
    input.versionMinor = m_ex->m_decoder.framing().versionMinor;
    input.keepAlive = m_keepAlive;
    input.txnId = m_ex->m_request.txnId;
    if (m_ex->m_request.secure)
        input.hsts = m_manager.settings().hsts;
    input.body = body;
    QByteArray &out = output();
    const qsizetype mark = out.size();
    const Http1::ResponseFraming framing = Http1::appendResponseHead(out, input, m_ex->m_response);
    m_keepAlive = framing.keepAlive;
    m_ex->m_chunkedOut = framing.chunked;
    m_ex->m_headOnly = framing.headOnly;
    m_ex->m_driver.addBytesOut(out.size() - mark);
}

bool Http1Connection::write(QByteArrayView data)
{
    if (m_state == State::Closed)
        return false;
    if (!m_ex->m_responseStarted)
        startResponse(-1);
    if (m_ex->m_responseFinished)
        return false;
    if (m_ex->m_tunnel && !data.isEmpty()) {
        output().append(data);
        m_ex->m_driver.addBytesOut(data.size());
    } else if (!m_ex->m_headOnly && !data.isEmpty()) {
        QByteArray &out = output();
        const qsizetype mark = out.size();
        if (m_ex->m_chunkedOut)
            Http1::appendChunk(out, data);
        else
            out.append(data);
        m_ex->m_driver.addBytesOut(out.size() - mark);
    }
    if (!m_processing)
        flush();
    const bool roomLeft = outputQueued() < OutputHighWater;
    if (!roomLeft)
        m_ex->m_writableWanted = true;
    return roomLeft;
}

void Http1Connection::sendFile(int fd, qint64 offset, qint64 length)
{
    if (m_state == State::Closed || m_ex->m_responseFinished) {
        ::close(fd);
        return;
    }
    if (!m_ex->m_responseStarted)
        startResponse(length);
    if (m_ex->m_headOnly || length <= 0) {
        ::close(fd);
        finish();
        return;
    }
    if (length <= SmallFileBytes && !m_ex->m_chunkedOut) {
        // Small files travel in the same write as the head.
        QByteArray &out = output();
        const qsizetype at = out.size();
        out.resize(at + length);
        qint64 done = 0;
        while (done < length) {
            const ssize_t n =
                ::pread(fd, out.data() + at + done, size_t(length - done), offset + done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            done += n;
        }
        ::close(fd);
        if (done < length) {
            out.resize(at);
            qCWarning(lcHttp1) << "file shrank or failed while being served, txn"
                               << m_ex->m_request.txnId;
            abort();
            return;
        }
        m_ex->m_driver.addBytesOut(length);
        finish();
        return;
    }
    QByteArray after;
    if (m_ex->m_chunkedOut) {
        Http1::appendChunkSize(output(), length);
        after = QByteArrayLiteral("\r\n");
    }
    queueFile(fd, offset, length, std::move(after));
    m_ex->m_driver.addBytesOut(length);
    finish();
}

void Http1Connection::finish()
{
    if (m_state == State::Closed || m_ex->m_responseFinished)
        return;
    if (m_ex->m_tunnel) {
        // Our direction ends: what is queued goes out, then the half-close and the lingering
        // close (TLS: close_notify first) end the connection.
        m_ex->m_responseFinished = true;
        m_ex->m_driver.responseFinished();
        writeRequestLog();
        closeAfterResponse();
        return;
    }
    if (!m_ex->m_responseStarted)
        startResponse(0);
    if (m_ex->m_chunkedOut) {
        appendAfterQueued(Http1::LastChunk);
        m_ex->m_driver.addBytesOut(Http1::LastChunk.size());
    }
    m_ex->m_responseFinished = true;
    m_ex->m_driver.responseFinished();
    if (!fileInFlight())
        writeRequestLog();
    if (!m_processing)
        process();
}

bool Http1Connection::startTunnel()
{
    // Only an HTTP/1.1 request that asked to switch (Connection: upgrade + Upgrade) and carries
    // no body: after the head, every byte is the new protocol's.
    const QByteArrayView protocol = m_ex->m_request.tunnelProtocol();
    if (m_state != State::Active || m_ex->m_tunnel || m_ex->m_responseStarted ||
        protocol.isEmpty() || !m_ex->m_decoder.framing().upgrade || !bodyComplete() || m_draining ||
        m_manager.isDraining())
        return false;
    m_keepAlive = true; // "Connection: close" must not precede "upgrade"
    m_ex->m_response.status = 101;
    m_ex->m_response.setHeader("Upgrade", protocol);
    startResponse(0);
    // The codec owns the Connection field (it never sends "upgrade" for a normal response):
    // add it to the head just written, before its blank line.
    QByteArray &out = output();
    out.chop(2);
    out.append("Connection: upgrade\r\n\r\n");
    m_ex->m_driver.addBytesOut(QByteArrayView("Connection: upgrade\r\n").size());
    m_ex->m_tunnel = true;
    m_ex->m_bodyWanted = false;
    m_ex->m_endDelivered = false;
    if (!m_processing)
        flush();
    return true;
}

void Http1Connection::abort()
{
    if (m_state == State::Closed)
        return;
    // The app ended the exchange itself: it is not called back.
    m_ex->dropHandlers();
    m_ex->m_driver.dropAppCallbacks();
    if (!m_ex->m_responseStarted)
        m_ex->m_status = 500;
    writeRequestLog();
    // What was queued goes out (best effort) so the client sees a response that stops short;
    // the close then tells it the response is incomplete.
    m_ex->m_responseFinished = true;
    flush();
    closeSocket();
}

void Http1Connection::runAfter(qint64 msecs, Http::Exchange::EventHandler handler)
{
    if (m_state != State::Closed)
        m_ex->m_driver.runAfter(*m_ex, msecs, std::move(handler), clientText());
}

void Http1Connection::appFailed(const QString &appName, const char *what)
{
    // handle() threw: the exchange dies before the app finished it.
    if (m_state == State::Active && !m_ex->m_responseFinished) {
        m_ex->dropHandlers();
        m_ex->m_driver.runAbortHandler(m_ex->m_request);
    }
    if (m_state != State::Closed)
        m_ex->Http::Exchange::appFailed(appName, what);
}

bool Http1Connection::callApp(const char *what, const std::function<void()> &callback)
{
    return m_ex->m_driver.callApp(*m_ex, what, callback, clientText());
}

} // namespace Berth::Engine
