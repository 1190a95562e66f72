#include "http2stream.h"

#include "http/httpdate.h"
#include "http2connection.h"

#include <QLoggingCategory>

#include <nghttp2/nghttp2.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcHttp2Stream, "berth.http2")

namespace Berth::Http2 {

namespace {

constexpr qsizetype StreamHighWater = 256 * 1024; // write() says "stop" above this
constexpr qsizetype StreamLowWater = 64 * 1024;   // and the writable handler runs below this

ssize_t readData(nghttp2_session *, int32_t, uint8_t *buf, size_t length, uint32_t *flags,
                 nghttp2_data_source *source, void *)
{
    return static_cast<Http2Stream *>(source->ptr)->readResponse(buf, length, flags);
}

// Fields HTTP/2 forbids (RFC 9113 §8.2.2) or the codec sets itself.
bool isDroppedResponseField(QByteArrayView lower)
{
    return lower == "connection" || lower == "keep-alive" || lower == "proxy-connection" ||
           lower == "transfer-encoding" || lower == "upgrade" || lower == "content-length" ||
           lower.startsWith(':');
}

bool isSafeText(QByteArrayView text)
{
    for (const char c : text) {
        if (c == '\r' || c == '\n' || c == '\0')
            return false;
    }
    return true;
}

nghttp2_nv field(QByteArrayView name, QByteArrayView value)
{
    return {reinterpret_cast<uint8_t *>(const_cast<char *>(name.data())),
            reinterpret_cast<uint8_t *>(const_cast<char *>(value.data())), size_t(name.size()),
            size_t(value.size()), NGHTTP2_NV_FLAG_NONE};
}

} // namespace

Http2Stream::Http2Stream(Http2Connection &connection, std::int32_t id)
    : m_connection(connection)
    , m_id(id)
    , m_driver(connection.manager(), &connection, [&connection] { connection.schedule(); })
{
    connection.fillAddresses(m_request);
    m_request.version = "HTTP/2.0";
    m_openedAt = connection.clock();
}

Http2Stream::~Http2Stream()
{
    if (m_fileFd >= 0)
        ::close(m_fileFd);
}

// ---------------------------------------------------------------------------------------------
// The request head

Http2Stream::HeaderResult Http2Stream::addHeader(QByteArrayView name, QByteArrayView value)
{
    const Engine::EngineSettings &s = m_connection.settings();
    const qint64 listLimit = s.http2.maxHeaderListBytes;
    m_headerListBytes += name.size() + value.size() + 32; // RFC 9113 §6.5.2's accounting
    const bool pseudo = name.startsWith(':');
    if (!pseudo)
        ++m_headerCount;
    if (m_headerListBytes > 4 * listLimit || m_headerCount > 4 * s.head.maxHeaders)
        return HeaderResult::Bomb;
    if (m_headError)
        return HeaderResult::OverLimit;
    if (name == ":path" && value.size() > s.head.maxUriBytes)
        m_headError = 414;
    else if (m_headerListBytes > listLimit || m_headerCount > s.head.maxHeaders ||
             name.size() + value.size() + 2 > s.head.maxFieldBytes)
        m_headError = 431;
    if (m_headError) {
        m_spans.clear(); // none of it will be used: drop it now
        m_headStorage.clear();
        return HeaderResult::OverLimit;
    }
    Span span{m_headStorage.size(), name.size(), m_headStorage.size() + name.size(), value.size()};
    m_headStorage.append(name);
    m_headStorage.append(value);
    m_spans.push_back(span);
    return HeaderResult::Stored;
}

void Http2Stream::headersComplete(bool endStream)
{
    m_headersDone = true;
    if (endStream)
        m_endStreamIn = true;
}

bool Http2Stream::buildHead()
{
    Http::RequestHead &head = m_request.head;
    head.clear();
    QByteArrayView authority;
    // Fields derived for apps written against HTTP/1 (added to the storage before any view is
    // taken, since it may grow): Host from :authority (CGI's HTTP_HOST), and the crumbs of a
    // split Cookie joined into one field (RFC 9113 §8.2.3), so `field("Cookie")` sees them all.
    QByteArray host;
    bool hasHost = false;
    QByteArray cookie;
    int cookies = 0;
    for (const Span &span : m_spans) {
        const QByteArrayView name =
            QByteArrayView(m_headStorage).sliced(span.nameAt, span.nameLength);
        const QByteArrayView value =
            QByteArrayView(m_headStorage).sliced(span.valueAt, span.valueLength);
        if (name == "host") {
            hasHost = true;
        } else if (name == ":authority") {
            host = value.toByteArray();
        } else if (name == "cookie") {
            if (cookies++ > 0)
                cookie += "; ";
            cookie += value;
        }
    }
    const auto addField = [this](QByteArrayView name, const QByteArray &value) {
        m_spans.push_back(
            {m_headStorage.size(), name.size(), m_headStorage.size() + name.size(), value.size()});
        m_headStorage.append(name);
        m_headStorage.append(value);
    };
    if (!hasHost && !host.isEmpty())
        addField("host", host);
    if (cookies > 1) {
        std::erase_if(m_spans, [this](const Span &span) {
            return QByteArrayView(m_headStorage).sliced(span.nameAt, span.nameLength) == "cookie";
        });
        addField("cookie", cookie);
    }
    const QByteArrayView storage(m_headStorage);
    for (const Span &span : m_spans) {
        const QByteArrayView name = storage.sliced(span.nameAt, span.nameLength);
        const QByteArrayView value = storage.sliced(span.valueAt, span.valueLength);
        if (name == ":method")
            head.method = value;
        else if (name == ":path")
            head.target = value;
        else if (name == ":authority")
            authority = value;
        else if (name == ":protocol")
            head.protocol = value;
        else if (!name.startsWith(':'))
            head.fields.push_back({name, value});
    }
    const qsizetype question = head.target.indexOf('?');
    head.path = question < 0 ? head.target : head.target.first(question);
    head.query = question < 0 ? QByteArrayView() : head.target.sliced(question + 1);
    head.host = authority.isEmpty() ? head.field("host") : authority;
    const QByteArrayView length = head.field("content-length");
    if (!length.isEmpty()) {
        qint64 n = -1;
        std::from_chars(length.data(), length.data() + length.size(), n);
        head.contentLength = n; // nghttp2 checked it is digits and matches the DATA
    }
    head.bodyFollows = !m_endStreamIn && head.contentLength < 0;
    return !head.method.isEmpty();
}

// ---------------------------------------------------------------------------------------------
// Running the exchange

void Http2Stream::pump()
{
    if (m_closed)
        return;
    if (!m_started) {
        if (m_headersDone)
            start();
        return;
    }
    pumpBody();
    if (m_closed)
        return;
    if (m_writableWanted && m_onWritable && !m_responseFinished &&
        outputWaiting() < StreamLowWater) {
        m_writableWanted = false;
        const EventHandler handler = m_onWritable;
        callApp("writable", handler);
    }
}

void Http2Stream::start()
{
    m_started = true;
    m_lastBodyProgress = m_connection.clock();
    m_driver.begin(m_request, m_headerListBytes);
    if (m_headError) {
        fail(m_headError, m_headError == 414 ? "request target over max_uri_bytes"
                                             : "request header list over the limits");
        return;
    }
    buildHead();
    const Http::RequestHead &head = m_request.head;
    if (head.method == "CONNECT" && head.protocol.isEmpty()) {
        fail(405, "CONNECT is not supported");
        return;
    }
    bool badPath = false;
    const Http::AppChain *pipeline = m_driver.route(m_request, &badPath);
    if (badPath) {
        fail(400, "invalid request path");
        return;
    }
    m_maxBody = m_driver.maxBodyBytes(pipeline);
    // An announced oversized body is refused before any of it is read.
    if (head.protocol.isEmpty() && (head.contentLength > m_maxBody || m_bodyReceived > m_maxBody)) {
        fail(413, "request body over max_body_bytes");
        return;
    }
    setPipelinePosition(pipeline, 0);
    if (head.path == "*") {
        if (head.method == "OPTIONS") {
            m_response.setHeader("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
            respond(200, {}, {});
        } else {
            fail(400, "'*' target without OPTIONS");
        }
    } else if (pipeline) {
        m_driver.run(*this, pipeline, m_connection.client());
    } else {
        Http::respondWithError(*this, 404);
    }
}

void Http2Stream::receiveData(QByteArrayView data)
{
    m_bodyReceived += data.size();
    m_driver.addBytesIn(data.size());
    m_lastBodyProgress = m_connection.clock();
    if (m_discardBody) {
        consume(data.size());
        return;
    }
    m_bodyIn.append(data);
}

void Http2Stream::receiveEndStream()
{
    m_endStreamIn = true;
}

void Http2Stream::consume(qsizetype n)
{
    if (n <= 0)
        return;
    // The window opens again only now that the bytes are taken.
    if (nghttp2_session_consume(m_connection.session(), m_id, size_t(n)) != 0)
        nghttp2_session_consume_connection(m_connection.session(), size_t(n));
    m_connection.schedule(); // the WINDOW_UPDATE goes out
}

void Http2Stream::pumpBody()
{
    if (!m_tunnel && !m_discardBody && m_bodyReceived > m_maxBody) {
        fail(413, "request body over max_body_bytes");
        return;
    }
    if (m_discardBody) {
        consume(m_bodyIn.size());
        m_bodyIn.clear();
        return;
    }
    const bool open = !m_responseFinished || m_tunnel;
    if (!m_bodyWanted || m_bodyPaused || !open)
        return;
    if (!m_bodyIn.isEmpty()) {
        const QByteArray chunk = std::exchange(m_bodyIn, QByteArray());
        consume(chunk.size());
        if (const DataHandler onData = m_onData) {
            if (!callApp("body data", [&] { onData(chunk); }))
                return;
        }
        if (m_closed || m_discardBody || m_bodyPaused)
            return;
    }
    if (m_endStreamIn && m_bodyIn.isEmpty() && !m_endDelivered) {
        m_endDelivered = true;
        if (const EventHandler onEnd = m_onEnd)
            callApp("body end", onEnd);
    }
}

void Http2Stream::readBody(DataHandler onData, EventHandler onEnd)
{
    if (Engine::ExchangeDriver::deliverBufferedBody(m_request, onData, onEnd))
        return;
    m_onData = std::move(onData);
    m_onEnd = std::move(onEnd);
    m_bodyWanted = true;
    m_endDelivered = false;
    m_lastBodyProgress = m_connection.clock();
    m_connection.schedule();
}

void Http2Stream::pauseBody()
{
    m_bodyPaused = true;
}

void Http2Stream::resumeBody()
{
    if (!m_bodyPaused)
        return;
    m_bodyPaused = false;
    m_lastBodyProgress = m_connection.clock();
    m_connection.schedule();
}

void Http2Stream::fail(int status, const char *reason)
{
    qCDebug(lcHttp2Stream).noquote() << QStringLiteral("%1 stream %2: %3 %4")
                                            .arg(QString::fromLatin1(m_connection.client()))
                                            .arg(m_id)
                                            .arg(status)
                                            .arg(QString::fromLatin1(reason));
    if (!m_responseFinished) {
        // The engine answers in the middle of an exchange an app may hold: it dies for the app.
        dropAppHandlers();
        m_driver.runAbortHandler(m_request);
    }
    if (m_closed)
        return;
    m_discardBody = true;
    consume(m_bodyIn.size());
    m_bodyIn.clear();
    if (m_responseStarted) {
        m_driver.recordBadInput(m_request, status, reason);
        abort();
        return;
    }
    m_response.clear();
    if (status == 405)
        m_response.setHeader("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    QByteArray body = QByteArray::number(status);
    body += ' ';
    body += Http::reasonPhrase(status);
    body += '\n';
    respond(status, "text/plain; charset=utf-8", body);
    m_driver.recordBadInput(m_request, status, reason);
}

// ---------------------------------------------------------------------------------------------
// The response

void Http2Stream::respond(int status, QByteArrayView contentType, QByteArray body)
{
    m_response.status = status;
    if (!contentType.isEmpty())
        m_response.setHeader("Content-Type", contentType);
    startResponse(body.size());
    write(body);
    finish();
}

void Http2Stream::startResponse(qint64 contentLength)
{
    if (m_responseStarted || m_closed) {
        if (m_responseStarted)
            qCWarning(lcHttp2Stream) << "startResponse called twice on txn" << m_request.txnId;
        return;
    }
    m_responseStarted = true;
    m_status = m_response.status;
    m_driver.responseStarted();
    m_lastSendProgress = m_connection.clock();
    const bool noBodyStatus = m_status < 200 || m_status == 204 || m_status == 304;
    m_headOnly = noBodyStatus || m_request.isHead() || contentLength == 0;

    char status[8];
    const char *statusEnd = std::to_chars(status, status + sizeof(status), m_status).ptr;
    char length[24];
    const char *lengthEnd = std::to_chars(length, length + sizeof(length), contentLength).ptr;
    std::vector<nghttp2_nv> nva;
    std::vector<QByteArray> names; // lower-cased copies, alive until the submit copied them
    nva.reserve(6 + m_response.headers().size());
    names.reserve(m_response.headers().size());
    nva.push_back(field(":status", QByteArrayView(status, statusEnd - status)));
    nva.push_back(field("server", "berth"));
    nva.push_back(field("date", Http::DateCache::now()));
    if (contentLength >= 0 && !noBodyStatus)
        nva.push_back(field("content-length", QByteArrayView(length, lengthEnd - length)));
    const QByteArray &hsts = m_connection.settings().hsts;
    if (m_request.secure && !hsts.isEmpty())
        nva.push_back(field("strict-transport-security", hsts));
    nva.push_back(field("x-berth-txn", m_request.txnId));
    qint64 headBytes = 0;
    for (const auto &[name, value] : m_response.headers()) {
        names.push_back(name.toLower());
        if (isDroppedResponseField(names.back()) || !isSafeText(name) || !isSafeText(value))
            continue;
        nva.push_back(field(names.back(), value));
    }
    for (const nghttp2_nv &nv : nva)
        headBytes += qint64(nv.namelen + nv.valuelen) + 2;
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = readData;
    const int rv = nghttp2_submit_response(m_connection.session(), m_id, nva.data(), nva.size(),
                                           m_headOnly ? nullptr : &provider);
    if (rv != 0)
        qCWarning(lcHttp2Stream) << "cannot submit the response on stream" << m_id << ":"
                                 << nghttp2_strerror(rv);
    m_driver.addBytesOut(headBytes);
    m_connection.schedule();
}

bool Http2Stream::write(QByteArrayView data)
{
    if (m_closed || m_reset)
        return false;
    if (!m_responseStarted)
        startResponse(-1);
    if (m_responseFinished)
        return false;
    if (!m_headOnly && !data.isEmpty()) {
        if (m_outPos > 0 && m_outPos >= m_out.size() / 2) {
            m_out.remove(0, m_outPos);
            m_outPos = 0;
        }
        m_out.append(data);
        m_driver.addBytesOut(data.size());
        resumeData();
    }
    const bool room = outputWaiting() < StreamHighWater;
    if (!room)
        m_writableWanted = true;
    return room;
}

void Http2Stream::sendFile(int fd, qint64 offset, qint64 length)
{
    if (m_closed || m_responseFinished) {
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
    // No sendfile inside HTTP/2 framing: readResponse() reads the file a frame at a time.
    if (m_fileFd >= 0)
        ::close(m_fileFd);
    m_fileFd = fd;
    m_fileOffset = offset;
    m_fileRemaining = length;
    m_driver.addBytesOut(length);
    finish();
}

void Http2Stream::finish()
{
    if (m_closed || m_responseFinished)
        return;
    if (!m_responseStarted)
        startResponse(0);
    m_responseFinished = true;
    m_driver.responseFinished();
    if (!m_tunnel && !m_endStreamIn) {
        // Answered without (all of) the body: what still comes is dropped.
        m_discardBody = true;
        consume(m_bodyIn.size());
        m_bodyIn.clear();
    }
    resumeData();
}

void Http2Stream::resumeData()
{
    if (m_deferred) {
        m_deferred = false;
        nghttp2_session_resume_data(m_connection.session(), m_id);
    }
    m_connection.schedule();
}

long Http2Stream::readResponse(std::uint8_t *buf, std::size_t length, std::uint32_t *flags)
{
    const qsizetype waiting = outputWaiting();
    if (waiting > 0) {
        const qsizetype n = qMin(waiting, qsizetype(length));
        std::memcpy(buf, m_out.constData() + m_outPos, size_t(n));
        m_outPos += n;
        if (m_outPos == m_out.size()) {
            m_out.resize(0);
            m_outPos = 0;
        }
        m_lastSendProgress = m_connection.clock();
        if (m_outPos == 0 && m_fileFd < 0 && m_responseFinished)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (m_writableWanted && outputWaiting() < StreamLowWater)
            m_connection.schedule(); // the writer may go on
        return long(n);
    }
    if (m_fileFd >= 0) {
        const size_t want = size_t(qMin<qint64>(m_fileRemaining, qint64(length)));
        ssize_t n;
        do {
            n = ::pread(m_fileFd, buf, want, m_fileOffset);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) {
            // The file shrank or can't be read: the promised length can't be delivered.
            qCWarning(lcHttp2Stream)
                << "file shrank or failed while being served, txn" << m_request.txnId;
            ::close(m_fileFd);
            m_fileFd = -1;
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; // RST_STREAM INTERNAL_ERROR
        }
        m_fileOffset += n;
        m_fileRemaining -= n;
        m_lastSendProgress = m_connection.clock();
        if (m_fileRemaining == 0) {
            ::close(m_fileFd);
            m_fileFd = -1;
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        }
        return long(n);
    }
    if (m_responseFinished) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    m_deferred = true;
    return NGHTTP2_ERR_DEFERRED;
}

void Http2Stream::responseSent()
{
    m_responseSent = true;
    writeRequestLog();
    // RFC 9113 §8.1: the response is complete, the request body is not: stop the client
    // sending it.
    if (!m_tunnel && !m_endStreamIn && !m_closed && !m_reset) {
        m_reset = true;
        m_connection.resetStream(m_id, NGHTTP2_NO_ERROR);
    }
}

bool Http2Stream::startTunnel()
{
    const Http::RequestHead &head = m_request.head;
    if (m_closed || m_responseStarted || head.method != "CONNECT" || head.protocol.isEmpty())
        return false;
    m_tunnel = true;
    m_response.status = 200;
    startResponse(-1); // 200 without END_STREAM: the DATA frames are the tunnel
    return true;
}

void Http2Stream::abort()
{
    if (m_closed)
        return;
    // The app ended the exchange itself: it is not called back.
    dropAppHandlers();
    m_driver.dropAppCallbacks();
    if (!m_responseStarted)
        m_status = 500;
    m_responseFinished = true;
    writeRequestLog();
    m_discardBody = true;
    consume(m_bodyIn.size());
    m_bodyIn.clear();
    reset(m_tunnel ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
}

void Http2Stream::reset(std::uint32_t errorCode)
{
    if (m_closed || m_reset)
        return;
    m_reset = true;
    m_connection.resetStream(m_id, errorCode);
}

void Http2Stream::runAfter(qint64 msecs, EventHandler handler)
{
    if (!m_closed)
        m_driver.runAfter(*this, msecs, std::move(handler), m_connection.client());
}

void Http2Stream::appFailed(const QString &appName, const char *what)
{
    if (!m_responseFinished) {
        dropAppHandlers();
        m_driver.runAbortHandler(m_request);
    }
    if (!m_closed)
        Http::Exchange::appFailed(appName, what);
}

void Http2Stream::notifyDrain()
{
    m_driver.runDrainHandler(*this, m_connection.client());
}

bool Http2Stream::callApp(const char *what, const std::function<void()> &callback)
{
    return m_driver.callApp(*this, what, callback, m_connection.client());
}

// ---------------------------------------------------------------------------------------------
// End of the stream

void Http2Stream::closed(std::uint32_t errorCode)
{
    if (m_closed)
        return;
    if (errorCode == NGHTTP2_NO_ERROR && m_tunnel && m_started)
        pumpBody(); // the peer's last bytes and its end of stream reach the tunnel's owner
    m_closed = true;
    if (m_started && !m_driver.logged()) {
        if (!m_responseStarted)
            m_status = 499; // nginx's "client closed request"
        writeRequestLog();
    }
    if (m_started && (!m_responseFinished || (m_tunnel && errorCode != NGHTTP2_NO_ERROR))) {
        dropAppHandlers();
        m_driver.runAbortHandler(m_request);
    }
    endExchange();
}

void Http2Stream::connectionClosing()
{
    closed(NGHTTP2_CANCEL);
}

void Http2Stream::checkTimeouts(qint64 t)
{
    if (m_closed || !m_started)
        return;
    const Engine::EngineSettings &s = m_connection.settings();
    if (isSending() && t - m_lastSendProgress >= s.sendTimeoutMs) {
        // The client keeps this stream's window shut (or reads nothing): send_timeout.
        m_driver.recordBadInput(m_request, 408, "HTTP/2 stream window stalled past send_timeout");
        dropAppHandlers();
        m_driver.runAbortHandler(m_request);
        m_responseFinished = true;
        writeRequestLog();
        reset(NGHTTP2_CANCEL);
        return;
    }
    if (m_tunnel)
        return;
    const bool waitingForBody =
        !m_endStreamIn && !m_reset && ((m_bodyWanted && !m_bodyPaused) || m_responseFinished);
    if (waitingForBody && t - m_lastBodyProgress >= s.bodyTimeoutMs) {
        if (m_responseStarted) {
            m_driver.recordBadInput(m_request, 408, "request body not received in time");
            if (!m_responseFinished) {
                dropAppHandlers();
                m_driver.runAbortHandler(m_request);
            }
            m_discardBody = true;
            reset(NGHTTP2_CANCEL);
        } else {
            fail(408, "request body not received in time");
        }
    }
}

void Http2Stream::writeRequestLog()
{
    if (!m_started)
        return;
    Engine::ExchangeDriver::LogFacts facts;
    facts.status = m_status;
    facts.version = "HTTP/2.0";
    facts.client = m_connection.client();
    facts.server = m_connection.server();
    facts.connectionId = m_connection.id();
    facts.requestOnConnection = quint32((m_id + 1) / 2);
    m_driver.log(m_request, facts);
}

void Http2Stream::dropAppHandlers()
{
    m_onData = nullptr;
    m_onEnd = nullptr;
    m_onWritable = nullptr;
}

void Http2Stream::endExchange()
{
    dropAppHandlers();
    m_driver.end(*this);
    endLife();
    if (m_fileFd >= 0) {
        ::close(m_fileFd);
        m_fileFd = -1;
    }
}

} // namespace Berth::Http2
