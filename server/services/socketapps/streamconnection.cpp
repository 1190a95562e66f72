#include "streamconnection.h"

#include "engine/transport.h"
#include "socketloop.h"

#include <unistd.h>

namespace Berth::Services {

namespace {

// The socket is not read while this much input waits for the app: TCP then slows the peer.
constexpr qsizetype InputCap = 256 * 1024;
constexpr qsizetype ReadSize = 64 * 1024;

} // namespace

StreamConnection::StreamConnection(SocketLoop &loop, int fd,
                                   std::unique_ptr<Engine::Transport> transport,
                                   QString peerAddress, quint16 peerPort)
    : m_loop(loop)
    , m_fd(fd)
    , m_transport(std::move(transport))
    , m_peerAddress(std::move(peerAddress))
    , m_peerPort(peerPort)
    , m_idleTimeoutMs(loop.shared().settings.idleTimeoutMs)
    , m_lastActivityMs(loop.nowMs())
    , m_lastSendProgressMs(m_lastActivityMs)
{}

StreamConnection::~StreamConnection()
{
    if (m_registered)
        m_loop.poller().remove(m_fd);
    m_session.reset();
    m_transport.reset();
    if (m_fd >= 0)
        ::close(m_fd);
}

bool StreamConnection::open()
{
    m_registered = m_loop.poller().add(m_fd, this, true, false);
    m_app = m_loop.streamApp();
    if (!m_registered || !m_app || !m_loop.callApp([this] { m_session = m_app->accept(*this); }) ||
        !m_session) {
        finish();
        return false;
    }
    // The session may have written a greeting.
    process(false);
    return !m_closed;
}

bool StreamConnection::isSecure() const
{
    return m_transport && m_transport->isSecure();
}

QByteArray StreamConnection::read(qsizetype max)
{
    const qsizetype n = qMin(max, bytesAvailable());
    if (n <= 0)
        return {};
    QByteArray chunk = m_in.mid(m_inPos, n);
    m_inPos += n;
    if (m_inPos == m_in.size()) {
        m_in.clear();
        m_inPos = 0;
    }
    return chunk;
}

bool StreamConnection::write(QByteArrayView data)
{
    if (m_closed || m_shutdownRequested || m_closeRequested)
        return false;
    if (bytesToWrite() == 0)
        m_lastSendProgressMs = m_loop.nowMs();
    m_out.append(data.data(), data.size());
    if (!canWrite()) {
        m_waitingWritable = true;
        return false;
    }
    return true;
}

bool StreamConnection::canWrite() const
{
    return bytesToWrite() < m_loop.shared().settings.outputBuffer;
}

void StreamConnection::onPollEvents(bool, bool)
{
    if (m_closed)
        return;
    // Asked for nothing (input ended, no output pending), yet an event: only a hang-up or an
    // error is reported then, and it would be reported again at once.
    if (!m_wantRead && !m_wantWrite)
        return finish();
    // Read on every event: a TLS handshake waiting for writability continues in read().
    process(true);
}

void StreamConnection::process(bool canRead)
{
    // Output first: a TLS handshake may need to send, and room in the output is what lets
    // the app take more input.
    const bool wasFull = !canWrite();
    if (!flushOutput())
        return finish();
    if (canRead && !m_eof && bytesAvailable() < InputCap && !readInput())
        return finish();
    callSession(wasFull && canWrite());
    if (m_closed)
        return;
    // What the session queued goes out now, without waiting for the next event.
    if (!flushOutput())
        return finish();
    if (bytesToWrite() == 0) {
        if (m_closeRequested)
            return finish();
        if (m_shutdownRequested && !m_shutdownDone) {
            m_shutdownDone = true;
            m_transport->shutdownWrite();
        }
    }
    // Both directions over: nothing more can happen on this connection.
    if (m_shutdownDone && atEnd())
        return finish();
    // What the transport took off the socket beyond the reads above (TLS read-ahead) is
    // announced by no socket event: read it next, as epoll would have said. Not after a read
    // that said "would block": a partial record waits for the socket.
    if (m_readStoppedEarly && !m_eof && bytesAvailable() < InputCap &&
        m_transport->hasBufferedInput())
        m_loop.postRead(this);
    updateInterest();
}

void StreamConnection::onPostedRead()
{
    if (!m_closed)
        process(true);
}

bool StreamConnection::readInput()
{
    char buffer[ReadSize];
    // A few reads per event: fair to the other connections of the thread. Stopped by the
    // rounds or the input cap, the transport may still hold input (m_readStoppedEarly).
    m_readStoppedEarly = true;
    for (int round = 0; round < 4 && bytesAvailable() < InputCap; ++round) {
        const qsizetype want = qMin<qsizetype>(ReadSize, InputCap - bytesAvailable());
        const qsizetype n = m_transport->read(buffer, want);
        if (n == Engine::Transport::WouldBlock) {
            m_readStoppedEarly = false;
            break;
        }
        if (n == Engine::Transport::Failed)
            return false;
        m_lastActivityMs = m_loop.nowMs();
        if (n == 0) {
            m_eof = true;
            m_readStoppedEarly = false;
            break;
        }
        m_in.append(buffer, n);
        if (n < want && !m_transport->hasBufferedInput()) {
            m_readStoppedEarly = false;
            break;
        }
    }
    return true;
}

bool StreamConnection::flushOutput()
{
    while (bytesToWrite() > 0) {
        const qsizetype n = m_transport->write(m_out.constData() + m_outPos, bytesToWrite(), false);
        if (n == Engine::Transport::WouldBlock)
            break;
        if (n == Engine::Transport::Failed)
            return false;
        m_outPos += n;
        m_lastActivityMs = m_lastSendProgressMs = m_loop.nowMs();
    }
    if (m_outPos == m_out.size()) {
        m_out.clear();
        m_outPos = 0;
    } else if (m_outPos > 1024 * 1024 || m_outPos > m_out.size() / 2) {
        m_out.remove(0, m_outPos);
        m_outPos = 0;
    }
    return true;
}

void StreamConnection::callSession(bool drained)
{
    if (!m_session)
        return;
    const bool endNew = atEnd() && !m_endDelivered;
    bool ok = true;
    if (drained && m_waitingWritable) {
        m_waitingWritable = false;
        ok = m_loop.callApp([this] { m_session->onWritable(*this); });
    } else if ((bytesAvailable() > 0 && canWrite()) || endNew) {
        ok = m_loop.callApp([this] { m_session->onReadable(*this); });
    }
    if (atEnd())
        m_endDelivered = true;
    if (!ok) {
        // brim: the connection whose callback threw is lost; the app was replaced.
        m_session.reset();
        finish();
    }
}

void StreamConnection::updateInterest()
{
    const bool read = !m_eof && bytesAvailable() < InputCap;
    const bool write = bytesToWrite() > 0 || (m_transport->wantsWrite() && !m_eof);
    if (read != m_wantRead || write != m_wantWrite) {
        m_wantRead = read;
        m_wantWrite = write;
        m_loop.poller().update(m_fd, this, read, write);
    }
}

void StreamConnection::checkTimers(qint64 nowMs)
{
    if (m_closed)
        return;
    const qint64 sendTimeout = m_loop.shared().settings.sendTimeoutMs;
    if (bytesToWrite() > 0 && sendTimeout > 0 && nowMs - m_lastSendProgressMs >= sendTimeout) {
        m_loop.countStat(m_loop.shared().sendTimeoutStat);
        return finish();
    }
    if (m_idleTimeoutMs > 0 && nowMs - m_lastActivityMs >= m_idleTimeoutMs) {
        m_loop.countStat(m_loop.shared().idleClosedStat);
        return finish();
    }
}

void StreamConnection::terminate()
{
    if (!m_closed)
        finish();
}

void StreamConnection::finish()
{
    if (m_closed)
        return;
    m_closed = true;
    if (m_registered) {
        m_loop.poller().remove(m_fd);
        m_registered = false;
    }
    if (m_session) {
        std::unique_ptr<SocketApps::StreamSession> session = std::move(m_session);
        m_loop.callApp([&session] { session->onClosed(); });
    }
    ::close(m_fd);
    m_fd = -1;
    m_loop.connectionClosed(this);
}

} // namespace Berth::Services
