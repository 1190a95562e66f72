#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>

#include <functional>
#include <memory>

namespace Berth::Http {
class Exchange;
}

namespace Berth::WebSocket {

// What a WebSocket app configures, from its [app:NAME] section (the app factory parses it; see
// apps/websocket/wssettings.h for the shared parser of the common keys).
struct Settings
{
    qint64 maxMessageBytes = 1 << 20; // a whole message (after inflating); beyond: close 1009
    qint64 maxFrameBytes = 1 << 20;   // one frame's payload as sent; beyond: close 1009
    qint64 pingIntervalMs = 30000;    // a ping after this long without input; 0: never
    qint64 pongTimeoutMs = 10000;     // no input this long after our ping: the peer is gone
    qint64 closeTimeoutMs = 5000;     // after our close frame, wait this long for the peer's
    qint64 sendBufferBytes = 4 << 20; // over this the peer is too slow: send* returns false;
                                      // over four times this the session is closed 1008
    QList<QByteArray> allowedOrigins; // exact Origin values ("https://example.org"); empty: any
    bool deflate = true;              // accept permessage-deflate when the client offers it
};

enum class MessageType { Text, Binary };

class SessionPrivate;

// One open WebSocket (RFC 6455) on an exchange's byte tunnel: HTTP/1.1 Upgrade or HTTP/2
// extended CONNECT (RFC 8441), the session never knows which. It parses and validates the
// peer's frames (masking, reserved bits, opcodes, fragmentation, UTF-8 of text, limits),
// reassembles messages, answers pings, runs the close handshake and the keep-alive pings, and
// compresses with permessage-deflate when negotiated.
//
// Lifetime: the session owns itself. It deletes itself after it closed (for any reason) and
// called the close handler, or when the exchange died under it; never delete it. Use it only on
// the exchange's event-loop thread. Don't touch the pointer after the close handler ran.
//
// Callbacks: an exception thrown from a handler is caught, logged and closes the session 1011.
// A handler may call send*() and close() on the session, but must not block.
class Session final
{
public:
    // Checks the handshake the request carries (GET + Upgrade over HTTP/1.1, CONNECT +
    // :protocol over HTTP/2; version 13, key, Origin against settings.allowedOrigins). On
    // failure it answers the exchange itself (400, 403, or 426 with Sec-WebSocket-Version: 13)
    // and returns null. On success it chooses the first of `subprotocols` (in our order of
    // preference) that the client offered, negotiates permessage-deflate, accepts the tunnel
    // (101 or 200) and returns the session. Register the handlers at once, before returning to
    // the event loop.
    static Session *accept(Http::Exchange &exchange, const Settings &settings,
                           const QList<QByteArray> &subprotocols = {});

    // Whether the request asks for a WebSocket at all (tunnelProtocol() is "websocket"): an app
    // that also serves plain HTTP on the same route branches on it.
    static bool isUpgradeRequest(const Http::Exchange &exchange);

    // A complete message (reassembled, inflated, text validated as UTF-8); payload is valid
    // only during the call.
    void onMessage(std::function<void(MessageType type, QByteArrayView payload)> handler);
    // Called once when the session ends: the close code the peer sent (1005 when it sent none),
    // the code we closed with after a protocol error or timeout, or 1006 when the connection
    // died without a close frame. The session deletes itself right after.
    void onClose(std::function<void(int code, QByteArrayView reason)> handler);
    // Called when the output drained below the high-water mark after send*() returned false.
    void onWritable(std::function<void()> handler);

    // Queue one message. False when the output is over settings.sendBufferBytes (the message is
    // still queued): wait for the writable handler. Ignored (false) once closing.
    bool sendText(QByteArrayView utf8);
    bool sendBinary(QByteArrayView data);
    // Starts the close handshake: sends a close frame, stops delivering messages, drops the
    // connection after closeTimeoutMs if the peer doesn't answer. A code outside the ones one
    // may send (1000-1003, 1007-1014, 3000-4999) is sent as 1000 (1005: sent without a code).
    void close(int code = 1000, QByteArrayView reason = {});

    qint64 bufferedBytes() const;       // queued and not yet handed to the exchange
    QByteArray peerText() const;        // "ip:port" for logs
    QByteArrayView subprotocol() const; // the one chosen, or empty
    bool isClosing() const;             // close() called or a close frame received

    ~Session();

private:
    friend class SessionPrivate;
    explicit Session(std::unique_ptr<SessionPrivate> d);
    std::unique_ptr<SessionPrivate> d;
};

} // namespace Berth::WebSocket
