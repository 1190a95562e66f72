#include "http2connection.h"

#include "engine/protocolselector.h"
#include "engine/transport.h"
#include "http2stats.h"
#include "http2stream.h"
#include "log/cef.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <QLoggingCategory>
#include <QMetaObject>

#include <nghttp2/nghttp2.h>

#include <algorithm>

Q_LOGGING_CATEGORY(lcHttp2, "berth.http2")

namespace Berth::Http2 {

namespace {

constexpr qsizetype InputCap = 64 * 1024;         // read ahead of nghttp2 at most this much
constexpr qsizetype OutputHighWater = 128 * 1024; // frames queued for the socket before we stop
constexpr qint64 FloodWindowMs = 1000;
constexpr qint64 DrainPingMs = 1000; // the second GOAWAY goes out at the latest after this

// Frames of one kind a client may send per FloodWindowMs before it is told to calm down.
int floodLimit(Http2Connection::Flood kind, const Engine::Http2Settings &s)
{
    switch (kind) {
    case Http2Connection::Flood::Reset:
        return std::max(100, 2 * s.maxConcurrentStreams);
    case Http2Connection::Flood::Ping:
    case Http2Connection::Flood::Settings:
    case Http2Connection::Flood::EmptyData:
        return 100;
    case Http2Connection::Flood::Priority:
        return 500;
    case Http2Connection::Flood::Count:
        break;
    }
    return 100;
}

const char *floodName(Http2Connection::Flood kind)
{
    switch (kind) {
    case Http2Connection::Flood::Reset:
        return "HTTP/2 rapid reset (RST_STREAM flood)";
    case Http2Connection::Flood::Ping:
        return "HTTP/2 PING flood";
    case Http2Connection::Flood::Settings:
        return "HTTP/2 SETTINGS flood";
    case Http2Connection::Flood::Priority:
        return "HTTP/2 PRIORITY flood";
    case Http2Connection::Flood::EmptyData:
        return "HTTP/2 empty DATA flood";
    case Http2Connection::Flood::Count:
        break;
    }
    return "HTTP/2 flood";
}

} // namespace

// nghttp2's callbacks: each finds the connection in user_data and hands the event on.
struct Http2Connection::Callbacks
{
    static Http2Connection *self(void *userData)
    {
        return static_cast<Http2Connection *>(userData);
    }

    static bool isRequestHeaders(const nghttp2_frame *frame)
    {
        return frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST;
    }

    static int beginFrame(nghttp2_session *, const nghttp2_frame_hd *hd, void *userData)
    {
        // Even ids and stream 0 are nghttp2's to refuse; a client's HEADERS on an id it
        // skipped is ours (ClientStreamIds says why nghttp2 lets it pass).
        if (hd->type != NGHTTP2_HEADERS || (hd->stream_id & 1) == 0)
            return 0;
        Http2Connection *c = self(userData);
        if (c->m_clientStreamIds.admit(hd->stream_id))
            return 0;
        c->terminate(NGHTTP2_PROTOCOL_ERROR,
                     "HTTP/2 HEADERS on a stream id the client skipped (RFC 9113 5.1.1)");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }

    static int beginHeaders(nghttp2_session *, const nghttp2_frame *frame, void *userData)
    {
        Http2Connection *c = self(userData);
        if (!isRequestHeaders(frame))
            return 0;
        const std::int32_t id = frame->hd.stream_id;
        c->m_streams.emplace(id, std::make_unique<Http2Stream>(*c, id));
        c->m_everHadStream = true;
        c->m_state = State::Active;
        addStat(c->m_manager, Stat::StreamsOpen, 1);
        return 0;
    }

