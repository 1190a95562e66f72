#pragma once

#include "buswire.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QHash>
#include <QMutex>
#include <QObject>
#include <QPointer>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>

class QSocketNotifier;

namespace Berth::Core {

// Publish/subscribe between every event-loop thread of every child of one service: what
// berth.ws_chat broadcasts on. A message published on a topic reaches every subscriber of that
// topic in this process (the publisher's own thread included) and, through the master's relay
// (supervisor/broadcastrelay.h), every subscriber in the service's other children, including
// those of an older generation that still drains after a reload.
//
// The process's end of the master's channel comes in BERTH_BUS_FD; without it (workers = 0,
// tests) the bus delivers within the process only.
//
// Bounded: a payload over BusWire::MaxPayloadBytes is refused at publish; when the master does
// not take our bytes (it stalls, it is gone) the outgoing backlog is capped and publish refuses
// beyond it. Delivery is at most once and never blocks the publisher.
class BroadcastBus final : public QObject
{
    Q_OBJECT
public:
    static constexpr const char *FdVariable = "BERTH_BUS_FD";
    static constexpr qsizetype DefaultBacklogBytes = qsizetype(8) << 20;

    using Handler = std::function<void(const QByteArray &payload)>;
    using SubscriptionId = quint64;
    enum class PublishResult { Sent, TooLarge, Backlogged };

    // fd: this process's end of the master's channel (the bus owns it), or -1 for in-process
    // delivery only. The bus reads and flushes on the thread it lives on (the main thread).
    explicit BroadcastBus(int fd = -1, qsizetype backlogBytes = DefaultBacklogBytes,
                          QObject *parent = nullptr);
    ~BroadcastBus() override;

    // The channel the master passed in BERTH_BUS_FD (the variable is consumed), else a bus
    // without one.
    static std::unique_ptr<BroadcastBus> fromEnvironment();

    // Thread-safe. handler runs on context's thread, from its event loop (never inside
    // publish()), for every message on topic until unsubscribe() or context's destruction.
    SubscriptionId subscribe(const QByteArray &topic, QObject *context, Handler handler);
    void unsubscribe(SubscriptionId id);

    // Thread-safe, never blocks.
    PublishResult publish(QByteArrayView topic, QByteArrayView payload);

    bool hasChannel() const;
    quint64 published() const { return m_published.load(std::memory_order_relaxed); }
    quint64 received() const { return m_received.load(std::memory_order_relaxed); }
    quint64 refused() const { return m_refused.load(std::memory_order_relaxed); }

private:
    struct Subscription
    {
        QByteArray topic;
        QPointer<QObject> context;
        std::shared_ptr<Handler> handler;
    };

    void deliverLocally(const QByteArray &topic, const QByteArray &payload);
    void onReadable();
    void onWritable();
    void flushLocked();
    void breakChannelLocked(const char *why);
    void closeChannel();

    mutable QMutex m_mutex;
    int m_fd = -1;
    bool m_broken = false; // the master's end is gone: in-process delivery from now on
    BusWire::Decoder m_in; // the bus thread's only
    qsizetype m_backlogCap;
    std::deque<QByteArray> m_out; // frames not yet written; the first one from m_outOffset
    qsizetype m_outOffset = 0;
    qsizetype m_outBytes = 0;
    QSocketNotifier *m_readNotifier = nullptr;
    QSocketNotifier *m_writeNotifier = nullptr;
    QHash<SubscriptionId, Subscription> m_subscriptions;
    SubscriptionId m_nextId = 1;
    // Counters only (relaxed): nothing is ordered by them.
    std::atomic<quint64> m_published{0};
    std::atomic<quint64> m_received{0};
    std::atomic<quint64> m_refused{0};
};

} // namespace Berth::Core
