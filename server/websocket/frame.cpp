#include "frame.h"

#include <QtEndian>

namespace Berth::WebSocket {

bool isValidCloseCode(int code)
{
    // 1004, 1005, 1006 and 1015 are reserved for endpoints' own use and never sent; 1016-2999
    // are for future standards; 3000-4999 belong to libraries and applications.
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

FrameParser::FrameParser(const Options &options)
    : m_options(options)
{}

FrameParser::Result FrameParser::fail(int code, const char *reason)
{
    m_errorCode = code;
    m_errorReason = reason;
    return Result::Error;
}

FrameParser::Result FrameParser::next(QByteArray &buffer, qsizetype &pos)
{
    const qsizetype available = buffer.size() - pos;
    if (available < 2)
        return Result::NeedMore;
    const auto *p = reinterpret_cast<const quint8 *>(buffer.constData() + pos);
    FrameHeader h;
    h.fin = (p[0] & 0x80) != 0;
    h.rsv1 = (p[0] & 0x40) != 0;
    const bool rsv23 = (p[0] & 0x30) != 0;
    h.opcode = Opcode(p[0] & 0x0F);
    h.masked = (p[1] & 0x80) != 0;
    const quint8 len7 = p[1] & 0x7F;

    // What the first two bytes decide is checked before waiting for the rest.
    if (rsv23)
        return fail(CloseCode::ProtocolError, "reserved bits set");
    switch (h.opcode) {
    case Opcode::Continuation:
    case Opcode::Text:
    case Opcode::Binary:
    case Opcode::Close:
    case Opcode::Ping:
    case Opcode::Pong:
        break;
    default:
        return fail(CloseCode::ProtocolError, "unknown opcode");
    }
    if (h.isControl()) {
        if (!h.fin)
            return fail(CloseCode::ProtocolError, "fragmented control frame");
        if (len7 > 125)
            return fail(CloseCode::ProtocolError, "control frame over 125 bytes");
        if (h.rsv1)
            return fail(CloseCode::ProtocolError, "RSV1 on a control frame");
    } else if (h.opcode == Opcode::Continuation) {
        if (!m_inMessage)
            return fail(CloseCode::ProtocolError, "continuation without a message");
        if (h.rsv1)
            return fail(CloseCode::ProtocolError, "RSV1 on a continuation frame");
    } else {
        if (m_inMessage)
            return fail(CloseCode::ProtocolError, "new message inside a fragmented one");
        if (h.rsv1 && !m_options.allowRsv1)
            return fail(CloseCode::ProtocolError, "RSV1 without an extension");
    }
    if (m_options.requireMask && !h.masked)
        return fail(CloseCode::ProtocolError, "unmasked client frame");

    qsizetype at = 2;
    quint64 length = len7;
    if (len7 == 126) {
        if (available < 4)
            return Result::NeedMore;
        length = qFromBigEndian<quint16>(p + 2);
        at = 4;
    } else if (len7 == 127) {
        if (available < 10)
            return Result::NeedMore;
        length = qFromBigEndian<quint64>(p + 2);
        if (length & (quint64(1) << 63))
            return fail(CloseCode::ProtocolError, "64-bit length with the high bit set");
        at = 10;
    }
    // Refused on the header alone: an oversized frame is never buffered.
    if (length > quint64(m_options.maxFrameBytes))
        return fail(CloseCode::TooBig, "frame over max_frame_bytes");
    if (h.masked) {
        if (available < at + 4)
            return Result::NeedMore;
        for (int i = 0; i < 4; ++i)
            h.mask[i] = p[at + i];
        at += 4;
    }
    if (quint64(available - at) < length)
        return Result::NeedMore;

    h.payloadLength = qint64(length);
    h.headerSize = int(at);
    char *payload = buffer.data() + pos + at; // detaches once if shared, then stays put
    if (h.masked) {
        for (qint64 i = 0; i < h.payloadLength; ++i)
            payload[i] = char(quint8(payload[i]) ^ h.mask[i & 3]);
    }
    m_header = h;
    m_payload = QByteArrayView(payload, h.payloadLength);
    pos += at + h.payloadLength;
    if (!h.isControl())
        m_inMessage = !h.fin;
    return Result::Frame;
}

void appendFrame(QByteArray &out, Opcode opcode, QByteArrayView payload, bool fin, bool rsv1,
                 const quint8 *mask)
{
    quint8 head[14];
    int n = 0;
    head[n++] = quint8((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | quint8(opcode));
    const quint8 maskBit = mask ? 0x80 : 0;
    const quint64 length = quint64(payload.size());
    if (length < 126) {
        head[n++] = quint8(maskBit | length);
    } else if (length <= 0xFFFF) {
        head[n++] = quint8(maskBit | 126);
        qToBigEndian<quint16>(quint16(length), head + n);
        n += 2;
    } else {
        head[n++] = quint8(maskBit | 127);
        qToBigEndian<quint64>(length, head + n);
        n += 8;
    }
    if (mask) {
        for (int i = 0; i < 4; ++i)
            head[n++] = mask[i];
    }
    out.append(reinterpret_cast<const char *>(head), n);
    if (!mask) {
        out.append(payload);
        return;
    }
    const qsizetype at = out.size();
    out.append(payload);
    char *p = out.data() + at;
    for (qsizetype i = 0; i < payload.size(); ++i)
        p[i] = char(quint8(p[i]) ^ mask[i & 3]);
}

QByteArray closePayload(int code, QByteArrayView reason)
{
    QByteArray payload;
    if (code == CloseCode::NoStatus)
        return payload;
    payload.resize(2);
    qToBigEndian<quint16>(quint16(code), payload.data());
    // 125 bytes at most for a control frame; cut on a character boundary.
    qsizetype keep = qMin<qsizetype>(reason.size(), 123);
    if (keep < reason.size()) {
        while (keep > 0 && (quint8(reason[keep]) & 0xC0) == 0x80)
            --keep;
    }
    payload.append(reason.first(keep));
    return payload;
}

} // namespace Berth::WebSocket