    static int header(nghttp2_session *, const nghttp2_frame *frame, const uint8_t *name,
                      size_t nameLength, const uint8_t *value, size_t valueLength, uint8_t,
                      void *userData)
    {
        Http2Connection *c = self(userData);
        if (!isRequestHeaders(frame))
            return 0; // trailers: apps never see them
        Http2Stream *s = c->stream(frame->hd.stream_id);
        if (!s)
            return 0;
        const auto result = s->addHeader(
            QByteArrayView(reinterpret_cast<const char *>(name), qsizetype(nameLength)),
            QByteArrayView(reinterpret_cast<const char *>(value), qsizetype(valueLength)));
        if (result != Http2Stream::HeaderResult::Bomb)
            return 0;
        // Far over the header list limit while decoding (an HPACK bomb, a CONTINUATION chain):
        // the stream is reset at once instead of decoding the rest for nothing.
        c->recordBadInput(s->request(), 431, "HTTP/2 header list far over max_header_list_bytes");
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }

    static int frameReceived(nghttp2_session *, const nghttp2_frame *frame, void *userData)
    {
        Http2Connection *c = self(userData);
        const bool endStream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
        switch (frame->hd.type) {
        case NGHTTP2_HEADERS:
            if (Http2Stream *s = c->stream(frame->hd.stream_id)) {
                if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
                    s->headersComplete(endStream);
                else if (endStream)
                    s->receiveEndStream();
            }
            break;
        case NGHTTP2_DATA:
            if (frame->hd.length == 0 && !endStream)
                c->countFrame(Flood::EmptyData);
            if (endStream) {
                if (Http2Stream *s = c->stream(frame->hd.stream_id))
                    s->receiveEndStream();
            }
            break;
        case NGHTTP2_RST_STREAM:
            c->countFrame(Flood::Reset);
            break;
        case NGHTTP2_PING:
            if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
                c->countFrame(Flood::Ping);
            else if (c->m_draining && !c->m_finalGoaway)
                c->finishDrain(); // the client has seen the notice: no stream is on its way
            break;
        case NGHTTP2_SETTINGS:
            if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
                c->countFrame(Flood::Settings);
            break;
        case NGHTTP2_PRIORITY:
            c->countFrame(Flood::Priority);
            break;
        default:
            break;
        }
        return c->m_terminating ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
    }

    static int dataChunk(nghttp2_session *session, uint8_t, int32_t id, const uint8_t *data,
                         size_t length, void *userData)
    {
        Http2Connection *c = self(userData);
        Http2Stream *s = c->stream(id);
        if (!s || s->isClosed()) {
            nghttp2_session_consume_connection(session, length);
            return 0;
        }
        s->receiveData(QByteArrayView(reinterpret_cast<const char *>(data), qsizetype(length)));
        return 0;
    }

    static int streamClosed(nghttp2_session *, int32_t id, uint32_t errorCode, void *userData)
    {
        Http2Connection *c = self(userData);
        if (Http2Stream *s = c->stream(id)) {
            s->closed(errorCode);
            c->retire(id);
        }
        return 0;
    }

    static int frameSent(nghttp2_session *, const nghttp2_frame *frame, void *userData)
    {
        Http2Connection *c = self(userData);
        switch (frame->hd.type) {
        case NGHTTP2_RST_STREAM:
            addStat(c->m_manager, Stat::ResetsSent, 1);
            break;
        case NGHTTP2_GOAWAY:
            addStat(c->m_manager, Stat::GoawaysSent, 1);
            if (frame->goaway.error_code != NGHTTP2_NO_ERROR && !c->m_terminating) {
                // A connection error nghttp2 found itself (a window over 2^31-1, a bad frame,
                // an HPACK error): counted and logged like the ones we find.
                Http::Request request;
                c->fillAddresses(request);
                const QByteArray reason = QByteArrayLiteral("HTTP/2 connection error: ") +
                                          nghttp2_http2_strerror(frame->goaway.error_code);
                c->recordBadInput(request, 400, reason.constData());
            }
            break;
        case NGHTTP2_HEADERS:
        case NGHTTP2_DATA:
            if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
                if (Http2Stream *s = c->stream(frame->hd.stream_id))
                    s->responseSent();
            }
            break;
        default:
            break;
        }
        return 0;
    }

