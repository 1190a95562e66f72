#include "broadcastbus.h"

#include <QLoggingCategory>
#include <QSocketNotifier>

#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcBus, "berth.bus")

namespace Berth::Core {

namespace {

constexpr qsizetype ReadChunk = 64 * 1024;
// Per wake-up, so a busy room can't starve the main thread's other work (signals, log flush).
constexpr int MaxReadsPerWakeup = 16;

} // namespace

BroadcastBus::BroadcastBus(int fd, qsizetype backlogBytes, QObject *parent)
    : QObject(parent)
    , m_fd(fd)
    , m_backlogCap(backlogBytes)
{
    if (m_fd < 0)
        return;
    ::fcntl(m_fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(m_fd, F_SETFL, ::fcntl(m_fd, F_GETFL) | O_NONBLOCK);
    m_readNotifier = new QSocketNotifier(m_fd, QSocketNotifier::Read, this);
    connect(m_readNotifier, &QSocketNotifier::activated, this, &BroadcastBus::onReadable);
    m_writeNotifier = new QSocketNotifier(m_fd, QSocketNotifier::Write, this);
    m_writeNotifier->setEnabled(false);
    connect(m_writeNotifier, &QSocketNotifier::activated, this, &BroadcastBus::onWritable);
}

BroadcastBus::~BroadcastBus()
{
    closeChannel();
}

std::unique_ptr<BroadcastBus> BroadcastBus::fromEnvironment()
{
    bool ok = false;
    const int fd = qEnvironmentVariableIntValue(FdVariable, &ok);
    qunsetenv(FdVariable);
    return std::make_unique<BroadcastBus>(ok && fd > 2 ? fd : -1);
}

bool BroadcastBus::hasChannel() const
{
    QMutexLocker lock(&m_mutex);
    return m_fd >= 0 && !m_broken;
}

BroadcastBus::SubscriptionId BroadcastBus::subscribe(const QByteArray &topic, QObject *context,
                                                     Handler handler)
{
    QMutexLocker lock(&m_mutex);
    const SubscriptionId id = m_nextId++;
    m_subscriptions.insert(
        id, Subscription{topic, context, std::make_shared<Handler>(std::move(handler))});
    return id;
}

void BroadcastBus::unsubscribe(SubscriptionId id)
{
    QMutexLocker lock(&m_mutex);
    m_subscriptions.remove(id);
}

BroadcastBus::PublishResult BroadcastBus::publish(QByteArrayView topic, QByteArrayView payload)
{
    const QByteArray frame = BusWire::encode(topic, payload);
    if (frame.isEmpty()) {
        m_refused.fetch_add(1, std::memory_order_relaxed);
        return PublishResult::TooLarge;
    }
    {
        QMutexLocker lock(&m_mutex);
        if (m_fd >= 0 && !m_broken) {
            // Refused whole rather than delivered only here: a chat where some workers see a
            // message and others don't is worse than a sender told to slow down.
            if (m_outBytes + frame.size() > m_backlogCap) {
                m_refused.fetch_add(1, std::memory_order_relaxed);
                return PublishResult::Backlogged;
            }
            const bool wasIdle = m_out.empty();
            m_out.push_back(frame);
            m_outBytes += frame.size();
            if (wasIdle)
                flushLocked();
            if (!m_out.empty() && wasIdle && !m_broken) {
                // The notifier belongs to the bus's thread; the publisher may be another one.
                QMetaObject::invokeMethod(
                    this,
                    [this] {
                        QMutexLocker lock(&m_mutex);
                        if (m_writeNotifier && !m_out.empty())
                            m_writeNotifier->setEnabled(true);
                    },
                    Qt::QueuedConnection);
            }
        }
    }
    m_published.fetch_add(1, std::memory_order_relaxed);
    deliverLocally(topic.toByteArray(), payload.toByteArray());
    return PublishResult::Sent;
}

void BroadcastBus::deliverLocally(const QByteArray &topic, const QByteArray &payload)
{
    QMutexLocker lock(&m_mutex);
    for (auto it = m_subscriptions.cbegin(); it != m_subscriptions.cend(); ++it) {
        if (it->topic != topic || !it->context)
            continue;
        // The handler is looked up again when the event runs: an unsubscribe in between (the
        // app is going away) wins, and a deleted context drops the posted event itself.
        const SubscriptionId id = it.key();
        QMetaObject::invokeMethod(
            it->context.data(),
            [this, id, payload] {
                std::shared_ptr<Handler> handler;
                {
                    QMutexLocker lock(&m_mutex);
                    const auto found = m_subscriptions.constFind(id);
                    if (found == m_subscriptions.cend())
                        return;
                    handler = found->handler;
                }
                (*handler)(payload);
            },
            Qt::QueuedConnection);
    }
}

void BroadcastBus::onReadable()
{
    char buffer[ReadChunk];
    for (int reads = 0; reads < MaxReadsPerWakeup; ++reads) {
        int fd;
        {
            QMutexLocker lock(&m_mutex);
            if (m_fd < 0 || m_broken)
                return;
            fd = m_fd;
        }
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            QMutexLocker lock(&m_mutex);
            breakChannelLocked(n == 0 ? "the master closed the channel" : "read failed");
            break;
        }
        m_in.append(QByteArrayView(buffer, n));
        QByteArray frame;
        QByteArray topic;
        QByteArray payload;
        for (;;) {
            const BusWire::Decoder::Result result = m_in.next(&frame, &topic, &payload);
            if (result == BusWire::Decoder::Result::NeedMore)
                break;
            if (result == BusWire::Decoder::Result::Error) {
                QMutexLocker lock(&m_mutex);
                breakChannelLocked("malformed frame from the master");
                return;
            }
            m_received.fetch_add(1, std::memory_order_relaxed);
            deliverLocally(topic, payload);
        }
    }
}

void BroadcastBus::onWritable()
{
    QMutexLocker lock(&m_mutex);
    flushLocked();
    if (m_writeNotifier && (m_out.empty() || m_broken))
        m_writeNotifier->setEnabled(false);
}

void BroadcastBus::flushLocked()
{
    while (!m_out.empty() && !m_broken) {
        const QByteArray &head = m_out.front();
        const ssize_t n = ::send(m_fd, head.constData() + m_outOffset,
                                 size_t(head.size() - m_outOffset), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            breakChannelLocked("write failed");
            return;
        }
        m_outOffset += n;
        if (m_outOffset == head.size()) {
            m_outBytes -= head.size();
            m_out.pop_front();
            m_outOffset = 0;
        }
    }
}

void BroadcastBus::breakChannelLocked(const char *why)
{
    if (m_broken)
        return;
    m_broken = true;
    m_out.clear();
    m_outBytes = 0;
    m_outOffset = 0;
    qCWarning(lcBus) << "broadcast channel closed:" << why
                     << "- messages stay within this process from now on";
    // The notifiers and the fd are the bus thread's to close.
    QMetaObject::invokeMethod(
        this, [this] { closeChannel(); }, Qt::QueuedConnection);
}

void BroadcastBus::closeChannel()
{
    QMutexLocker lock(&m_mutex);
    delete m_readNotifier;
    m_readNotifier = nullptr;
    delete m_writeNotifier;
    m_writeNotifier = nullptr;
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = -1;
    m_broken = true;
}

} // namespace Berth::Core
