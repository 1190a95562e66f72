#include "fakeexchange.h"

#include <algorithm>
#include <utility>

#include <cerrno>
#include <unistd.h>

namespace Berth::Tests {

namespace {

bool sameName(QByteArrayView a, QByteArrayView b)
{
    return a.size() == b.size() && a.compare(b, Qt::CaseInsensitive) == 0;
}

} // namespace

FakeExchange::FakeExchange(const QByteArray &method, const QByteArray &target,
                           const Headers &headers, const QList<QByteArray> &bodyChunks)
    : m_bodyChunks(bodyChunks)
{
    // Lay every byte out in one buffer first, then take views: appending after taking a view
    // could reallocate and leave the views dangling.
    struct Span
    {
        qsizetype offset;
        qsizetype size;
    };
    auto append = [this](const QByteArray &bytes) {
        const Span span{m_storage.size(), bytes.size()};
        m_storage += bytes;
        m_storage += '\n';
        return span;
    };
    const Span methodSpan = append(method);
    const Span targetSpan = append(target);
    std::vector<std::pair<Span, Span>> fieldSpans;
    for (const auto &[name, value] : headers)
        fieldSpans.emplace_back(append(name), append(value.trimmed()));
    m_storage.squeeze(); // no more appends; views below stay valid for our lifetime

    auto view = [this](Span span) {
        return QByteArrayView(m_storage.constData() + span.offset, span.size);
    };
    Http::RequestHead &head = m_request.head;
    head.method = view(methodSpan);
    head.target = view(targetSpan);
    const qsizetype question = head.target.indexOf('?');
    head.path = question < 0 ? head.target : head.target.first(question);
    head.query = question < 0 ? QByteArrayView() : head.target.sliced(question + 1);
    for (const auto &[name, value] : fieldSpans)
        head.fields.push_back({view(name), view(value)});

    qint64 bodySize = 0;
    for (const QByteArray &chunk : bodyChunks)
        bodySize += chunk.size();
    for (const auto &field : head.fields) {
        if (sameName(field.name, "Host"))
            head.host = field.value;
        else if (sameName(field.name, "Content-Length"))
            head.contentLength = field.value.toLongLong();
        else if (sameName(field.name, "Transfer-Encoding"))
            head.bodyFollows = true;
    }
    if (head.contentLength < 0 && !head.bodyFollows && bodySize > 0)
        head.contentLength = bodySize;

    m_request.path = head.path.toByteArray();
    m_request.pathInfo = m_request.path;
    m_request.hostName = head.host.toByteArray().toLower();
    m_request.txnId = QByteArrayLiteral("test-txn");
}

FakeExchange::~FakeExchange()
{
    // As the engine: an exchange that dies unfinished tells its app, which must release what it
    // holds (an fd of a half-sent file).
    if (!m_finished && !m_aborted && m_abortHandler) {
        m_aborted = true;
        auto handler = std::move(m_abortHandler);
        handler();
    }
}

void FakeExchange::setPaths(const QByteArray &scriptName, const QByteArray &pathInfo)
{
    m_request.scriptName = scriptName;
    m_request.pathInfo = pathInfo;
    m_request.path = scriptName + pathInfo;
}

QByteArray FakeExchange::header(QByteArrayView name) const
{
    for (const auto &[fieldName, value] : m_headers) {
        if (sameName(fieldName, name))
            return value;
    }
    return {};
}

int FakeExchange::headerCount(QByteArrayView name) const
{
    int count = 0;
    for (const auto &[fieldName, value] : m_headers)
        count += sameName(fieldName, name) ? 1 : 0;
    return count;
}

void FakeExchange::drain()
{
    m_pending = 0;
    if (m_writableHandler && !m_finished && !m_aborted) {
        // A copy: the handler may replace itself while it runs.
        auto handler = m_writableHandler;
        handler();
    }
}

int FakeExchange::drainUntilFinished(int maxRounds)
{
    int rounds = 0;
    while (!m_finished && !m_aborted && rounds < maxRounds) {
        drain();
        ++rounds;
    }
    return rounds;
}

void FakeExchange::simulateClientAbort()
{
    if (m_finished || m_aborted)
        return;
    m_aborted = true;
    m_timers.clear();
    if (m_abortHandler) {
        auto handler = std::move(m_abortHandler);
        handler();
    }
    endLife();
}

void FakeExchange::pauseBody()
{
    ++m_pauseCount;
    m_tunnelPaused = true;
}

void FakeExchange::resumeBody()
{
    ++m_resumeCount;
    m_tunnelPaused = false;
    if (m_tunnel && !m_tunnelHeld.isEmpty()) {
        const QByteArray held = std::exchange(m_tunnelHeld, QByteArray());
        feedTunnel(held);
    }
    if (m_tunnel && m_tunnelEnded && m_tunnelHeld.isEmpty() && m_tunnelOnEnd && !m_finished &&
        !m_aborted) {
        auto onEnd = std::exchange(m_tunnelOnEnd, nullptr);
        onEnd();
    }
}

void FakeExchange::feedTunnel(QByteArrayView bytes)
{
    if (!m_tunnel || m_finished || m_aborted) {
        m_errors << QStringLiteral("tunnel input after the tunnel ended");
        return;
    }
    if (m_tunnelPaused || !m_tunnelOnData) {
        m_tunnelHeld.append(bytes);
        return;
    }
    auto onData = m_tunnelOnData; // a copy: the handler may replace itself
    onData(bytes);
}

void FakeExchange::endTunnelInput()
{
    m_tunnelEnded = true;
    if (m_tunnelPaused || !m_tunnelHeld.isEmpty() || !m_tunnelOnEnd || m_finished || m_aborted)
        return;
    auto onEnd = std::exchange(m_tunnelOnEnd, nullptr);
    onEnd();
}

QByteArray FakeExchange::takeTunnelOutput()
{
    const QByteArray out = m_body.sliced(m_tunnelTaken);
    m_tunnelTaken = m_body.size();
    return out;
}

void FakeExchange::readBody(DataHandler onData, EventHandler onEnd)
{
    if (m_tunnel) {
        // The tunnel's bytes come from feedTunnel(), as the peer sends them.
        m_tunnelOnData = std::move(onData);
        m_tunnelOnEnd = std::move(onEnd);
        if (!m_tunnelHeld.isEmpty() && !m_tunnelPaused) {
            const QByteArray held = std::exchange(m_tunnelHeld, QByteArray());
            feedTunnel(held);
        }
        return;
    }
    if (m_request.bodyBuffered) {
        if (!m_request.bufferedBody.isEmpty() && onData)
            onData(m_request.bufferedBody);
        if (onEnd)
            onEnd();
        return;
    }
    for (const QByteArray &chunk : std::as_const(m_bodyChunks))
        onData(chunk);
    if (onEnd)
        onEnd();
}

void FakeExchange::recordStart(int status, qint64 contentLength)
{
    if (m_started)
        m_errors << QStringLiteral("response started twice");
    m_started = true;
    m_status = status;
    m_contentLength = contentLength;
    m_headers.clear();
    for (const auto &[name, value] : m_response.headers())
        m_headers.append({name, value});
}

void FakeExchange::appendBody(QByteArrayView data)
{
    // As the engine: a body written before startResponse() starts a streamed response.
    if (!m_started)
        recordStart(m_response.status, -1);
    if (m_finished) {
        m_errors << QStringLiteral("body written after finish");
        return;
    }
    // As the engine: HEAD responses carry no body, whatever the app writes.
    if (!m_request.isHead())
        m_body.append(data);
}

void FakeExchange::respond(int status, QByteArrayView contentType, QByteArray body)
{
    ++m_respondCalls;
    m_response.status = status;
    recordStart(status, body.size());
    if (!contentType.isEmpty()) {
        m_headers.removeIf([](const auto &field) { return sameName(field.first, "Content-Type"); });
        m_headers.append({QByteArrayLiteral("Content-Type"), contentType.toByteArray()});
    }
    if ((status == 304 || status == 204) && !body.isEmpty())
        m_errors << QStringLiteral("%1 with a body").arg(status);
    appendBody(body);
    finish();
}

void FakeExchange::startResponse(qint64 contentLength)
{
    recordStart(m_response.status, contentLength);
}

bool FakeExchange::startTunnel()
{
    const QByteArray protocol = m_request.tunnelProtocol().toByteArray();
    if (protocol.isEmpty() || m_started || m_aborted)
        return false;
    m_response.setHeader("Connection", "upgrade");
    m_response.setHeader("Upgrade", protocol);
    recordStart(101, -1);
    m_tunnel = true;
    return true;
}

bool FakeExchange::write(QByteArrayView data)
{
    appendBody(data);
    m_pending += data.size();
    return m_highWaterMark < 0 || m_pending < m_highWaterMark;
}

void FakeExchange::sendFile(int fd, qint64 offset, qint64 length)
{
    ++m_sendFileCalls;
    if (!m_started)
        recordStart(m_response.status, length);
    if (!m_request.isHead()) {
        QByteArray chunk(64 * 1024, Qt::Uninitialized);
        qint64 done = 0;
        while (done < length) {
            const qint64 want = std::min<qint64>(chunk.size(), length - done);
            const ssize_t got = ::pread(fd, chunk.data(), size_t(want), off_t(offset + done));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                m_errors << QStringLiteral("sendFile: short read at %1").arg(offset + done);
                break;
            }
            appendBody(QByteArrayView(chunk.constData(), got));
            done += got;
        }
    }
    if (::close(fd) != 0)
        m_errors << QStringLiteral("sendFile: bad fd %1").arg(fd);
    finish();
}

