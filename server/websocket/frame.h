#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace Berth::WebSocket {

// RFC 6455 §5.2 opcodes.
enum class Opcode : quint8 {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
};

// RFC 6455 §7.4.1 status codes the server uses.
namespace CloseCode {
inline constexpr int Normal = 1000;
inline constexpr int GoingAway = 1001;
inline constexpr int ProtocolError = 1002;
inline constexpr int Unsupported = 1003;
inline constexpr int NoStatus = 1005; // never sent: "the close frame had no code"
inline constexpr int Abnormal = 1006; // never sent: "the connection died without a close"
inline constexpr int InvalidData = 1007;
inline constexpr int PolicyViolation = 1008;
inline constexpr int TooBig = 1009;
inline constexpr int InternalError = 1011;
} // namespace CloseCode

// Whether a peer may send this code in a close frame (1000-1003, 1007-1014, 3000-4999);
// anything else received is a protocol error (1002).
bool isValidCloseCode(int code);

// One frame's header, as parsed.
struct FrameHeader
{
    bool fin = false;
    bool rsv1 = false;
    Opcode opcode = Opcode::Continuation;
    bool masked = false;
    quint8 mask[4] = {0, 0, 0, 0};
    qint64 payloadLength = 0;
    int headerSize = 0;

    bool isControl() const { return (quint8(opcode) & 0x8) != 0; }
};

// What a FrameParser enforces.
struct FrameOptions
{
    qint64 maxFrameBytes = 1 << 20;
    bool requireMask = true; // a server: clients must mask (RFC 6455 §5.1)
    bool allowRsv1 = false;  // permessage-deflate negotiated: RSV1 marks a compressed message
};

// Incremental frame parser for what clients send (RFC 6455 §5): every rule that a frame header
// alone decides is checked as soon as the header is complete, before any payload is buffered,
// and the fragmentation rules need the parser's memory of the message in progress. Payloads are
// unmasked in place.
class FrameParser
{
public:
    using Options = FrameOptions;
    enum class Result {
        NeedMore, // nothing complete at `pos`; call again once more bytes are appended
        Frame,    // header() and payload() are the next frame; pos moved past it
        Error,    // errorCode() and errorReason(): close the connection with them
    };

    FrameParser() = default;
    explicit FrameParser(const FrameOptions &options);

    // Parses the frame starting at buffer[pos]. The payload is unmasked in the buffer and
    // payload() views it, until the buffer changes.
    Result next(QByteArray &buffer, qsizetype &pos);

    const FrameHeader &header() const { return m_header; }
    QByteArrayView payload() const { return m_payload; }
    int errorCode() const { return m_errorCode; }
    const char *errorReason() const { return m_errorReason; }
    // Whether a fragmented data message is in progress (its first frame had FIN clear).
    bool inMessage() const { return m_inMessage; }

private:
    Result fail(int code, const char *reason);

    FrameOptions m_options;
    FrameHeader m_header;
    QByteArrayView m_payload;
    bool m_inMessage = false;
    int m_errorCode = 0;
    const char *m_errorReason = "";
};

// Appends one frame. Server frames go unmasked; mask (4 bytes) is for tests acting as a client.
void appendFrame(QByteArray &out, Opcode opcode, QByteArrayView payload, bool fin = true,
                 bool rsv1 = false, const quint8 *mask = nullptr);
// A close frame's payload: the code in network order and the reason (1005: empty payload).
QByteArray closePayload(int code, QByteArrayView reason);

} // namespace Berth::WebSocket
