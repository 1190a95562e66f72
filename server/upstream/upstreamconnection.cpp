#include "upstreamconnection.h"

#include "clienttls.h"

#include <QHostAddress>

#include <algorithm>
#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace Berth::Upstream {

using std::chrono::milliseconds;

namespace {

// Past this much queued output write() asks the caller to wait: a slow member holds at most
// this much of an upload in memory.
constexpr qsizetype HighWater = 256 * 1024;
constexpr qsizetype ReadChunk = 64 * 1024;
constexpr qsizetype KeptOutput = 8 * 1024;

// The connections with work for the end of the loop turn (runLater()), and those whose work is
// running. A connection closed meanwhile takes itself out (cancelLater()): the list never holds
// a pointer to a deleted connection, whatever order the turn's deferred calls run in.
thread_local std::vector<UpstreamConnection *> t_later;
thread_local std::vector<UpstreamConnection *> t_laterRunning;
thread_local int t_live = 0;

} // namespace

int UpstreamConnection::liveCount()
{
    return t_live;
}

const char *UpstreamConnection::failureName(Failure failure)
{
    switch (failure) {
    case Failure::Connect:
        return "connect failed";
    case Failure::ConnectTimeout:
        return "connect timeout";
    case Failure::ResponseTimeout:
        return "response timeout";
    case Failure::ReadTimeout:
        return "read timeout";
    case Failure::Closed:
        return "connection closed";
    case Failure::BadResponse:
        return "bad response";
    }
    return "failure";
}

UpstreamConnection::UpstreamConnection(const ResolvedAddress &address,
                                       std::shared_ptr<ClientTlsContext> tls,
                                       const QByteArray &serverName)
    : m_address(address)
    , m_tls(std::move(tls))
    , m_serverName(serverName)
    , m_poller(Engine::Poller::forCurrentThread())
{
    ++t_live;
    // Room for a usual response's fields at once, rather than growing 1, 2, 4, 8 on the first
    // response of each new connection.
    m_head.fields.reserve(16);
}

UpstreamConnection::~UpstreamConnection()
{
    --t_live;
    cancelLater();
    // Closing the descriptor takes it out of the epoll set; the poller itself may be gone
    // already (a pool emptied when its thread ends).
    if (m_fd >= 0)
        ::close(m_fd);
    if (m_ssl)
        SSL_free(m_ssl);
}

void UpstreamConnection::open(Handler *handler, const Timeouts &timeouts)
{
    m_handler = handler;
    m_timeouts = timeouts;
    m_state = State::Connecting;
    const int family = m_address.storage.ss_family;
    m_fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m_fd < 0) {
        runLater(Later::Fail);
        return;
    }
    if (family != AF_UNIX) {
        const int one = 1;
        ::setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    const int rc =
        ::connect(m_fd, reinterpret_cast<const sockaddr *>(&m_address.storage), m_address.length);
    if (rc < 0 && errno != EINPROGRESS && errno != EAGAIN) {
        runLater(Later::Fail);
        return;
    }
    m_poller->add(m_fd, this, false, true);
    m_watchRead = false;
    m_watchWrite = true;
    armTimer(timeouts.connect, Failure::ConnectTimeout);
}

void UpstreamConnection::armTimer(milliseconds timeout, Failure failure)
{
    m_timerFailure = failure;
    if (timeout.count() <= 0) {
        disarmTimer();
        return;
    }
    setDeadline(Engine::TimerWheel::forCurrentThread().now() + timeout.count());
}

void UpstreamConnection::setDeadline(qint64 deadline)
{
    // Moved on every read and write, on every request and every return to the pool. A wheel
    // timer due no later than the new deadline is kept (no relinking per read); when it fires
    // it looks at the deadline, arms itself again if it moved and does nothing when it was
    // disarmed.
    m_deadlineMs = deadline;
    Engine::TimerWheel::forCurrentThread().armNoLater(*this, deadline);
}

void UpstreamConnection::onTimer(qint64 now)
{
    if (m_deadlineMs == 0 || m_state == State::Closed) // disarmed since it was armed
        return;
    if (m_deadlineMs > now) { // pushed back since it was armed
        Engine::TimerWheel::forCurrentThread().arm(*this, m_deadlineMs);
        return;
    }
    m_deadlineMs = 0;
    if (m_state == State::Ready && !m_handler) { // idle keep-alive expired
        close();
        return;
    }
    fail(m_timerFailure);
}

