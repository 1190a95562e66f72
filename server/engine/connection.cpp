#include "connection.h"

#include "connectionmanager.h"
#include "http/request.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"
#include "threadbuffers.h"
#include "transport.h"

#include <QLoggingCategory>

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcConnection, "berth.connection")

namespace Berth::Engine {

namespace {

constexpr qsizetype ReadChunk = 16 * 1024;
constexpr qint64 SendfileChunk = 1024 * 1024;
constexpr qsizetype FileBufferChunk = 64 * 1024; // file piece per write when sendfile can't be used

} // namespace

Connection::Connection(ConnectionManager &manager, int fd, quint64 id,
                       std::unique_ptr<Transport> transport)
    : m_manager(manager)
    , m_transport(transport ? std::move(transport) : std::make_unique<PlainTransport>(fd))
    , m_fd(fd)
    , m_id(id)
{
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    // The accept that made fd knew the peer already: no getpeername for it.
    const sockaddr *accepted = manager.acceptedPeer(fd);
    if (accepted) {
        m_unixPeer = accepted->sa_family == AF_UNIX;
        m_peer = SocketAddress::fromSockaddr(accepted);
        // Plain TCP (the transport is made here): the request may be read before registering.
        m_readOnStart = !transport && manager.readOnAccept();
    } else if (fd >= 0 && ::getpeername(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0) {
        m_unixPeer = addr.ss_family == AF_UNIX;
        m_peer = SocketAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&addr));
    }
    // A listener bound to one address gives every connection that address: no getsockname.
    if (const SocketAddress *local = accepted ? manager.acceptedLocal(fd) : nullptr) {
        m_local = *local;
    } else {
        len = sizeof(addr);
        if (fd >= 0 && ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0)
            m_local = SocketAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&addr));
    }
    // What the accept learned beyond the socket (the listener's options, a PROXY header);
    // the same fd keeps it across a hand-over to another codec.
    if (const ConnectionOrigin *origin = manager.origin(fd)) {
        m_http2Allowed = origin->http2;
        if (origin->proxied) {
            m_unixPeer = false;
            m_peer = SocketAddress::fromHost(origin->peerAddress, origin->peerPort);
            m_local = SocketAddress::fromHost(origin->localAddress, origin->localPort);
            m_proxySsl = origin->ssl;
        }
    }
    // TCP_NODELAY (responses go out whole in one write, so Nagle can only delay them) is set
    // on the listening sockets once and inherited by every accepted one (ConnectionManager).
}

Connection::~Connection()
{
    // A closed connection's buffers serve the thread's next connections (no allocation per
    // Connection: close request for them).
    ThreadBuffers::giveBytes(m_in);
    ThreadBuffers::giveBytes(m_out);
    if (m_fileFd >= 0)
        ::close(m_fileFd);
    if (m_fd >= 0) {
        m_manager.forgetOrigin(m_fd);
        ::close(m_fd);
    }
}

void Connection::start()
{
    m_wantRead = true;
    m_wantWrite = false;
    if (!m_readOnStart)
        m_registered = m_manager.poller()->add(m_fd, this, m_wantRead, m_wantWrite);
    m_lastActivity = now();
    if (auto *stats = m_manager.server() ? m_manager.server()->stats : nullptr) {
        stats->add(Core::StatsRegistry::ActiveConnections);
        if (!m_handedOver)
            stats->add(Core::StatsRegistry::TotalConnections);
        m_countedActive = true;
    }
    onStarted();
    if (m_readOnStart) {
        // A client sends its request right after the handshake, so on a busy server it is
        // often in by the time of the accept: read it now, and register with epoll only if the
        // connection outlives that. A `Connection: close` request then costs accept, read,
        // write and close: no epoll_ctl and no wake-up of its own. When nothing is there yet
        // this costs one read that says EAGAIN; the manager stops trying while that is the
        // usual outcome (readOnAccept()).
        m_readOnStart = false;
        m_registerPending = true;
        m_gotInput = false;
        onReadable();
        m_registerPending = false;
        m_manager.noteReadOnAccept(m_gotInput);
        if (m_state == State::Closed)
            return; // answered and closed, or handed over to another codec
        m_registered = m_manager.poller()->add(m_fd, this, m_wantRead, m_wantWrite);
    }
    // Handed over with input its transport already took off the socket (TLS read ahead the
    // client's first bytes with the handshake): no socket event will announce it.
    if (m_transport->hasBufferedInput())
        postRead();
    scheduleCheck();
}

