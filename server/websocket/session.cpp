#include "session.h"

#include "deflate.h"
#include "frame.h"
#include "handshake.h"
#include "utf8validator.h"

#include "http/exchange.h"

#include <QLoggingCategory>

#include <deque>
#include <exception>

Q_LOGGING_CATEGORY(lcWebSocket, "berth.websocket")

namespace Berth::WebSocket {

namespace {

// Messages this short are sent uncompressed: deflate would only add bytes.
constexpr qsizetype CompressMinBytes = 64;
// Our queue over sendBufferBytes times this: the peer is not reading at all, give up.
constexpr qint64 SendBufferGiveUpFactor = 4;

} // namespace

// How the session works: input arrives through the exchange's readBody() handler into m_in,
// frames are parsed there (FrameParser checks each header before its payload is buffered, so
// m_in never holds more than one frame beyond what was parsed), data frames are assembled into
// m_message (inflated and UTF-8 checked piece by piece), control frames are answered at once.
// Output goes to the exchange until it reports its high-water mark, then waits in m_queue for
// the writable handler; while m_queue is over the send buffer we stop reading, so a peer that
// sends (pings, echoed messages) without reading gets TCP back-pressure, not our memory.
//
// The session deletes itself: every entry point (exchange callbacks, timers, the public API)
// holds a Guard, and the outermost one deletes the session once it is dead, so no member is
// touched after the delete.
class SessionPrivate
{
public:
    SessionPrivate(Http::Exchange &exchange, const Settings &settings, const Handshake &handshake);

    struct Guard
    {
        explicit Guard(SessionPrivate *d)
            : d(d)
        {
            ++d->m_depth;
        }
        ~Guard()
        {
            if (--d->m_depth == 0 && d->m_dead)
                delete d->q;
        }
        SessionPrivate *d;
    };

    void start();
    void onData(QByteArrayView chunk);
    void onPeerEnd();
    void onExchangeAborted();
    void onExchangeWritable();
    void processFrames();
    bool handleDataFrame(const FrameHeader &header, QByteArrayView payload);
    void handleControlFrame(const FrameHeader &header, QByteArrayView payload);
    bool send(Opcode opcode, QByteArrayView payload, bool rsv1 = false);
    bool sendMessage(MessageType type, QByteArrayView payload);
    void pushOut(QByteArray frame);
    void updateInputFlow();
    void startClose(int code, QByteArrayView reason);
    void fail(int code, const char *reason);
    void endExchange(bool graceful);
    void die(int code, QByteArrayView reason);
    void schedulePing();
    void pingTick();
    void pongCheck();
    template <typename F> bool callApp(const char *what, F &&f);
    Http::Exchange *exchange() const { return m_handle.get(); }

    Session *q = nullptr;
    Http::ExchangeHandle m_handle;
    Settings m_settings;
    QByteArray m_peerText;
    QByteArray m_subprotocol;
    FrameParser m_parser;
    Utf8Validator m_utf8;
    std::unique_ptr<Deflater> m_deflater;
    std::unique_ptr<Inflater> m_inflater;

    std::function<void(MessageType, QByteArrayView)> m_onMessage;
    std::function<void(int, QByteArrayView)> m_onClose;
    std::function<void()> m_onWritable;

    QByteArray m_in;
    QByteArray m_message;
    MessageType m_messageType = MessageType::Binary;
    bool m_messageCompressed = false;

    std::deque<QByteArray> m_queue;
    qint64 m_queued = 0;
    bool m_exchangeFull = false;
    bool m_writableWanted = false;
    bool m_inputPaused = false;