    static int invalidFrame(nghttp2_session *, const nghttp2_frame *frame, int error,
                            void *userData)
    {
        // A malformed request (RFC 9113 §8.1.1, §8.2): nghttp2 resets the stream; no app saw it.
        Http2Connection *c = self(userData);
        if (Http2Stream *s = c->stream(frame->hd.stream_id))
            c->recordBadInput(s->request(), 400, nghttp2_strerror(error));
        return 0;
    }
};

Http2Connection::Http2Connection(Engine::ConnectionManager &manager, int fd, quint64 id,
                                 std::unique_ptr<Engine::Transport> transport,
                                 QByteArray unreadInput,
                                 std::unique_ptr<Engine::CodecUpgrade> upgrade)
    : Connection(manager, fd, id, std::move(transport))
    , m_upgrade(std::move(upgrade))
{
    adoptHandedOverInput(std::move(unreadInput));

    nghttp2_session_callbacks *callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, Callbacks::beginFrame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, Callbacks::beginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, Callbacks::header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, Callbacks::frameReceived);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, Callbacks::dataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, Callbacks::streamClosed);
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, Callbacks::frameSent);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks,
                                                                 Callbacks::invalidFrame);

    const Engine::Http2Settings &h2 = manager.settings().http2;
    nghttp2_option *option = nullptr;
    nghttp2_option_new(&option);
    // The windows open only as apps take the body (Http2Stream::consume): a slow reader holds
    // back its own stream, and nothing is buffered beyond the windows we granted.
    nghttp2_option_set_no_auto_window_update(option, 1);
    nghttp2_option_set_max_continuations(option, 8);
    // Our own rapid-reset guard (countFrame) is stricter; nghttp2's stays as a backstop.
    nghttp2_option_set_max_outbound_ack(option, 1000);
    nghttp2_option_set_max_settings(option, 32);
    nghttp2_session_server_new2(&m_session, callbacks, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);

    const nghttp2_settings_entry entries[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, uint32_t(h2.maxConcurrentStreams)},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, uint32_t(h2.initialWindow)},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, uint32_t(h2.maxFrameBytes)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, uint32_t(h2.maxHeaderListBytes)},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    };
    nghttp2_submit_settings(m_session, NGHTTP2_FLAG_NONE, entries, std::size(entries));
    nghttp2_session_set_local_window_size(
        m_session, NGHTTP2_FLAG_NONE, 0,
        int32_t(std::min<qint64>(h2.connectionWindow, NGHTTP2_MAX_WINDOW_SIZE)));
}

Http2Connection::~Http2Connection()
{
    addStat(m_manager, Stat::StreamsOpen, -qint64(m_streams.size()));
    m_streams.clear();
    m_retired.clear();
    nghttp2_session_del(m_session);
}

void registerHttp2Codec(bool enabled)
{
    Engine::registerCodec(Engine::Protocol::Http2,
                          enabled ? Http2Connection::factory() : Engine::CodecFactory());
}

Engine::CodecFactory Http2Connection::factory()
{
    return [](Engine::ConnectionManager &manager, int fd, quint64 id,
              std::unique_ptr<Engine::Transport> transport, QByteArray unread,
              std::unique_ptr<Engine::CodecUpgrade> upgrade) -> Engine::Connection * {
        return new Http2Connection(manager, fd, id, std::move(transport), std::move(unread),
                                   std::move(upgrade));
    };
}

void Http2Connection::fillAddresses(Http::Request &request) const
{
    fillConnectionAddresses(request);
}

bool Http2Connection::isSecure() const
{
    return m_transport->isSecure();
}

void Http2Connection::onStarted()
{
    addStat(m_manager, Stat::Connections, 1);
    if (m_upgrade) {
        output().append(m_upgrade->switchingResponse);
        acceptUpgrade(*m_upgrade);
        m_upgrade.reset();
    }
    process(); // the server preface (SETTINGS), and what the old codec had read already
}

