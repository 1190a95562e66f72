#include "broadcastrelay.h"

#include <QLoggingCategory>
#include <QSocketNotifier>

#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcRelay, "berth.master.bus")

namespace Berth::Supervisor {

namespace {

constexpr qsizetype ReadChunk = 64 * 1024;
// Per wake-up, so one chatty child can't keep the master from its other duties.
constexpr int MaxReadsPerWakeup = 16;

} // namespace

BroadcastRelay::BroadcastRelay(qsizetype queueCapBytes, QObject *parent)
    : QObject(parent)
    , m_queueCap(queueCapBytes)
{}

BroadcastRelay::~BroadcastRelay()
{
    const QList<int> ids = m_peers.keys();
    for (int id : ids)
        close(id);
}

std::optional<BroadcastRelay::Channel> BroadcastRelay::open(const QString &group, QString *error)
{
    int pair[2];
    // The master's end is close-on-exec (no other child may inherit it); the child's end is
    // dup2'd into place by launchChild, which clears the flag on the copy.
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
        *error =
            QStringLiteral("cannot create the broadcast channel: %1").arg(qt_error_string(errno));
        return std::nullopt;
    }
    // The child's end blocks in the child only if it chooses to; the bus sets O_NONBLOCK itself.
    const int id = m_nextId++;
    Peer &peer = m_peers[id];
    peer.group = group;
    peer.label = group;
    peer.fd = pair[0];
    peer.readNotifier = new QSocketNotifier(peer.fd, QSocketNotifier::Read, this);
    connect(peer.readNotifier, &QSocketNotifier::activated, this, [this, id] { onReadable(id); });
    peer.writeNotifier = new QSocketNotifier(peer.fd, QSocketNotifier::Write, this);
    peer.writeNotifier->setEnabled(false);
    connect(peer.writeNotifier, &QSocketNotifier::activated, this, [this, id] { onWritable(id); });
    return Channel{id, pair[1]};
}

void BroadcastRelay::setLabel(int id, const QString &label)
{
    const auto it = m_peers.find(id);
    if (it != m_peers.end())
        it->label = label;
}

void BroadcastRelay::close(int id)
{
    const auto it = m_peers.find(id);
    if (it == m_peers.end())
        return;
    // deleteLater: close() may run inside one of this peer's notifier activations.
    it->readNotifier->setEnabled(false);
    it->readNotifier->deleteLater();
    it->writeNotifier->setEnabled(false);
    it->writeNotifier->deleteLater();
    ::close(it->fd);
    m_peers.erase(it);
}

qsizetype BroadcastRelay::queuedBytes(int id) const
{
    const auto it = m_peers.constFind(id);
    return it == m_peers.cend() ? 0 : it->outBytes;
}

void BroadcastRelay::onReadable(int id)
{
    char buffer[ReadChunk];
    for (int reads = 0; reads < MaxReadsPerWakeup; ++reads) {
        auto it = m_peers.find(id);
        if (it == m_peers.end())
            return;
        const ssize_t n = ::recv(it->fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            // The child exited (or closed its end); its exit is handled by the reaper, which
            // calls close() again harmlessly.
            close(id);
            return;
        }
        it->in.append(QByteArrayView(buffer, n));
        QByteArray frame;
        QByteArray topic;
        QByteArray payload;
        for (;;) {
            const auto result = m_peers[id].in.next(&frame, &topic, &payload);
            if (result == Core::BusWire::Decoder::Result::NeedMore)
                break;
            if (result == Core::BusWire::Decoder::Result::Error) {
                fail(id, "sent a malformed or oversized broadcast frame");
                return;
            }
            if (topic == Core::BusWire::ControlAnswerTopic) {
                Q_EMIT controlAnswer(id, payload);
                if (!m_peers.contains(id))
                    return;
                continue;
            }
            if (topic == Core::BusWire::ControlRequestTopic)
                continue; // only the master asks
            relay(id, frame);
        }
    }
}

void BroadcastRelay::relay(int from, const QByteArray &frame)
{
    const auto sender = m_peers.constFind(from);
    if (sender == m_peers.cend())
        return;
    const QString group = sender->group; // a copy: closing peers below may rehash
    QList<int> gone;
    for (auto it = m_peers.begin(); it != m_peers.end(); ++it) {
        if (it.key() == from || it->group != group)
            continue;
        Peer &peer = *it;
        if (peer.outBytes + frame.size() > m_queueCap) {
            if (peer.dropped++ == 0)
                qCWarning(lcRelay).noquote()
                    << peer.label << "does not read its broadcast channel; dropping messages "
                    << "for it beyond" << m_queueCap << "queued bytes";
            ++m_dropped;
            continue;
        }
        const bool wasIdle = peer.out.empty();
        peer.out.push_back(frame);
        peer.outBytes += frame.size();
        ++m_relayed;
        if (wasIdle && !flush(peer))
            gone.append(it.key());
        else if (!peer.out.empty())
            peer.writeNotifier->setEnabled(true);
    }
    for (int id : gone)
        close(id);
}

bool BroadcastRelay::sendTo(int id, const QByteArray &frame)
{
    const auto it = m_peers.find(id);
    if (it == m_peers.end() || frame.isEmpty() || it->outBytes + frame.size() > m_queueCap)
        return false;
    const bool wasIdle = it->out.empty();
    it->out.push_back(frame);
    it->outBytes += frame.size();
    if (wasIdle && !flush(*it)) {
        close(id);
        return false;
    }
    if (!it->out.empty())
        it->writeNotifier->setEnabled(true);
    return true;
}

void BroadcastRelay::onWritable(int id)
{
    const auto it = m_peers.find(id);
    if (it == m_peers.end())
        return;
    if (!flush(*it)) {
        close(id);
        return;
    }
    if (it->out.empty())
        it->writeNotifier->setEnabled(false);
}

bool BroadcastRelay::flush(Peer &peer)
{
    while (!peer.out.empty()) {
        const QByteArray &head = peer.out.front();
        const ssize_t n = ::send(peer.fd, head.constData() + peer.outOffset,
                                 size_t(head.size() - peer.outOffset), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n < 0)
            return false;
        peer.outOffset += n;
        if (peer.outOffset == head.size()) {
            peer.outBytes -= head.size();
            peer.out.pop_front();
            peer.outOffset = 0;
        }
    }
    return true;
}

void BroadcastRelay::fail(int id, const char *why)
{
    const auto it = m_peers.constFind(id);
    qCWarning(lcRelay).noquote() << (it == m_peers.cend() ? QString() : it->label) << why
                                 << "; its broadcast channel is closed";
    close(id);
}

} // namespace Berth::Supervisor