    bool m_closeSent = false;
    bool m_closeReceived = false;
    bool m_failed = false; // a protocol error: no more input is looked at
    bool m_inputSeen = false;
    bool m_awaitingPong = false;
    bool m_dead = false;
    bool m_closeReported = false;
    int m_depth = 0;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

SessionPrivate::SessionPrivate(Http::Exchange &exchange, const Settings &settings,
                               const Handshake &handshake)
    : m_handle(exchange.handle())
    , m_settings(settings)
    , m_subprotocol(handshake.subprotocol)
    , m_parser(FrameParser::Options{settings.maxFrameBytes, true, bool(handshake.deflate)})
{
    const Http::Request &r = exchange.request();
    m_peerText = r.peerAddress.toString().toLatin1() + ':' + QByteArray::number(r.peerPort);
    if (handshake.deflate) {
        m_deflater = std::make_unique<Deflater>(*handshake.deflate);
        m_inflater = std::make_unique<Inflater>(*handshake.deflate, settings.maxMessageBytes);
    }
}

template <typename F> bool SessionPrivate::callApp(const char *what, F &&f)
{
    // The exchange catches what its own callbacks throw, but the session calls the app itself:
    // an exception must not unwind through the engine.
    try {
        f();
        return true;
    } catch (const std::exception &e) {
        qCWarning(lcWebSocket).noquote()
            << QStringLiteral("%1: app threw from %2: %3")
                   .arg(QString::fromLatin1(m_peerText), QLatin1String(what),
                        QString::fromLocal8Bit(e.what()));
    } catch (...) {
        qCWarning(lcWebSocket).noquote()
            << QStringLiteral("%1: app threw from %2")
                   .arg(QString::fromLatin1(m_peerText), QLatin1String(what));
    }
    return false;
}

void SessionPrivate::start()
{
    Http::Exchange *ex = exchange();
    std::weak_ptr<bool> alive = m_alive;
    ex->setAbortHandler([this, alive] {
        if (!alive.expired())
            onExchangeAborted();
    });
    ex->setWritableHandler([this, alive] {
        if (!alive.expired())
            onExchangeWritable();
    });
    // A stop or reload: say goodbye (1001) so the client reconnects to the new workers at once,
    // rather than holding the old worker until graceful_timeout cuts the connection.
    ex->setDrainHandler([this, alive] {
        if (alive.expired())
            return;
        Guard guard(this);
        if (!m_dead && !m_closeSent)
            startClose(CloseCode::GoingAway, "server shutting down");
    });
    ex->readBody(
        [this, alive](QByteArrayView chunk) {
            if (!alive.expired())
                onData(chunk);
        },
        [this, alive] {
            if (!alive.expired())
                onPeerEnd();
        });
    schedulePing();
}

// --- input ---

void SessionPrivate::onData(QByteArrayView chunk)
{
    Guard guard(this);
    if (m_dead || m_failed)
        return;
    m_inputSeen = true;
    m_in.append(chunk);
    processFrames();
}

void SessionPrivate::processFrames()
{
    qsizetype pos = 0;
    while (!m_dead && !m_failed && !m_closeReceived) {
        const FrameParser::Result r = m_parser.next(m_in, pos);
        if (r == FrameParser::Result::NeedMore)
            break;
        if (r == FrameParser::Result::Error) {
            fail(m_parser.errorCode(), m_parser.errorReason());
            break;
        }
        const FrameHeader &header = m_parser.header();
        if (header.isControl())
            handleControlFrame(header, m_parser.payload());
        else if (!handleDataFrame(header, m_parser.payload()))
            break;
    }
    if (m_dead)
        return;
    if (m_failed || m_closeReceived)
        m_in.clear();
    else
        m_in.remove(0, pos);
}

bool SessionPrivate::handleDataFrame(const FrameHeader &header, QByteArrayView payload)
{
    if (header.opcode != Opcode::Continuation) {
        m_messageType = header.opcode == Opcode::Text ? MessageType::Text : MessageType::Binary;
        m_messageCompressed = header.rsv1;
        m_message.clear();
        m_utf8.reset();
    }
    const qsizetype before = m_message.size();
    if (m_messageCompressed) {
        switch (m_inflater->feed(payload, header.fin, m_message)) {
        case Inflater::Result::Ok:
            break;
        case Inflater::Result::TooBig:
            fail(CloseCode::TooBig, "message over max_message_bytes");
            return false;
        case Inflater::Result::Error:
            fail(CloseCode::InvalidData, "bad deflate data");
            return false;
        }
    } else {
        if (m_message.size() + payload.size() > m_settings.maxMessageBytes) {
            fail(CloseCode::TooBig, "message over max_message_bytes");
            return false;
        }
        m_message.append(payload);
    }
    if (m_messageType == MessageType::Text) {
        // Checked piece by piece: a bad byte ends the connection before the message does.
        if (!m_utf8.feed(QByteArrayView(m_message).sliced(before)) ||
            (header.fin && !m_utf8.isComplete())) {
            fail(CloseCode::InvalidData, "text message is not UTF-8");
            return false;
        }
    }
    if (!header.fin)
        return true;
    QByteArray message = std::move(m_message);
    m_message = QByteArray();
    // After our close frame, data is discarded (RFC 6455 §1.4).
    if (m_closeSent || !m_onMessage)
        return true;
    const auto handler = m_onMessage;
    if (!callApp("message handler", [&] { handler(m_messageType, message); })) {
        fail(CloseCode::InternalError, "app failed");
        return false;
    }
    return !m_dead;
}

void SessionPrivate::handleControlFrame(const FrameHeader &header, QByteArrayView payload)
{
    switch (header.opcode) {
    case Opcode::Ping:
        if (!m_closeSent)
            send(Opcode::Pong, payload);
        return;
    case Opcode::Pong:
        return; // any input counts as a sign of life; an unsolicited pong needs no answer
    case Opcode::Close:
        break;
    default:
        return;
    }
    int code = CloseCode::NoStatus;
    QByteArrayView reason;
    if (payload.size() == 1) {
        fail(CloseCode::ProtocolError, "close frame of one byte");
        return;
    }
    if (payload.size() >= 2) {
        code = (quint8(payload[0]) << 8) | quint8(payload[1]);
        reason = payload.sliced(2);
        if (!isValidCloseCode(code)) {
            fail(CloseCode::ProtocolError, "invalid close code");
            return;
        }
        if (!Utf8Validator::isValid(reason)) {
            fail(CloseCode::InvalidData, "close reason is not UTF-8");
            return;
        }
    }
    m_closeReceived = true;
    const QByteArray reasonCopy = reason.toByteArray();
    if (!m_closeSent) {
        // Echo the peer's code (RFC 6455 §5.5.1); none is echoed as none.
        m_closeSent = true;
        send(Opcode::Close, closePayload(code, {}));
    }
    // The handshake is complete: the server closes the TCP connection first (§7.1.1).
    endExchange(true);
    die(code, reasonCopy);
}

void SessionPrivate::onPeerEnd()
{
    Guard guard(this);
    if (m_dead)
        return;
    endExchange(true);
    die(CloseCode::Abnormal, {});
}

void SessionPrivate::onExchangeAborted()
{
    Guard guard(this);
    m_handle = Http::ExchangeHandle(); // the exchange is gone: never touch it again
    die(CloseCode::Abnormal, {});
}

// --- output ---

bool SessionPrivate::sendMessage(MessageType type, QByteArrayView payload)
{
    if (m_dead || m_closeSent)
        return false;
    const Opcode opcode = type == MessageType::Text ? Opcode::Text : Opcode::Binary;
    if (m_deflater && payload.size() >= CompressMinBytes) {
        QByteArray compressed;
        if (m_deflater->compress(payload, compressed))
            return send(opcode, compressed, true);
    }
    return send(opcode, payload);
}

bool SessionPrivate::send(Opcode opcode, QByteArrayView payload, bool rsv1)
{
    if (m_dead || !exchange())
        return false;
    QByteArray frame;
    frame.reserve(payload.size() + 10);
    appendFrame(frame, opcode, payload, true, rsv1);
    pushOut(std::move(frame));
    if (m_dead)
        return false;
    if (m_queued > m_settings.sendBufferBytes * SendBufferGiveUpFactor) {
        // The peer has read nothing for a long time while we kept queueing (broadcasts):
        // holding more would let one client take the worker's memory.
        qCInfo(lcWebSocket).noquote() << QStringLiteral("%1: peer too slow, %2 bytes queued")
                                             .arg(QString::fromLatin1(m_peerText))
                                             .arg(m_queued);
        m_queue.clear();
        m_queued = 0;
        endExchange(false);
        die(CloseCode::PolicyViolation, "peer too slow");
        return false;
    }
    const bool room = m_queued <= m_settings.sendBufferBytes;
    if (!room)
        m_writableWanted = true;
    updateInputFlow();
    return room;
}

void SessionPrivate::pushOut(QByteArray frame)
{
    Http::Exchange *ex = exchange();
    if (!ex)
        return;
    if (m_exchangeFull || !m_queue.empty()) {
        m_queued += frame.size();
        m_queue.push_back(std::move(frame));
        return;
    }
    // write() takes the bytes either way; false only says its buffer is over the mark.
    m_exchangeFull = !ex->write(frame);
}

void SessionPrivate::onExchangeWritable()
{
    Guard guard(this);
    if (m_dead)
        return;
    m_exchangeFull = false;
    while (!m_queue.empty() && !m_exchangeFull) {
        Http::Exchange *ex = exchange();
        if (!ex)
            return;
        QByteArray frame = std::move(m_queue.front());
        m_queue.pop_front();
        m_queued -= frame.size();
        m_exchangeFull = !ex->write(frame);
        if (m_dead)
            return;
    }
    if (m_closeSent && m_closeReceived)
        return;
    updateInputFlow();
    if (m_writableWanted && m_queued <= m_settings.sendBufferBytes) {
        m_writableWanted = false;
        if (m_onWritable && !m_closeSent) {
            const auto handler = m_onWritable;
            if (!callApp("writable handler", handler))
                fail(CloseCode::InternalError, "app failed");
        }
    }
}

void SessionPrivate::updateInputFlow()
{
    Http::Exchange *ex = exchange();
    if (!ex)
        return;
    const bool over = m_queued > m_settings.sendBufferBytes;
    if (over && !m_inputPaused) {
        m_inputPaused = true;
        ex->pauseBody();
    } else if (!over && m_inputPaused) {
        m_inputPaused = false;
        ex->resumeBody();
    }
}

// --- closing ---

void SessionPrivate::startClose(int code, QByteArrayView reason)
{
    if (m_dead || m_closeSent)
        return;
    m_closeSent = true;
    send(Opcode::Close, closePayload(code, reason));
    if (m_dead)
        return;
    std::weak_ptr<bool> alive = m_alive;
    if (Http::Exchange *ex = exchange()) {
        ex->runAfter(m_settings.closeTimeoutMs, [this, alive] {
            if (alive.expired())
                return;
            Guard guard(this);
            if (m_dead)
                return;
            // The peer never answered our close frame.
            endExchange(false);
            die(CloseCode::Abnormal, {});
        });
    }
}

void SessionPrivate::fail(int code, const char *reason)
{
    // _Fail the WebSocket Connection_ (RFC 6455 §7.1.7): a close frame with the code, then the
    // connection ends without waiting for the peer's answer.
    if (m_dead)
        return;
    qCDebug(lcWebSocket).noquote() << QStringLiteral("%1: closing %2: %3")
                                          .arg(QString::fromLatin1(m_peerText))
                                          .arg(code)
                                          .arg(QLatin1String(reason));
    m_failed = true;
    if (!m_closeSent) {
        m_closeSent = true;
        send(Opcode::Close, closePayload(code, reason));
    }
    endExchange(true);
    die(code, reason);
}

void SessionPrivate::endExchange(bool graceful)
{
    Http::Exchange *ex = exchange();
    m_handle = Http::ExchangeHandle();
    if (!ex)
        return;
    // Our callbacks must not run for an exchange we are done with.
    ex->setWritableHandler(nullptr);
    ex->setAbortHandler(nullptr);
    if (!graceful) {
        ex->abort();
        return;
    }
    // Our queue (bounded by the give-up limit) goes to the exchange whatever its mark, so the
    // close frame behind it is sent; finish() then sends what the exchange holds and ends it.
    while (!m_queue.empty()) {
        ex->write(m_queue.front());
        m_queue.pop_front();
    }
    m_queued = 0;
    ex->finish();
}

void SessionPrivate::die(int code, QByteArrayView reason)
{
    if (m_dead)
        return;
    m_dead = true;
    *m_alive = false;
    m_alive.reset(); // timers and exchange callbacks that outlive us do nothing
    if (m_closeReported)
        return;
    m_closeReported = true;
    if (const auto handler = std::move(m_onClose)) {
        const QByteArray reasonCopy = reason.toByteArray();
        callApp("close handler", [&] { handler(code, reasonCopy); });
    }
}

// --- keep-alive ---

void SessionPrivate::schedulePing()
{
    Http::Exchange *ex = exchange();
    if (!ex || m_settings.pingIntervalMs <= 0)
        return;
    std::weak_ptr<bool> alive = m_alive;
    ex->runAfter(m_settings.pingIntervalMs, [this, alive] {
        if (alive.expired())
            return;
        Guard guard(this);
        pingTick();
    });
}

void SessionPrivate::pingTick()
{
    if (m_dead || m_closeSent)
        return;
    // No clock needed: a tick that saw input since the last one has nothing to ask.
    if (m_inputSeen) {
        m_inputSeen = false;
        schedulePing();
        return;
    }
    send(Opcode::Ping, {});
    if (m_dead)
        return;
    std::weak_ptr<bool> alive = m_alive;
    if (Http::Exchange *ex = exchange()) {
        ex->runAfter(m_settings.pongTimeoutMs, [this, alive] {
            if (alive.expired())
                return;
            Guard guard(this);
            pongCheck();
        });
    }
}

void SessionPrivate::pongCheck()
{
    if (m_dead || m_closeSent)
        return;
    if (!m_inputSeen) {
        // Nothing, not even the pong, within pong_timeout: the peer or the path is gone.
        endExchange(false);
        die(CloseCode::Abnormal, "pong timeout");
        return;
    }
    m_inputSeen = false;
    schedulePing();
}

// --- Session ---

Session::Session(std::unique_ptr<SessionPrivate> d)
    : d(std::move(d))
{
    this->d->q = this;
}

Session::~Session() = default;

bool Session::isUpgradeRequest(const Http::Exchange &exchange)
{
    return Http::equalsIgnoreCase(exchange.request().tunnelProtocol(), "websocket");
}

Session *Session::accept(Http::Exchange &exchange, const Settings &settings,
                         const QList<QByteArray> &subprotocols)
{
    const Handshake handshake =
        checkHandshake(exchange.request(), settings.allowedOrigins, subprotocols, settings.deflate);
    if (handshake.status != 0) {
        qCDebug(lcWebSocket) << "handshake refused:" << handshake.reason;
        if (handshake.status == 426) {
            exchange.response().setHeader("Sec-WebSocket-Version", "13");
            exchange.response().setHeader("Upgrade", "websocket");
        }
        Http::respondWithError(exchange, handshake.status);
        return nullptr;
    }
    Http::Response &response = exchange.response();
    if (!handshake.accept.isEmpty())
        response.setHeader("Sec-WebSocket-Accept", handshake.accept);
    if (!handshake.subprotocol.isEmpty())
        response.setHeader("Sec-WebSocket-Protocol", handshake.subprotocol);
    if (handshake.deflate)
        response.setHeader("Sec-WebSocket-Extensions", handshake.deflate->responseHeader());
    if (!exchange.startTunnel()) {
        // A request body, a response already started, or a draining server.
        response.clear();
        Http::respondWithError(exchange, exchange.responseStarted() ? 500 : 400);
        return nullptr;
    }
    auto *session = new Session(std::make_unique<SessionPrivate>(exchange, settings, handshake));
    bool dead = false;
    {
        SessionPrivate::Guard guard(session->d.get());
        session->d->start();
        dead = session->d->m_dead; // the guard deletes it then
    }
    return dead ? nullptr : session;
}

void Session::onMessage(std::function<void(MessageType, QByteArrayView)> handler)
{
    d->m_onMessage = std::move(handler);
}

void Session::onClose(std::function<void(int, QByteArrayView)> handler)
{
    d->m_onClose = std::move(handler);
}

void Session::onWritable(std::function<void()> handler)
{
    d->m_onWritable = std::move(handler);
}

bool Session::sendText(QByteArrayView utf8)
{
    SessionPrivate::Guard guard(d.get());
    return d->sendMessage(MessageType::Text, utf8);
}

bool Session::sendBinary(QByteArrayView data)
{
    SessionPrivate::Guard guard(d.get());
    return d->sendMessage(MessageType::Binary, data);
}

void Session::close(int code, QByteArrayView reason)
{
    SessionPrivate::Guard guard(d.get());
    if (code != CloseCode::NoStatus && !isValidCloseCode(code))
        code = CloseCode::Normal;
    d->startClose(code, reason);
}

qint64 Session::bufferedBytes() const
{
    return d->m_queued;
}

QByteArray Session::peerText() const
{
    return d->m_peerText;
}

QByteArrayView Session::subprotocol() const
{
    return d->m_subprotocol;
}

bool Session::isClosing() const
{
    return d->m_closeSent || d->m_closeReceived || d->m_dead;
}

} // namespace Berth::WebSocket