void Http2Connection::acceptUpgrade(const Engine::CodecUpgrade &upgrade)
{
    const bool head = upgrade.method == "HEAD";
    auto s = std::make_unique<Http2Stream>(*this, 1);
    Http2Stream *stream = s.get();
    if (nghttp2_session_upgrade2(m_session,
                                 reinterpret_cast<const uint8_t *>(upgrade.settings.constData()),
                                 size_t(upgrade.settings.size()), head, nullptr) != 0) {
        terminate(NGHTTP2_PROTOCOL_ERROR, "invalid HTTP2-Settings in an h2c upgrade");
        return;
    }
    m_streams.emplace(1, std::move(s));
    m_clientStreamIds.admit(1);
    m_everHadStream = true;
    m_state = State::Active;
    addStat(m_manager, Stat::StreamsOpen, 1);
    stream->addHeader(":method", upgrade.method);
    stream->addHeader(":scheme", "http");
    stream->addHeader(":authority", upgrade.host);
    stream->addHeader(":path", upgrade.target);
    for (const auto &[name, value] : upgrade.fields)
        stream->addHeader(name.toLower(), value);
    stream->headersComplete(true);
}

qsizetype Http2Connection::inputCap() const
{
    return InputCap;
}

bool Http2Connection::isIdle() const
{
    return m_streams.empty() && pendingInput().isEmpty() && !outputPending();
}

Http2Stream *Http2Connection::stream(std::int32_t id) const
{
    const auto it = m_streams.find(id);
    return it == m_streams.end() ? nullptr : it->second.get();
}

void Http2Connection::retire(std::int32_t id)
{
    const auto it = m_streams.find(id);
    if (it == m_streams.end())
        return;
    // An app may be on the stack of this stream (it finished from a callback): the object goes
    // once the event loop is back.
    if (m_retired.empty())
        QMetaObject::invokeMethod(
            this, [this] { m_retired.clear(); }, Qt::QueuedConnection);
    m_retired.push_back(std::move(it->second));
    m_streams.erase(it);
    addStat(m_manager, Stat::StreamsOpen, -1);
    if (m_streams.empty() && m_state == State::Active)
        m_state = State::Idle;
    m_lastActivity = now();
}

// ---------------------------------------------------------------------------------------------
// The flow

void Http2Connection::schedule()
{
    if (m_processing)
        m_again = true;
    else if (m_state != State::Closed)
        process();
}

void Http2Connection::process()
{
    if (m_processing || m_state == State::Closed)
        return;
    m_processing = true;
    int rounds = 0;
    do {
        m_again = false;
        if (m_state != State::Closing)
            receive();
        if (m_state == State::Closed)
            break;
        dispatch();
        if (m_state == State::Closed)
            break;
        send();
        if (m_state == State::Closed)
            break;
    } while (m_again && ++rounds < 64);
    m_processing = false;
    if (m_state == State::Closed)
        return;
    if (m_again) // an app keeps writing: go on from the event loop rather than starve the others
        QMetaObject::invokeMethod(
            this, [this] { schedule(); }, Qt::QueuedConnection);
    if (m_peerEof && m_state != State::Closing) {
        // The client closed its side: nobody is left to read what we would answer.
        closeSocket();
        return;
    }
    updateReadInterest();
}

void Http2Connection::receive()
{
    const QByteArrayView in = pendingInput();
    if (in.isEmpty() || m_terminating)
        return;
    const ssize_t n = nghttp2_session_mem_recv(
        m_session, reinterpret_cast<const uint8_t *>(in.data()), size_t(in.size()));
    if (n >= 0) {
        consumeInput(n);
        return;
    }
    consumeInput(in.size());
    if (m_terminating)
        return; // a flood guard answered already
    switch (n) {
    case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
        closeSocket(); // not HTTP/2 at all: nothing sensible to say
        return;
    case NGHTTP2_ERR_FLOODED:
        terminate(NGHTTP2_ENHANCE_YOUR_CALM, "HTTP/2 flood: too many frames waiting for acks");
        return;
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        terminate(NGHTTP2_ENHANCE_YOUR_CALM, "HTTP/2 CONTINUATION flood");
        return;
    default:
        terminate(NGHTTP2_PROTOCOL_ERROR, nghttp2_strerror(int(n)));
        return;
    }
}