void Connection::onPollEvents(bool readable, bool writable)
{
    if (!m_wantRead && !m_wantWrite && m_state != State::Closed && m_registered) {
        // epoll reports nothing but hang-ups and errors to a connection that asked for
        // nothing (a response stream waiting for its app, the peer's FIN already read): the
        // peer is gone both ways. Level-triggered, it would be reported on every turn of the
        // loop; close now, which aborts the exchange.
        closeSocket();
        return;
    }
    if (readable && m_state != State::Closed)
        onReadable();
    if (writable && m_state != State::Closed)
        onWritable();
    // Whatever arrived may have started a request (a head deadline, a body to wait for): the
    // idle connection's far deadline comes closer. O(1), and nothing when it did not; skipped
    // when the request was served whole and relaxCheck() armed the idle deadline already.
    if (m_state != State::Idle || !m_timerSettled)
        scheduleCheck();
}

qint64 Connection::nextCheck(qint64 now) const
{
    return now + m_manager.tickMs();
}

void Connection::scheduleCheck()
{
    if (m_state != State::Closed)
        m_manager.timers().armNoLater(*this, nextCheck(now()));
}

void Connection::rescheduleCheck()
{
    if (m_state != State::Closed)
        m_manager.timers().arm(*this, nextCheck(now()));
}

void Connection::relaxCheck()
{
    if (m_state == State::Closed)
        return;
    const qint64 t = now();
    const qint64 next = nextCheck(t);
    // Armed a little earlier than needed (a keep-alive connection's idle deadline from its
    // previous request): it fires early once and re-arms then (onTimer), instead of moving in
    // the wheel on every request. Armed much earlier (the tick of an exchange, a head
    // deadline) or later: re-armed exactly now.
    m_timerSettled = true;
    if (isArmed() && deadline() <= next && next - deadline() <= (next - t) / 8)
        return;
    m_manager.timers().arm(*this, next);
}

void Connection::onTimer(qint64 now)
{
    checkTimeouts(now);
    if (m_state != State::Closed)
        m_manager.timers().arm(*this, nextCheck(now));
}

void Connection::setInterest(bool read, bool write)
{
    if ((!m_registered && !m_registerPending) || (read == m_wantRead && write == m_wantWrite))
        return;
    m_wantRead = read;
    m_wantWrite = write;
    if (m_registered) // else start() registers with these
        m_manager.poller()->update(m_fd, this, read, write);
}

void Connection::compactInput()
{
    if (m_inPos == 0)
        return;
    if (m_inPos >= m_in.size()) {
        ThreadBuffers::setSize(m_in, 0);
        m_inPos = 0;
    } else if (m_inPos > m_in.size() / 2 || m_in.capacity() - m_in.size() < 1024) {
        m_in.remove(0, m_inPos);
        m_inPos = 0;
    }
}

QByteArray &Connection::output()
{
    if (m_outPos >= m_out.size()) {
        if (m_out.capacity() == 0)
            m_out = ThreadBuffers::takeBytes(); // lent back by an exchange that ended
        else
            ThreadBuffers::setSize(m_out, 0);
        m_outPos = 0;
        m_lastWriteProgress = now();
    }
    return m_out;
}

bool Connection::swapWholeInput(QByteArray &into, qsizetype size)
{
    if (m_inPos != 0 || m_in.size() != size || into.capacity() == 0 || !into.isDetached())
        return false;
    m_in.swap(into);
    ThreadBuffers::setSize(m_in, 0);
    return true;
}

void Connection::queueFile(int fd, qint64 offset, qint64 length, QByteArray after)
{
    m_fileFd = fd;
    m_fileOffset = offset;
    m_fileRemaining = length;
    m_afterFile = std::move(after);
}

void Connection::appendAfterQueued(QByteArrayView bytes)
{
    if (m_fileFd >= 0)
        m_afterFile.append(bytes);
    else
        m_out.append(bytes);
}

bool Connection::handOver(const CodecFactory &factory, std::unique_ptr<CodecUpgrade> upgrade)
{
    if (!factory || m_state == State::Closed)
        return false;
    if (m_registered) {
        m_manager.poller()->remove(m_fd);
        m_registered = false;
    }
    const int fd = m_fd;
    m_fd = -1;
    QByteArray unread = pendingInput().toByteArray();
    m_state = State::Closed;
    if (m_countedActive) {
        m_manager.server()->stats->add(Core::StatsRegistry::ActiveConnections, -1);
        m_countedActive = false;
    }
    Connection *next =
        factory(m_manager, fd, m_id, std::move(m_transport), std::move(unread), std::move(upgrade));
    next->m_handedOver = true;
    m_manager.replace(this, next);
    return true;
}