void UpstreamConnection::runLater(Later what)
{
    // Not a queued call on an object of ours: under Qt's glib dispatcher each one writes the
    // loop's eventfd, and this is no QObject to cancel it when deleted.
    if (m_later == Later::None) {
        if (t_later.empty())
            m_poller->deferToTurnEnd(&UpstreamConnection::runLaterBatch, nullptr);
        t_later.push_back(this);
    }
    if (m_later != Later::Fail)
        m_later = what;
}

void UpstreamConnection::cancelLater()
{
    if (m_later == Later::None)
        return;
    m_later = Later::None;
    for (auto *list : {&t_later, &t_laterRunning})
        std::replace(list->begin(), list->end(), this, static_cast<UpstreamConnection *>(nullptr));
}

void UpstreamConnection::runLaterBatch(void *)
{
    t_laterRunning.swap(t_later);
    // An entry is nulled when its connection closes during the walk (cancelLater()).
    for (size_t i = 0; i < t_laterRunning.size(); ++i) {
        UpstreamConnection *connection = t_laterRunning[i];
        if (!connection)
            continue;
        t_laterRunning[i] = nullptr;
        const Later what = connection->m_later;
        connection->m_later = Later::None;
        if (what == Later::Fail)
            connection->fail(Failure::Connect);
        else if (what == Later::Read && connection->m_state == State::Busy && !connection->m_paused)
            connection->onReadable();
    }
    t_laterRunning.clear();
}

void UpstreamConnection::onPollEvents(bool readable, bool writable)
{
    if (m_state == State::Closed)
        return;
    if (m_state == State::Connecting) {
        if (writable || readable)
            finishConnect();
        return;
    }
    if (m_state == State::Handshaking) {
        doHandshake();
        return;
    }
    if (writable && !m_out.isEmpty()) {
        if (!flush())
            return;
    }
    if (readable && m_state != State::Closed)
        onReadable();
}

void UpstreamConnection::finishConnect()
{
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(m_fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0 || error != 0) {
        fail(Failure::Connect);
        return;
    }
    if (m_tls) {
        m_ssl = SSL_new(m_tls->context());
        SSL_set_fd(m_ssl, m_fd);
        SSL_set_connect_state(m_ssl);
        if (!m_serverName.isEmpty()) {
            if (QHostAddress().setAddress(QString::fromLatin1(m_serverName))) {
                if (m_tls->verify())
                    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(m_ssl), m_serverName.constData());
            } else {
                SSL_set_tlsext_host_name(m_ssl, m_serverName.constData());
                if (m_tls->verify())
                    SSL_set1_host(m_ssl, m_serverName.constData());
            }
        }
        m_state = State::Handshaking;
        doHandshake();
        return;
    }
    disarmTimer();
    m_state = State::Ready;
    updateInterest();
    if (m_handler)
        m_handler->upstreamConnected();
}

void UpstreamConnection::doHandshake()
{
    ERR_clear_error();
    const int rc = SSL_do_handshake(m_ssl);
    if (rc == 1) {
        disarmTimer();
        m_state = State::Ready;
        updateInterest();
        if (m_handler)
            m_handler->upstreamConnected();
        return;
    }
    const int error = SSL_get_error(m_ssl, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        watch(error == SSL_ERROR_WANT_READ, error == SSL_ERROR_WANT_WRITE);
        return;
    }
    fail(Failure::Connect);
}

void UpstreamConnection::beginRequest(Handler *handler, const QByteArray &head,
                                      QByteArrayView method, const Timeouts &timeouts)
{
    m_handler = handler;
    m_timeouts = timeouts;
    m_onGone = nullptr;
    m_state = State::Busy;
    m_readState = ReadState::Head;
    m_headRequest = method == "HEAD";
    m_in.clear();
    m_responseStarted = false;
    m_reusable = false;
    m_requestEnded = false;
    m_upgrade = false;
    m_paused = false;
    // While the request goes out, a member that stops reading it for read_timeout has stalled.
    armTimer(m_timeouts.read, Failure::ReadTimeout);
    write(head);
}