void Http2Connection::dispatch()
{
    if (m_streams.empty())
        return;
    std::vector<std::int32_t> ids;
    ids.reserve(m_streams.size());
    for (const auto &[id, s] : m_streams)
        ids.push_back(id);
    for (const std::int32_t id : ids) {
        if (Http2Stream *s = stream(id))
            s->pump();
        if (m_state == State::Closed)
            return;
    }
}

void Http2Connection::send()
{
    for (;;) {
        while (outputQueued() < OutputHighWater) {
            const uint8_t *data = nullptr;
            const ssize_t n = nghttp2_session_mem_send(m_session, &data);
            if (n < 0) {
                qCWarning(lcHttp2) << "nghttp2 send failed on connection" << id() << ":"
                                   << nghttp2_strerror(int(n));
                closeSocket();
                return;
            }
            if (n == 0)
                break;
            output().append(reinterpret_cast<const char *>(data), n);
        }
        flush();
        if (m_state == State::Closed)
            return;
        if (outputQueued() > 0 || !nghttp2_session_want_write(m_session))
            break;
    }
    const bool over =
        m_terminating || (m_finalGoaway && m_streams.empty()) ||
        (!nghttp2_session_want_read(m_session) && !nghttp2_session_want_write(m_session));
    if (over && m_state != State::Closing)
        beginClosing(true); // the GOAWAY goes out, then we linger and close
}

void Http2Connection::onWritableRoom()
{
    schedule();
}

void Http2Connection::resetStream(std::int32_t id, std::uint32_t errorCode)
{
    nghttp2_submit_rst_stream(m_session, NGHTTP2_FLAG_NONE, id, errorCode);
    schedule();
}

void Http2Connection::terminate(std::uint32_t errorCode, const char *reason)
{
    if (m_terminating)
        return;
    m_terminating = true;
    qCDebug(lcHttp2).noquote() << QString::fromLatin1(clientText()) << "GOAWAY"
                               << nghttp2_http2_strerror(errorCode) << ":" << reason;
    if (errorCode != NGHTTP2_NO_ERROR) {
        Http::Request request;
        fillAddresses(request);
        recordBadInput(request, 400, reason);
    }
    nghttp2_session_terminate_session(m_session, errorCode);
    m_again = true;
    if (!m_processing)
        process();
}

void Http2Connection::recordBadInput(const Http::Request &request, int status, const char *reason)
{
    if (auto *stats = m_manager.server() ? m_manager.server()->stats : nullptr)
        stats->add(Core::StatsRegistry::BadRequests);
    Log::logCef(QStringLiteral("Bad request"), 3, &request, QString(), QStringLiteral("BadRequest"),
                {{QStringLiteral("msg"), QString::fromLatin1(reason)},
                 {QStringLiteral("cn1Label"), QStringLiteral("status")},
                 {QStringLiteral("cn1"), QString::number(status)}});
}

void Http2Connection::countFrame(Flood kind)
{
    const qint64 t = now();
    if (t - m_floodWindowStart >= FloodWindowMs) {
        m_floodWindowStart = t;
        std::fill(std::begin(m_floodCounts), std::end(m_floodCounts), 0);
    }
    if (++m_floodCounts[int(kind)] > floodLimit(kind, m_manager.settings().http2))
        terminate(NGHTTP2_ENHANCE_YOUR_CALM, floodName(kind));
}

// ---------------------------------------------------------------------------------------------
// Drain, timeouts, close