// ---------------------------------------------------------------------------------------------
// Reading

void Connection::onReadable()
{
    if (m_state == State::Closed)
        return;
    m_timerSettled = false; // what is read may start a request
    if (m_writeNeedsReadable) {
        // A TLS write was waiting for the peer's handshake bytes.
        m_writeNeedsReadable = false;
        flush();
        if (m_state == State::Closed)
            return;
    }
    if (!readInput())
        return;
    if (m_state != State::Closing)
        process();
    // What the transport took off the socket beyond what the reads above asked for (TLS read
    // ahead) is announced by no epoll event: read it next, as epoll would have said. A paused
    // reader gets it when reading resumes (updateReadInterestSlow()).
    // Closed includes handed over: the transport then belongs to the next codec, and m_transport
    // is empty.
    if (m_readStoppedEarly && m_wantRead && m_state != State::Closed && m_state != State::Closing &&
        m_transport->hasBufferedInput())
        postRead();
}

bool Connection::readInput()
{
    if (m_state == State::Closing) {
        // Lingering close: swallow what the client still sends so that our last response is
        // not destroyed by a reset before the client has read it.
        char sink[4096];
        for (;;) {
            const qsizetype n = m_transport->read(sink, sizeof(sink));
            if (n > 0)
                continue;
            if (n == Transport::WouldBlock)
                return true;
            m_peerEof = true;
            if (!outputPending())
                closeSocket();
            else
                updateReadInterest();
            return false;
        }
    }
    m_socketDrained = false; // until a read comes back short
    for (int round = 0; round < 4; ++round) {
        compactInput();
        if (m_in.size() - m_inPos >= inputCap())
            break;
        const qsizetype old = m_in.size();
        if (old == 0) {
            // Nothing pending: read into the thread's buffer and keep only what arrived, so
            // that an idle keep-alive connection holds a buffer the size of its requests, not a
            // read chunk (nginx's shared read buffer). One memcpy of the bytes read.
            thread_local char shared[ReadChunk];
            const qsizetype n = m_transport->read(shared, ReadChunk);
            if (n > 0) {
                if (m_lendsInput && m_in.capacity() == 0)
                    m_in = ThreadBuffers::takeBytes(); // lent back by a connection gone idle
                ThreadBuffers::setSize(m_in, n);       // reuses the capacity the connection kept
                std::memcpy(m_in.data(), shared, size_t(n));
                m_lastActivity = now();
                m_gotInput = true;
                if (n < ReadChunk && !m_transport->hasBufferedInput()) {
                    m_socketDrained = true;
                    break;
                }
                continue;
            }
            if (n == 0) {
                m_peerEof = true;
                break;
            }
            if (n == Transport::WouldBlock) {
                m_socketDrained = true;
                m_readNeedsWritable = m_transport->wantsWrite();
                if (m_readNeedsWritable)
                    setInterest(m_wantRead, true);
                break;
            }
            closeSocket();
            return false;
        }
        if (m_in.capacity() - old < ReadChunk)
            m_in.reserve(old + ReadChunk);
        const qsizetype room = m_in.capacity() - old;
        m_in.resize(old + room);
        const qsizetype n = m_transport->read(m_in.data() + old, room);
        if (n > 0) {
            m_in.resize(old + n);
            m_lastActivity = now();
            m_gotInput = true;
            if (n < room && !m_transport->hasBufferedInput()) {
                m_socketDrained = true;
                break;
            }
            continue;
        }
        m_in.resize(old);
        if (n == 0) {
            m_peerEof = true;
            break;
        }
        if (n == Transport::WouldBlock) {
            m_socketDrained = true;
            // A TLS handshake may need to send before it can read any further.
            m_readNeedsWritable = m_transport->wantsWrite();
            if (m_readNeedsWritable)
                setInterest(m_wantRead, true);
            break;
        }
        closeSocket(); // reset, or a TLS failure: the client is gone
        return false;
    }
    // Neither short nor at the end: the loop stopped at the input cap or after its rounds.
    m_readStoppedEarly = !m_socketDrained && !m_peerEof;
    updateReadInterest();
    return true;
}

void Connection::onPostedRead()
{
    if (m_state == State::Closed || !m_wantRead)
        return;
    onReadable();
    if (m_state != State::Closed)
        scheduleCheck();
}

void Connection::postRead()
{
    if (m_readPosted || m_state == State::Closed)
        return;
    m_readPosted = true;
    m_manager.postRead(this);
}

