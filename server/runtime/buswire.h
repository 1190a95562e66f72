#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <cstdint>

namespace Berth::Core::BusWire {

// One message on a broadcast channel between a child and the master (a SOCK_STREAM socketpair):
//
//   u32 big-endian N | u8 topic length T | T bytes topic | N - 1 - T bytes payload
//
// The master relays frames verbatim, so it only needs N; the children decode the topic.
constexpr qsizetype LengthBytes = 4;
constexpr qsizetype MaxTopicBytes = 255;
// The largest payload a bus carries: berth.ws_chat's largest message (1 MiB) and a small header
// of the app's. A bigger one is refused at publish, and a peer announcing a bigger frame is a
// broken peer.
constexpr qsizetype MaxPayloadBytes = (qsizetype(1) << 20) + 64;
constexpr qsizetype MaxFrameBytes = LengthBytes + 1 + MaxTopicBytes + MaxPayloadBytes;

// Reserved topics: control requests between the master and one child travel on the child's
// broadcast channel but are never relayed to the other children. The master sends a request
// (payload "ID\nVERB\nARG\n...") on ControlRequestTopic to one child; the child answers
// on ControlAnswerTopic ("ID\nOK|FAILED\nLINE\n..."), which the master's relay keeps.
// Apps never publish on them (the "berth.control." prefix is the server's).
constexpr const char ControlRequestTopic[] = "berth.control.request";
constexpr const char ControlAnswerTopic[] = "berth.control.answer";

// An empty array when the topic or payload is over its limit.
QByteArray encode(QByteArrayView topic, QByteArrayView payload);

// Splits a byte stream into frames. Incremental: feed what read() returned, then take frames
// until next() says NeedMore. After Error the stream can't be trusted: drop the channel.
class Decoder
{
public:
    enum class Result { NeedMore, Frame, Error };

    void append(QByteArrayView bytes) { m_buffer.append(bytes); }
    // On Frame: *frame is the whole encoded frame (what a relay forwards); topic and payload,
    // when not null, its parts.
    Result next(QByteArray *frame, QByteArray *topic = nullptr, QByteArray *payload = nullptr);
    qsizetype buffered() const { return m_buffer.size() - m_offset; }

private:
    QByteArray m_buffer;
    qsizetype m_offset = 0;
};

} // namespace Berth::Core::BusWire
