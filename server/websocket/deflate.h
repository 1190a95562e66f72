#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <memory>
#include <optional>

namespace Berth::WebSocket {

// permessage-deflate (RFC 7692) as agreed with one client.
struct DeflateParams
{
    bool serverNoContextTakeover = false; // we reset our compressor after each message
    bool clientNoContextTakeover = false; // the client resets its own (nothing for us to do)
    int serverMaxWindowBits = 15;         // our compressor's window
    int clientMaxWindowBits = 15;         // the client's; we always inflate with 15, enough
    bool clientMaxWindowBitsOffered = false;

    // The Sec-WebSocket-Extensions value that accepts it.
    QByteArray responseHeader() const;
};

// Chooses the first acceptable permessage-deflate offer of the request's
// Sec-WebSocket-Extensions values (every field's value, joined by ", "). An offer with an
// unknown or repeated parameter or a bad value is declined (RFC 7692 §5.1), and so is
// server_max_window_bits=8: zlib can't compress with a 256-byte window. nullopt: none.
std::optional<DeflateParams> negotiateDeflate(QByteArrayView offers);

// Compresses the messages we send (raw deflate, each ended by a sync flush whose 00 00 FF FF
// tail is left off, RFC 7692 §7.2.1).
class Deflater
{
public:
    explicit Deflater(const DeflateParams &params);
    ~Deflater();
    // Appends the compressed message to out. False if zlib failed (send it uncompressed).
    bool compress(QByteArrayView message, QByteArray &out);

private:
    struct State;
    std::unique_ptr<State> m_state;
    bool m_resetAfterMessage;
};

// Inflates the messages the client sends, never producing more than maxMessageBytes of one
// message: the limit is checked while inflating, so a deflate bomb (a tiny frame that inflates
// to gigabytes) is refused after at most maxMessageBytes plus one buffer of output.
class Inflater
{
public:
    enum class Result { Ok, TooBig, Error };

    Inflater(const DeflateParams &params, qint64 maxMessageBytes);
    ~Inflater();
    // One frame's payload of a compressed message, appended inflated to message (which holds
    // the message so far). last: the message's final frame (the tail is added back).
    Result feed(QByteArrayView compressed, bool last, QByteArray &message);

private:
    Result inflateBytes(QByteArrayView input, QByteArray &message);

    struct State;
    std::unique_ptr<State> m_state;
    qint64 m_maxMessageBytes;
    bool m_resetAfterMessage;
};

} // namespace Berth::WebSocket