void Http2Connection::drain()
{
    if (m_draining || m_state == State::Closed)
        return;
    m_draining = true;
    m_drainStarted = now();
    if (m_streams.empty() && !m_everHadStream && pendingInput().isEmpty()) {
        // Nothing asked yet: one GOAWAY says it all.
        m_finalGoaway = true;
        nghttp2_submit_goaway(m_session, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
    } else {
        // Two steps (RFC 9113 §6.8): the notice first, a PING to learn when the client has
        // seen it, then the real GOAWAY with the last stream we took.
        nghttp2_submit_shutdown_notice(m_session);
        nghttp2_submit_ping(m_session, NGHTTP2_FLAG_NONE, nullptr);
        // Long-lived streams (WebSockets) are told, so they can end before graceful_timeout.
        // By id: a handler may close its stream, and with it erase it from m_streams.
        std::vector<std::int32_t> ids;
        ids.reserve(m_streams.size());
        for (const auto &entry : m_streams)
            ids.push_back(entry.first);
        for (const std::int32_t id : ids) {
            const auto it = m_streams.find(id);
            if (it != m_streams.end())
                it->second->notifyDrain();
            if (m_state == State::Closed)
                return;
        }
    }
    schedule();
}

void Http2Connection::finishDrain()
{
    if (m_finalGoaway)
        return;
    m_finalGoaway = true;
    nghttp2_submit_goaway(m_session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(m_session), NGHTTP2_NO_ERROR,
                          nullptr, 0);
    m_again = true;
}

void Http2Connection::checkTimeouts(qint64 t)
{
    const Engine::EngineSettings &s = m_manager.settings();
    if (m_state == State::Closed)
        return;
    if (m_state == State::Closing) {
        checkClosingTimeout(t);
        return;
    }
    if (outputPending() && t - m_lastWriteProgress >= s.sendTimeoutMs) {
        closeSocket(); // the client reads nothing at all
        return;
    }
    if (m_draining) {
        if (!m_finalGoaway && t - m_drainStarted >= DrainPingMs) {
            finishDrain();
            schedule();
        }
        if (t - m_drainStarted >= s.gracefulTimeoutMs) {
            closeSocket();
            return;
        }
    }
    if (m_streams.empty()) {
        const qint64 limit = m_everHadStream ? s.idleTimeoutMs : s.headerTimeoutMs;
        if (t - m_lastActivity >= limit) {
            terminate(NGHTTP2_NO_ERROR, "idle");
            return;
        }
        if (isIdle() && t - m_lastActivity >= 1000)
            releaseIdleBuffers();
        return;
    }
    std::vector<std::int32_t> ids;
    bool sending = false;
    for (const auto &[id, stream] : m_streams) {
        ids.push_back(id);
        sending = sending || stream->isSending();
    }
    for (const std::int32_t id : ids) {
        Http2Stream *st = stream(id);
        if (!st)
            continue;
        if (!st->headersDone() && t - st->openedAt() >= s.headerTimeoutMs) {
            // A header block never completed: no other frame may come between its
            // CONTINUATIONs, so the whole connection is stuck.
            terminate(NGHTTP2_PROTOCOL_ERROR, "HTTP/2 header block not completed in time");
            return;
        }
        st->checkTimeouts(t);
        if (m_state == State::Closed)
            return;
    }
    // A client that never opens the connection window stalls every stream: send_timeout.
    if (sending && nghttp2_session_get_remote_window_size(m_session) <= 0 &&
        t - m_lastWriteProgress >= s.sendTimeoutMs)
        terminate(NGHTTP2_ENHANCE_YOUR_CALM, "HTTP/2 zero-window stall");
    schedule();
}

qint64 Http2Connection::nextCheck(qint64 t) const
{
    // With no stream open (and nothing to send, no drain) the deadlines are known exactly
    // (checkTimeouts' no-stream case); otherwise every tick.
    if (m_state != State::Idle && m_state != State::Active)
        return Connection::nextCheck(t);
    if (!m_streams.empty() || m_draining || outputPending())
        return Connection::nextCheck(t);
    const Engine::EngineSettings &s = m_manager.settings();
    const qint64 limit = m_lastActivity + (m_everHadStream ? s.idleTimeoutMs : s.headerTimeoutMs);
    if (holdsBuffers() && isIdle())
        return std::min(limit, m_lastActivity + 1000);
    return limit;
}

void Http2Connection::onClosing(State)
{
    std::vector<std::int32_t> ids;
    for (const auto &[id, stream] : m_streams)
        ids.push_back(id);
    for (const std::int32_t id : ids) {
        if (Http2Stream *s = stream(id)) {
            s->connectionClosing();
            retire(id);
        }
    }
}

} // namespace Berth::Http2