void Connection::updateReadInterestSlow()
{
    if ((!m_registered && !m_registerPending) || m_state == State::Closed)
        return;
    bool want = !m_peerEof;
    if (want && m_state != State::Closing)
        want = m_in.size() - m_inPos < inputCap();
    if (m_wantRead != want) {
        setInterest(want, m_wantWrite);
        // Reading resumes below the input cap: what TLS read ahead before the pause is in no
        // socket, so no event brings it.
        if (want && m_transport->hasBufferedInput())
            postRead();
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

void Connection::onWritable()
{
    if (m_state == State::Closed)
        return;
    if (m_readNeedsWritable) {
        m_readNeedsWritable = false;
        onReadable();
        if (m_state == State::Closed)
            return;
    }
    flush();
    if (m_state == State::Closed)
        return;
    onWritableRoom();
    if (m_state != State::Closed)
        process();
}

void Connection::flush()
{
    while (m_state != State::Closed) {
        if (m_outPos < m_out.size()) {
            // More follows: the file after its head, or the FIN after a closing connection's
            // last bytes (the kernel then sends them in one segment with the close).
            const bool more =
                m_fileFd >= 0 || (m_state == State::Closing && !m_transport->isSecure());
            const qsizetype n =
                m_transport->write(m_out.constData() + m_outPos, m_out.size() - m_outPos, more);
            if (n > 0) {
                m_outPos += n;
                m_lastWriteProgress = now();
                continue;
            }
            if (n == Transport::WouldBlock) {
                waitForWritable();
                return;
            }
            closeSocket(); // EPIPE, ECONNRESET: the client is gone
            return;
        }
        ThreadBuffers::setSize(m_out, 0);
        m_outPos = 0;
        if (m_fileFd >= 0) {
            const qsizetype chunk = qsizetype(qMin(m_fileRemaining, SendfileChunk));
            qsizetype n = 0;
            if (m_transport->canSendFile()) {
                n = m_transport->sendFile(m_fileFd, &m_fileOffset, chunk);
            } else {
                // TLS: the kernel can't encrypt for us, so the file goes through the output
                // buffer in bounded pieces.
                n = readFileIntoOutput(qMin<qsizetype>(chunk, FileBufferChunk));
            }
            if (n > 0) {
                m_fileRemaining -= n;
                m_lastWriteProgress = now();
                if (m_fileRemaining == 0) {
                    ::close(m_fileFd);
                    m_fileFd = -1;
                    m_out.append(m_afterFile);
                    m_afterFile.clear();
                    onFileSent();
                }
                continue;
            }
            if (n == Transport::WouldBlock) {
                waitForWritable();
                return;
            }
            // The file shrank under us or can't be read: the promised length can't be
            // delivered, so the client must see the connection end.
            qCWarning(lcConnection) << "sendfile failed on connection" << m_id;
            closeSocket();
            return;
        }
        break;
    }
    if (m_state == State::Closed)
        return;
    // Everything went out. An app waiting to write more is told from onWritable(), which the
    // poller fires at once since the socket has room; nobody else needs write events.
    setInterest(m_wantRead, wantsWritable() || m_readNeedsWritable);
    afterFlushed();
}

void Connection::waitForWritable()
{
    scheduleCheck(); // send_timeout runs from now
    if (m_transport->wantsWrite()) {
        setInterest(m_wantRead, true);
    } else {
        // TLS wants the peer's bytes first; the read event brings us back.
        m_writeNeedsReadable = true;
        if (!m_wantRead)
            setInterest(true, m_wantWrite);
    }
}

qsizetype Connection::readFileIntoOutput(qsizetype count)
{
    const qsizetype at = m_out.size();
    m_out.resize(at + count);
    for (;;) {
        const ssize_t n = ::pread(m_fileFd, m_out.data() + at, size_t(count), m_fileOffset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            m_out.resize(at);
            return Transport::Failed;
        }
        m_out.resize(at + n);
        m_fileOffset += n;
        return n;
    }
}

void Connection::afterFlushed()
{
    if (m_state != State::Closing || m_lingering)
        return;
    if (m_peerEof) {
        closeSocket();
        return;
    }
    if (!peerMaySendMore() && nothingUnread()) {
        // The client asked for the close, its request was read whole and nothing else is
        // here: close at once, a FIN after the response (nginx lingers only when a client may
        // still send). Saves the half-close, a wake-up for the client's FIN and the timer.
        // TLS sends its close_notify first (a client keeps the session for resumption only
        // after one) and does not wait for the client's: that one answers ours, which follows
        // the whole response, so a reset it meets can't cost the client unread response bytes.
        m_transport->sendCloseNotify();
        closeSocket();
        return;
    }
    // Everything is sent: half-close and read whatever the client still sends for a moment.
    m_transport->shutdownWrite();
    m_lingering = true;
    m_lingerDeadline = now() + m_manager.settings().lingerTimeoutMs;
    updateReadInterest();
}

bool Connection::nothingUnread() const
{
    if (m_fd < 0 || m_inPos < m_in.size() || m_transport->hasBufferedInput())
        return false;
    // Our last read came back short: the socket was empty then. Bytes that arrived since were
    // not announced yet; nginx decides the same way (its read event's `ready` flag), without a
    // system call. A read that filled the buffer leaves it unknown: ask the kernel. So does
    // TLS, whose short reads say nothing of the socket (OpenSSL reads whole records).
    if (m_socketDrained && !m_transport->isSecure())
        return true;
    int unread = 0;
    return ::ioctl(m_fd, FIONREAD, &unread) == 0 && unread == 0;
}

void Connection::beginClosing(bool flushNow)
{
    if (m_state == State::Closed || m_state == State::Closing)
        return;
    m_state = State::Closing;
    scheduleCheck(); // send_timeout and the lingering close run from now
    if (flushNow)
        flush();
}

bool Connection::checkClosingTimeout(qint64 t)
{
    const qint64 sendTimeout = m_manager.settings().sendTimeoutMs;
    if (m_lingering ? t >= m_lingerDeadline : t - m_lastWriteProgress >= sendTimeout) {
        closeSocket();
        return true;
    }
    return false;
}

void Connection::closeSocket()
{
    if (m_state == State::Closed)
        return;
    const State previous = m_state;
    m_state = State::Closed;
    TimerWheel::disarm(*this);
    onClosing(previous);
    if (m_registered) {
        m_manager.poller()->remove(m_fd);
        m_registered = false;
    }
    if (m_fileFd >= 0) {
        ::close(m_fileFd);
        m_fileFd = -1;
    }
    if (m_fd >= 0) {
        m_manager.forgetOrigin(m_fd);
        ::close(m_fd);
    }
    m_fd = -1;
    if (m_countedActive) {
        m_manager.server()->stats->add(Core::StatsRegistry::ActiveConnections, -1);
        m_countedActive = false;
    }
    m_manager.release(this);
}

void Connection::releaseIdleBuffers()
{
    // A keep-alive connection waiting for its next request needs no buffers: thousands of idle
    // clients then cost little more than their sockets (nginx frees its buffers the same way).
    // A busy connection keeps them, so there is no allocation per request.
    if (m_in.capacity() == 0 && m_out.capacity() == 0)
        return;
    m_in = QByteArray();
    m_inPos = 0;
    m_out = QByteArray();
    m_outPos = 0;
    onReleaseIdleBuffers();
}

QByteArrayView Connection::clientText()
{
    // Once per connection, not per request, and into the connection's own buffer.
    if (m_clientTextLength == 0) {
        if (m_unixPeer || m_peer.isNull()) {
            const char *text = m_unixPeer ? "unix:" : ":0"; // ":0": no address (a test socket)
            m_clientTextLength = quint8(std::strlen(text));
            std::memcpy(m_clientText, text, m_clientTextLength);
        } else {
            m_clientTextLength = quint8(m_peer.format(m_clientText));
        }
    }
    return QByteArrayView(m_clientText, m_clientTextLength);
}

void Connection::fillConnectionAddresses(Http::Request &request, FilledAddresses *filled) const
{
    // Nothing to do when the request object holds these addresses from the last fill (the
    // common case: the same client, on this connection or another one of the thread), unless a
    // trusted proxy's client replaced the peer since. Else no allocation either when the
    // QHostAddress objects are not shared (assignTo reuses them).
    if (!filled || !filled->valid || request.forwardedFor || !filled->peer.sameHost(m_peer) ||
        !filled->local.sameHost(m_local)) {
        m_peer.assignTo(request.peerAddress);
        m_local.assignTo(request.localAddress);
        if (filled) {
            filled->peer = m_peer;
            filled->local = m_local;
            filled->valid = true;
        }
    }
    request.peerPort = m_peer.port();
    request.localPort = m_local.port();
    request.secure = m_transport->isSecure() || m_proxySsl;
    request.unixPeer = m_unixPeer;
    request.forwardedFor = false;
}

const QByteArray &Connection::serverText()
{
    // Shared with every connection of the thread on the same port (one allocation per port,
    // not per connection).
    if (!m_serverText)
        m_serverText = &m_manager.serverText(m_unixPeer ? -1 : int(m_local.port()));
    return *m_serverText;
}

} // namespace Berth::Engine
