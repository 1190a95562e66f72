#include "buswire.h"

#include <QtEndian>

namespace Berth::Core::BusWire {

QByteArray encode(QByteArrayView topic, QByteArrayView payload)
{
    if (topic.size() > MaxTopicBytes || payload.size() > MaxPayloadBytes)
        return {};
    const quint32 length = quint32(1 + topic.size() + payload.size());
    QByteArray frame;
    frame.reserve(LengthBytes + qsizetype(length));
    char header[LengthBytes + 1];
    qToBigEndian(length, header);
    header[LengthBytes] = char(quint8(topic.size()));
    frame.append(header, sizeof header);
    frame.append(topic);
    frame.append(payload);
    return frame;
}

Decoder::Result Decoder::next(QByteArray *frame, QByteArray *topic, QByteArray *payload)
{
    const qsizetype available = m_buffer.size() - m_offset;
    if (available < LengthBytes + 1) {
        // Compact once everything before the offset is consumed, so the buffer never grows
        // with the history of the stream.
        if (m_offset > 0) {
            m_buffer.remove(0, m_offset);
            m_offset = 0;
        }
        return Result::NeedMore;
    }
    const char *head = m_buffer.constData() + m_offset;
    const quint32 length = qFromBigEndian<quint32>(head);
    const qsizetype topicLength = quint8(head[LengthBytes]);
    // Checked before waiting for the body: a peer announcing 4 GiB never makes us buffer it.
    if (length < 1 + quint32(topicLength) || qsizetype(length) > MaxFrameBytes - LengthBytes)
        return Result::Error;
    const qsizetype total = LengthBytes + qsizetype(length);
    if (available < total) {
        if (m_offset > 0) {
            m_buffer.remove(0, m_offset);
            m_offset = 0;
        }
        return Result::NeedMore;
    }
    *frame = m_buffer.mid(m_offset, total);
    if (topic)
        *topic = frame->mid(LengthBytes + 1, topicLength);
    if (payload)
        *payload = frame->mid(LengthBytes + 1 + topicLength);
    m_offset += total;
    if (m_offset == m_buffer.size()) {
        m_buffer.clear();
        m_offset = 0;
    }
    return Result::Frame;
}

} // namespace Berth::Core::BusWire