bool UpstreamConnection::write(QByteArrayView data)
{
    if (m_state == State::Closed)
        return false;
    if (!data.isEmpty() && m_out.isEmpty() && !m_ssl && m_state == State::Busy) {
        // Nothing queued: sent from the caller's bytes, and only what the socket did not take
        // is copied (a request head that goes out whole needs no buffer of ours). Cleartext
        // only: TLS retries a write with the same buffer.
        bool error = false;
        const qsizetype n = rawWrite(data.data(), data.size(), &error);
        if (error) {
            fail(Failure::Closed);
            return false;
        }
        if (n > 0 && !m_requestEnded && m_readState == ReadState::Head)
            armTimer(m_timeouts.read, Failure::ReadTimeout);
        data = data.sliced(n);
    }
    if (!data.isEmpty())
        m_out.append(data);
    if (!flush())
        return false;
    if (m_out.size() - m_outSent > HighWater) {
        m_wantWritable = true;
        return false;
    }
    return true;
}

void UpstreamConnection::endRequest()
{
    m_requestEnded = true;
    if (m_readState == ReadState::Head && !m_responseStarted)
        armTimer(m_timeouts.response, Failure::ResponseTimeout);
}

bool UpstreamConnection::flush()
{
    while (m_outSent < m_out.size()) {
        bool error = false;
        const qsizetype n =
            rawWrite(m_out.constData() + m_outSent, m_out.size() - m_outSent, &error);
        if (error) {
            fail(Failure::Closed);
            return false;
        }
        if (n <= 0)
            break;
        m_outSent += n;
        if (!m_requestEnded && m_readState == ReadState::Head)
            armTimer(m_timeouts.read, Failure::ReadTimeout);
    }
    if (m_outSent == m_out.size()) {
        // A head-sized buffer is kept for the next request; an upload's is given back.
        if (m_out.capacity() > KeptOutput)
            m_out.clear();
        else
            m_out.resize(0);
        m_outSent = 0;
        if (m_shutdownPending) {
            m_shutdownPending = false;
            shutdownWrite();
        }
    } else if (m_outSent > HighWater) {
        m_out.remove(0, m_outSent);
        m_outSent = 0;
    }
    updateInterest();
    if (m_wantWritable && m_out.size() - m_outSent <= HighWater / 2) {
        m_wantWritable = false;
        if (m_handler)
            m_handler->upstreamWritable();
    }
    return m_state != State::Closed;
}

void UpstreamConnection::updateInterest()
{
    if (m_fd < 0 || m_state == State::Closed)
        return;
    const bool wantWrite = !m_out.isEmpty() || m_sslWantsWrite;
    watch(!m_paused, wantWrite);
}

void UpstreamConnection::watch(bool read, bool write)
{
    // Each change is an epoll_ctl system call: a request used to make three that changed
    // nothing (after its head went out, at its end, when parked).
    if (read == m_watchRead && write == m_watchWrite)
        return;
    m_watchRead = read;
    m_watchWrite = write;
    m_poller->update(m_fd, this, read, write);
}

void UpstreamConnection::shutdownWrite()
{
    if (m_state == State::Closed)
        return;
    if (!m_out.isEmpty()) {
        m_shutdownPending = true; // after the queued bytes
        return;
    }
    if (m_ssl)
        SSL_shutdown(m_ssl);
    ::shutdown(m_fd, SHUT_WR);
}

void UpstreamConnection::pauseReading()
{
    if (m_paused)
        return;
    m_paused = true;
    updateInterest();
}

void UpstreamConnection::resumeReading()
{
    if (!m_paused)
        return;
    m_paused = false;
    updateInterest();
    // Bytes TLS already decrypted announce themselves with no socket event.
    if (m_ssl && SSL_pending(m_ssl) > 0)
        runLater(Later::Read);
}

qsizetype UpstreamConnection::rawRead(char *buffer, qsizetype size, bool *eof, bool *error)
{
    if (!m_ssl) {
        const ssize_t n = ::recv(m_fd, buffer, size_t(size), 0);
        if (n > 0)
            return n;
        if (n == 0)
            *eof = true;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            *error = true;
        return 0;
    }
    ERR_clear_error();
    const int n = SSL_read(m_ssl, buffer, int(size));
    if (n > 0)
        return n;
    const int e = SSL_get_error(m_ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN)
        *eof = true;
    else if (e == SSL_ERROR_WANT_WRITE)
        m_sslWantsWrite = true;
    else if (e != SSL_ERROR_WANT_READ)
        *eof = true; // an unclean close: treated as the end of stream
    return 0;
}

