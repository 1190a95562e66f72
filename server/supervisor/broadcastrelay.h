#pragma once

#include "runtime/buswire.h"

#include <QHash>
#include <QObject>
#include <QString>

#include <deque>
#include <optional>

class QSocketNotifier;

namespace Berth::Supervisor {

// The master's half of the broadcast bus (runtime/broadcastbus.h): one SOCK_STREAM socketpair
// per child, made when the child is spawned (the child inherits its end like the listeners,
// in BERTH_BUS_FD). Every frame a child writes is relayed verbatim to every other child of the
// same group (the ChildSpec key, so a reload's new generation joins its predecessors while
// those drain, and a restarted child gets a fresh pair).
//
// The master never blocks on a child: each peer has an outgoing queue capped at queueCapBytes;
// a frame that would pass the cap is dropped for that peer and counted (the peer is not reading:
// hung, or its clients are slower than the chat). A peer that sends a malformed or oversized
// frame loses its channel. Frames are shared between the queues (QByteArray's implicit sharing),
// so a broadcast to N children costs one copy.
class BroadcastRelay final : public QObject
{
    Q_OBJECT
public:
    static constexpr qsizetype DefaultQueueCapBytes = qsizetype(16) << 20;

    struct Channel
    {
        int id = 0;
        int childFd = -1; // the child's end, without close-on-exec: pass it, then close it
    };

    explicit BroadcastRelay(qsizetype queueCapBytes = DefaultQueueCapBytes,
                            QObject *parent = nullptr);
    ~BroadcastRelay() override;

    std::optional<Channel> open(const QString &group, QString *error);
    void setLabel(int id, const QString &label); // for the log: "http:http child 1 (pid 123)"
    void close(int id);
    // Queues frame for peer id alone (a control request); false when there is no such peer or
    // its queue is full.
    bool sendTo(int id, const QByteArray &frame);

    int peerCount() const { return int(m_peers.size()); }
    quint64 relayed() const { return m_relayed; } // frame deliveries queued to a peer
    quint64 dropped() const { return m_dropped; } // deliveries dropped at a full queue
    qsizetype queuedBytes(int id) const;

Q_SIGNALS:
    // A child answered a control request (BusWire::ControlAnswerTopic); not relayed.
    void controlAnswer(int id, const QByteArray &payload);

private:
    struct Peer
    {
        QString group;
        QString label;
        int fd = -1;
        QSocketNotifier *readNotifier = nullptr;
        QSocketNotifier *writeNotifier = nullptr;
        Core::BusWire::Decoder in;
        std::deque<QByteArray> out;
        qsizetype outOffset = 0;
        qsizetype outBytes = 0;
        quint64 dropped = 0;
    };

    void onReadable(int id);
    void onWritable(int id);
    void relay(int from, const QByteArray &frame);
    bool flush(Peer &peer); // false: the peer is gone
    void fail(int id, const char *why);

    qsizetype m_queueCap;
    QHash<int, Peer> m_peers;
    int m_nextId = 1;
    quint64 m_relayed = 0;
    quint64 m_dropped = 0;
};

} // namespace Berth::Supervisor