void FakeExchange::finish()
{
    if (m_finished) {
        m_errors << QStringLiteral("finished twice");
        return;
    }
    if (!m_started)
        recordStart(m_response.status, 0); // as the engine: an empty response
    if (m_contentLength >= 0 && !m_request.isHead() && m_body.size() != m_contentLength &&
        m_status != 304 && m_status != 204) {
        m_errors << QStringLiteral("Content-Length %1 but %2 body bytes")
                        .arg(m_contentLength)
                        .arg(m_body.size());
    }
    m_finished = true;
    if (m_tunnel) {
        // As the engine: a finished tunnel is an ended exchange (its timers die with it).
        m_timers.clear();
        endLife();
    }
}

void FakeExchange::abort()
{
    m_drainHandler = nullptr;
    m_aborted = true;
    m_timers.clear(); // they die with the exchange
    endLife();
}

void FakeExchange::simulateDrain()
{
    if (EventHandler handler = std::move(m_drainHandler)) {
        m_drainHandler = nullptr;
        handler();
    }
}

void FakeExchange::runAfter(qint64 msecs, EventHandler handler)
{
    if (!m_aborted)
        m_timers.emplace_back(msecs, std::move(handler));
}

void FakeExchange::runTimers()
{
    auto timers = std::move(m_timers);
    m_timers.clear();
    std::stable_sort(timers.begin(), timers.end(),
                     [](const auto &a, const auto &b) { return a.first < b.first; });
    for (auto &timer : timers) {
        if (m_aborted)
            return;
        timer.second();
    }
}

} // namespace Berth::Tests