qsizetype UpstreamConnection::rawWrite(const char *data, qsizetype size, bool *error)
{
    if (!m_ssl) {
        const ssize_t n = ::send(m_fd, data, size_t(size), MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            *error = true;
        return 0;
    }
    ERR_clear_error();
    const int n = SSL_write(m_ssl, data, int(qMin<qsizetype>(size, 1 << 30)));
    m_sslWantsWrite = false;
    if (n > 0)
        return n;
    const int e = SSL_get_error(m_ssl, n);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
        return 0;
    *error = true;
    return 0;
}

void UpstreamConnection::onReadable()
{
    char buffer[ReadChunk];
    for (int rounds = 0; rounds < 16 && m_state != State::Closed; ++rounds) {
        // Once the response ended, another read would only find nothing (a wasted system
        // call); an idle connection is read once, to see its close.
        if (rounds > 0 && m_state != State::Busy)
            return;
        if (m_paused && (m_readState == ReadState::Body || m_readState == ReadState::Tunnel))
            return;
        bool eof = false;
        bool error = false;
        const qsizetype n = rawRead(buffer, ReadChunk, &eof, &error);
        if (n == 0) {
            if (error) {
                fail(Failure::Closed);
            } else if (eof) {
                if (m_state == State::Ready && !m_handler) { // an idle connection hung up
                    close();
                } else if (m_readState == ReadState::Tunnel) {
                    Handler *handler = m_handler;
                    m_handler = nullptr;
                    close();
                    if (handler)
                        handler->upstreamEnd();
                } else if (m_readState == ReadState::Body && m_framing == BodyFraming::UntilClose) {
                    m_reusable = false;
                    completeResponse();
                    close();
                } else {
                    fail(Failure::Closed);
                }
            }
            return;
        }
        if (m_state != State::Busy) {
            // Bytes nobody asked for on an idle connection: it can't be trusted with a request.
            close();
            return;
        }
        QByteArrayView data(buffer, n);
        if (m_readState == ReadState::Head) {
            // The whole head usually comes in one read: it is parsed where it lies, and only a
            // head split over reads is gathered in m_in.
            QByteArray gathered;
            QByteArrayView input = data;
            if (!m_in.isEmpty()) {
                m_in.append(data);
                gathered = std::move(m_in);
                m_in = QByteArray();
                input = gathered;
            }
            while (m_readState == ReadState::Head) {
                qsizetype consumed = 0;
                const auto status = m_parser.parse(input, &m_head, &consumed);
                if (status == ResponseHeadParser::Status::NeedMore) {
                    m_in = input.toByteArray();
                    break;
                }
                if (status == ResponseHeadParser::Status::Error) {
                    fail(Failure::BadResponse);
                    return;
                }
                input = input.sliced(consumed);
                if (m_head.status >= 100 && m_head.status < 200 && m_head.status != 101)
                    continue; // 100 Continue, 103 Early Hints: the final head follows
                m_responseStarted = true;
                if (m_head.status == 101 && m_upgrade) {
                    // From here on a byte tunnel: no framing, no timers (the owner keeps its own).
                    disarmTimer();
                    m_readState = ReadState::Tunnel;
                    m_handler->upstreamHead(m_head);
                    if (m_state != State::Busy)
                        return;
                    if (!input.isEmpty())
                        m_handler->upstreamData(input);
                    break;
                }
                m_framing = m_head.framing(m_headRequest ? "HEAD" : "GET");
                m_remaining = m_head.contentLength;
                m_chunked.reset(-1);
                m_readState = ReadState::Body;
                armTimer(m_timeouts.read, Failure::ReadTimeout);
                m_handler->upstreamHead(m_head);
                if (m_state != State::Busy)
                    return;
                if (m_framing == BodyFraming::None ||
                    (m_framing == BodyFraming::Length && m_remaining == 0)) {
                    const bool extra = !input.isEmpty();
                    completeResponse();
                    if (extra) { // bytes past a response without a body: broken framing
                        m_reusable = false;
                        close();
                    }
                    return;
                }
                if (!input.isEmpty())
                    processBody(input);
                // The rest of this read may have been body bytes; later reads come below.
            }
            continue;
        }
        if (m_readState == ReadState::Body) {
            armTimer(m_timeouts.read, Failure::ReadTimeout);
            processBody(data);
        } else if (m_readState == ReadState::Tunnel) {
            m_handler->upstreamData(data);
        }
    }
    if (m_ssl && SSL_pending(m_ssl) > 0 && m_state == State::Busy && !m_paused)
        runLater(Later::Read);
}

void UpstreamConnection::processBody(QByteArrayView data)
{
    switch (m_framing) {
    case BodyFraming::None:
        return;
    case BodyFraming::UntilClose:
        m_handler->upstreamData(data);
        return;
    case BodyFraming::Length: {
        const qsizetype take = qsizetype(qMin<qint64>(m_remaining, data.size()));
        m_remaining -= take;
        m_handler->upstreamData(data.first(take));
        if (m_state != State::Busy)
            return;
        if (m_remaining == 0) {
            // Bytes past the body: the member broke framing; don't reuse the connection.
            const bool extra = take < data.size();
            completeResponse();
            if (extra) {
                m_reusable = false;
                close();
            }
        }
        return;
    }
    case BodyFraming::Chunked:
        while (m_state == State::Busy && m_readState == ReadState::Body) {
            const auto status = m_chunked.decode(data);
            const qsizetype consumed = m_chunked.consumed();
            if (status == Http::ChunkedDecoder::Status::Error ||
                status == Http::ChunkedDecoder::Status::TooLarge) {
                fail(Failure::BadResponse);
                return;
            }
            if (status == Http::ChunkedDecoder::Status::Data)
                m_handler->upstreamData(m_chunked.data());
            data = data.sliced(consumed);
            if (status == Http::ChunkedDecoder::Status::Done) {
                const bool extra = !data.isEmpty();
                completeResponse();
                if (extra) {
                    m_reusable = false;
                    close();
                }
                return;
            }
            if (status == Http::ChunkedDecoder::Status::NeedMore)
                return;
        }
        return;
    }
}

void UpstreamConnection::completeResponse()
{
    disarmTimer();
    m_readState = ReadState::Done;
    // Reusable only when the member keeps the connection and our request went out whole.
    m_reusable = m_head.keepAlive() && m_requestEnded && m_out.isEmpty() &&
                 m_framing != BodyFraming::UntilClose;
    Handler *handler = m_handler;
    m_handler = nullptr;
    m_state = State::Ready;
    m_paused = false;
    updateInterest();
    if (handler)
        handler->upstreamEnd();
}

void UpstreamConnection::park(milliseconds idleTimeout, std::function<void()> onGone)
{
    m_handler = nullptr;
    m_onGone = std::move(onGone);
    m_paused = false;
    updateInterest();
    setDeadline(Engine::TimerWheel::forCurrentThread().now() +
                qMax<qint64>(1, idleTimeout.count()));
}

void UpstreamConnection::fail(Failure failure)
{
    if (m_state == State::Closed)
        return;
    Handler *handler = m_handler;
    const bool started = m_responseStarted;
    m_handler = nullptr;
    close();
    if (handler)
        handler->upstreamFailed(failure, started);
}

void UpstreamConnection::close()
{
    if (m_state == State::Closed)
        return;
    m_state = State::Closed;
    m_handler = nullptr;
    m_deadlineMs = 0;
    Engine::TimerWheel::disarm(*this);
    cancelLater();
    if (m_fd >= 0) {
        m_poller->remove(m_fd);
        if (m_ssl) {
            SSL_free(m_ssl);
            m_ssl = nullptr;
        }
        ::close(m_fd);
        m_fd = -1;
    }
    // Not deleteLater(): a posted event per closed connection wrote the eventfd each time.
    m_poller->deferToTurnEnd([](void *self) { delete static_cast<UpstreamConnection *>(self); },
                             this);
    // Last: the pool's forget() may look at this connection, which is closed but not deleted.
    if (auto gone = std::exchange(m_onGone, nullptr))
        gone();
}

} // namespace Berth::Upstream
