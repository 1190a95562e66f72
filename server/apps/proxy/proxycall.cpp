#include "proxycall.h"

#include "memberrequest.h"
#include "proxyapp.h"

#include "cache/cachefront.h"

#include "engine/poller.h"
#include "upstream/responsehead.h"

#include <QLoggingCategory>
#include <QVarLengthArray>

#include <chrono>
#include <new>
#include <vector>

Q_LOGGING_CATEGORY(lcProxy, "berth.gateway")

namespace Berth::Gateway {

using Http::equalsIgnoreCase;
using Upstream::UpstreamConnection;

namespace {

constexpr qint64 QueuePollMs = 10;

qint64 steadyMicros()
{
    using namespace std::chrono;
    return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

bool isIdempotent(QByteArrayView method)
{
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
           method == "DELETE" || method == "TRACE";
}

// Field names listed in Connection (RFC 9110 §7.6.1): hop-by-hop by declaration.
// RateLimit-Limit, -Remaining, -Reset (docs/gateway.md, "Rate limits").
bool isRateLimitField(QByteArrayView name)
{
    return name.size() > 10 && equalsIgnoreCase(name.first(10), "RateLimit-");
}

// A field of the member's response the proxy never passes on: hop-by-hop, framing, or its own.
bool droppedResponseField(QByteArrayView name)
{
    switch (name.size()) { // one length test first: this runs for every field of every response
    case 4:
        return equalsIgnoreCase(name, "date");
    case 6:
        return equalsIgnoreCase(name, "server");
    case 11:
        return equalsIgnoreCase(name, "x-berth-txn");
    case 14:
        return equalsIgnoreCase(name, "content-length") || Upstream::isHopByHopField(name);
    default:
        return Upstream::isHopByHopField(name);
    }
}

// Values of the members' response fields seen lately on this thread, shared into the client
// responses: a member repeats its Content-Type, and the ETag and Last-Modified of a file it is
// asked for often, so a field usually costs no allocation (Response::addHeader copies a value
// that isn't one of its interned ones). Small values only; replaced round-robin.
class FieldValues
{
public:
    const QByteArray &get(QByteArrayView value)
    {
        for (const QByteArray &known : m_values) {
            if (known.size() == value.size() && known == value)
                return known;
        }
        QByteArray &slot = m_values[m_next];
        m_next = (m_next + 1) % Slots;
        slot = value.toByteArray();
        return slot;
    }
    static constexpr qsizetype MaxSize = 64;

private:
    static constexpr int Slots = 16;
    QByteArray m_values[Slots];
    int m_next = 0;
};

void addResponseField(Http::Response &response, QByteArrayView name, QByteArrayView value)
{
    thread_local FieldValues values;
    // Set-Cookie values are per client: caching them would only evict the shared ones.
    if (value.size() > FieldValues::MaxSize ||
        (name.size() == 10 && equalsIgnoreCase(name, "set-cookie")))
        response.addHeader(name, value);
    else
        response.addSharedHeader(name, values.get(value));
}

// ProxyCall objects given back, per thread, for the next proxied request (as the engine pools
// its exchanges): storage only, each one constructed anew in it.
struct CallStorage
{
    static constexpr size_t Kept = 256;
    std::vector<void *> free;
    ~CallStorage()
    {
        for (void *p : free)
            ::operator delete(p);
    }
};

CallStorage &callStorage()
{
    thread_local CallStorage storage;
    return storage;
}

QByteArray addressText(const Http::Request &request)
{
    if (request.unixPeer || request.peerAddress.isNull())
        return QByteArrayLiteral("unix");
    QHostAddress address = request.peerAddress;
    bool mapped = false;
    const quint32 v4 = address.toIPv4Address(&mapped);
    if (mapped)
        address = QHostAddress(v4);
    return address.toString().toLatin1();
}

} // namespace

void ProxyCall::start(std::shared_ptr<GroupRuntime> group, Http::Exchange &exchange,
                      std::unique_ptr<Cache::Transaction> cache)
{
    CallStorage &storage = callStorage();
    void *memory = nullptr;
    if (storage.free.empty()) {
        memory = ::operator new(sizeof(ProxyCall));
    } else {
        memory = storage.free.back();
        storage.free.pop_back();
    }
    auto *call = new (memory) ProxyCall(std::move(group), exchange);
    call->m_cache = std::move(cache);
    call->attempt();
}

ProxyCall::ProxyCall(std::shared_ptr<GroupRuntime> group, Http::Exchange &exchange)
    : m_group(std::move(group))
    , m_exchange(exchange.handle())
{
    const Http::Request &request = exchange.request();
    m_idempotent = isIdempotent(request.method());
    m_upgrade = equalsIgnoreCase(request.tunnelProtocol(), "websocket");
    m_hasBody = request.head.hasBody() || request.bodyBuffered;
    m_chunkedUp = m_hasBody && (request.head.contentLength < 0 || request.bodyBuffered);
    if (m_upgrade) // the tunnel's bytes are not a body: they flow once the member agreed
        m_hasBody = m_chunkedUp = false;
    m_startedMs = nowMs();
    m_queueDeadlineMs = m_startedMs + m_group->settings.queueTimeout.count();
    exchange.setAbortHandler([this] { clientGone(); });
}

ProxyCall::~ProxyCall() = default;

qint64 ProxyCall::nowMs() const
{
    return steadyMicros() / 1000;
}

void ProxyCall::attempt()
{
    if (m_finished)
        return;
    Http::Exchange *exchange = m_exchange.get();
    if (!exchange) {
        done();
        return;
    }
    Balancer &balancer = *m_group->balancer;
    const quint32 hash = m_group->settings.balance == Balancer::Method::IpHash
                             ? qHash(addressText(exchange->request()))
                             : 0;
    int member = -1;
    switch (balancer.pick(hash, m_tried, nowMs(), &member)) {
    case Balancer::Pick::Chosen:
        break;
    case Balancer::Pick::Busy:
        waitForCapacity();
        return;
    case Balancer::Pick::NoneUp:
        if (m_attempts == 0) {
            const qint64 seconds =
                qMax<qint64>(1, (m_group->settings.failTimeout.count() + 999) / 1000);
            answer(503, QByteArray::number(seconds));
        } else {
            answer(m_lastFailureTimeout ? 504 : 502);
        }
        return;
    }
    m_member = member;
    ++m_attempts;
    balancer.started(member);
    m_group->countStarted(member);
    m_memberStartUs = steadyMicros();
    connectMember();
}

void ProxyCall::waitForCapacity()
{
    if (m_finished)
        return;
    Http::Exchange *exchange = m_exchange.get();
    if (!exchange) {
        done();
        return;
    }
    if (nowMs() >= m_queueDeadlineMs) {
        answer(503, "1");
        return;
    }
    exchange->runAfter(QueuePollMs, [this, alive = aliveFlag()] {
        if (*alive)
            attempt();
    });
}

void ProxyCall::connectMember()
{
    m_connection = connectToMember(*m_group, m_member, this, &m_reusedConnection);
    if (!m_connection) {
        upstreamFailed(UpstreamConnection::Failure::Connect, false);
        return;
    }
    if (m_reusedConnection)
        upstreamConnected();
}

void ProxyCall::upstreamConnected()
{
    if (m_finished)
        return;
    Http::Exchange *exchange = m_exchange.get();
    if (!exchange || !m_connection) {
        done();
        return;
    }
    // Built in a buffer of the thread's, copied into the connection's output: no allocation
    // once both have grown to a head's size.
    thread_local QByteArray head;
    MemberHeadOptions options;
    options.upgrade = m_upgrade;
    options.body = m_chunkedUp ? MemberHeadOptions::Body::Chunked
                   : m_hasBody ? MemberHeadOptions::Body::Length
                               : MemberHeadOptions::Body::None;
    QByteArray conditional;
    if (m_cache) {
        conditional = m_cache->conditionalFields();
        options.conditionalFields = conditional;
    }
    buildMemberHead(*m_group, m_member, exchange->request(), options, head);
    m_connection->beginRequest(this, head, exchange->request().method(),
                               memberTimeouts(m_group->settings));
    if (m_upgrade)
        m_connection->expectUpgrade();
    if (!m_hasBody) {
        m_bodyDone = true;
        m_connection->endRequest();
        return;
    }
    startBody(*exchange);
}

void ProxyCall::startBody(Http::Exchange &exchange)
{
    m_bodyStarted = true;
    exchange.readBody(
        [this, alive = aliveFlag()](QByteArrayView chunk) {
            if (!*alive || !m_connection || chunk.isEmpty())
                return;
            bool ok = true;
            if (m_chunkedUp) {
                QByteArray size = QByteArray::number(chunk.size(), 16);
                size.append("\r\n");
                m_connection->write(size);
                m_connection->write(chunk);
                ok = m_connection->write("\r\n");
            } else {
                ok = m_connection->write(chunk);
            }
            if (!ok && m_connection && !m_bodyPaused) {
                if (Http::Exchange *ex = m_exchange.get()) {
                    m_bodyPaused = true;
                    ex->pauseBody();
                }
            }
        },
        [this, alive = aliveFlag()] {
            if (!*alive)
                return;
            if (m_tunnel) {
                if (m_connection)
                    m_connection->shutdownWrite();
                return;
            }
            m_bodyDone = true;
            if (!m_connection)
                return;
            if (m_chunkedUp)
                m_connection->write("0\r\n\r\n");
            if (m_connection)
                m_connection->endRequest();
        });
}

void ProxyCall::upstreamWritable()
{
    if (m_bodyPaused) {
        m_bodyPaused = false;
        if (Http::Exchange *exchange = m_exchange.get())
            exchange->resumeBody();
    }
}

void ProxyCall::upstreamHead(const Upstream::ResponseHead &head)
{
    Http::Exchange *exchange = m_exchange.get();
    if (!exchange) {
        clientGone();
        return;
    }
    if (head.status == 101 && m_upgrade && m_connection && m_connection->isTunnel()) {
        Http::Response &response = exchange->response();
        response.clear();
        const bool http2 = exchange->request().version == "HTTP/2.0";
        for (const auto &[name, value] : head.fields) {
            if (Upstream::isHopByHopField(name) || equalsIgnoreCase(name, "date") ||
                equalsIgnoreCase(name, "server") || equalsIgnoreCase(name, "content-length") ||
                (http2 && equalsIgnoreCase(name, "sec-websocket-accept")))
                continue;
            addResponseField(response, name, value);
        }
        m_responseStarted = true;
        if (!exchange->startTunnel()) {
            upstreamFailed(UpstreamConnection::Failure::BadResponse, true);
            return;
        }
        m_tunnel = true;
        startBody(*exchange);
        return;
    }
    if (head.status == 101) {
        // No upgrade was asked of the member (Upgrade is hop-by-hop): a 101 is a broken member.
        upstreamFailed(UpstreamConnection::Failure::BadResponse, true);
        return;
    }
    if (m_cache && m_cache->answerFromHead(*exchange, head)) {
        done(); // the member's response is dropped with its connection
        return;
    }
    ConnectionValues connectionValues;
    for (const auto &[name, value] : head.fields) {
        if (name.size() == 10 && equalsIgnoreCase(name, "connection"))
            connectionValues.append(value);
    }
    Http::Response &response = exchange->response();
    // The gateway's own rate-limit fields (set before the call, by the group's `rate` or a
    // berth.rate_limit app in front) replace any the member sends.
    std::vector<std::pair<QByteArray, QByteArray>> gatewayFields;
    for (const auto &field : response.headers()) {
        if (isRateLimitField(field.first))
            gatewayFields.push_back(field);
    }
    response.clear();
    response.status = head.status;
    for (const auto &[name, value] : head.fields) {
        if (droppedResponseField(name) ||
            (!connectionValues.isEmpty() && namedByConnection(name, connectionValues)) ||
            (!gatewayFields.empty() && isRateLimitField(name)))
            continue;
        addResponseField(response, name, value);
    }
    if (m_cache)
        m_cache->responseHead(*exchange, head);
    for (const auto &[name, value] : gatewayFields)
        response.addHeader(name, value);
    m_responseStarted = true;
    const Upstream::BodyFraming framing = head.framing(exchange->request().method());
    qint64 length = -1;
    if (framing == Upstream::BodyFraming::Length)
        length = head.contentLength;
    else if (framing == Upstream::BodyFraming::None && !head.chunked)
        length =
            head.contentLength >= 0 ? head.contentLength : (exchange->request().isHead() ? -1 : 0);
    exchange->startResponse(length);
}

void ProxyCall::upstreamData(QByteArrayView data)
{
    Http::Exchange *exchange = m_exchange.get();
    if (!exchange) {
        clientGone();
        return;
    }
    if (m_cache)
        m_cache->responseData(data);
    if (!exchange->write(data) && m_connection) {
        m_connection->pauseReading();
        exchange->setWritableHandler([this] {
            if (m_connection)
                m_connection->resumeReading();
        });
    }
}

void ProxyCall::upstreamEnd()
{
    Balancer &balancer = *m_group->balancer;
    const Balancer::Transition transition =
        balancer.succeeded(m_member, steadyMicros() - m_memberStartUs);
    m_group->countFinished(m_member, false);
    if (transition == Balancer::Transition::CameUp) {
        m_group->setDown(m_member, false);
        qCInfo(lcProxy).noquote() << QStringLiteral("%1 member %2 up")
                                         .arg(m_group->settings.name,
                                              balancer.spec(m_member).address.text());
    }
    const int member = m_member;
    m_member = -1;
    UpstreamConnection *connection = m_connection;
    m_connection = nullptr;
    if (connection)
        releaseToPool(*m_group, member, connection);
    Http::Exchange *exchange = m_exchange.get();
    if (exchange) {
        exchange->setAbortHandler({});
        exchange->setWritableHandler({});
    }
    // Let go of the handle before the exchange ends: alone, its anchor serves the connection's
    // next request (Exchange::endLife()), no allocation per request.
    m_exchange = {};
    if (m_cache && exchange) // only a response that reached its end is stored
        m_cache->responseEnd();
    if (exchange)
        exchange->finish();
    done();
}

void ProxyCall::upstreamFailed(UpstreamConnection::Failure failure, bool responseStarted)
{
    using F = UpstreamConnection::Failure;
    if (m_connection) {
        UpstreamConnection *connection = m_connection;
        m_connection = nullptr;
        connection->close();
    }
    m_lastFailureTimeout =
        failure == F::ResponseTimeout || failure == F::ReadTimeout || failure == F::ConnectTimeout;
    const bool reused = m_reusedConnection;
    // A reused keep-alive connection the member closed before answering is not the member's
    // fault (the race every keep-alive client has); a fresh connection's failure is.
    const bool memberAtFault = !(reused && failure == F::Closed && !responseStarted);
    if (m_member >= 0) {
        Balancer &balancer = *m_group->balancer;
        if (memberAtFault) {
            const Balancer::Transition transition = balancer.failed(m_member, nowMs());
            m_group->countFinished(m_member, true);
            if (transition == Balancer::Transition::WentDown) {
                m_group->setDown(m_member, true);
                qCWarning(lcProxy).noquote()
                    << QStringLiteral("%1 member %2 down (%3)")
                           .arg(m_group->settings.name, balancer.spec(m_member).address.text(),
                                QString::fromLatin1(UpstreamConnection::failureName(failure)));
            }
            if (m_member < 64)
                m_tried |= quint64(1) << m_member;
        } else {
            balancer.released(m_member);
            m_group->countFinished(m_member, false);
            --m_attempts; // a stale pooled connection: this attempt does not count
        }
        m_member = -1;
    }
    Http::Exchange *exchange = m_exchange.get();
    if (!exchange) {
        done();
        return;
    }
    if (m_responseStarted || exchange->responseStarted()) {
        // Bytes already reached the client: it must see a truncated response, never a
        // complete-looking wrong one.
        exchange->abort();
        done();
        return;
    }
    const bool neverSent = failure == F::Connect || failure == F::ConnectTimeout;
    const bool replayable = !m_bodyStarted && (m_idempotent || neverSent || !m_hasBody);
    const bool retryAllowed = m_attempts <= m_group->settings.retries;
    if (replayable && retryAllowed && (m_idempotent || neverSent || !memberAtFault)) {
        attempt();
        return;
    }
    answer(m_lastFailureTimeout ? 504 : 502);
}

void ProxyCall::answer(int status, QByteArrayView retryAfter)
{
    if (Http::Exchange *exchange = m_exchange.get()) {
        if (status >= 502 && m_cache && m_cache->answerFromError(*exchange)) {
            done();
            return;
        }
        if (!exchange->responseStarted()) {
            exchange->response().clear();
            if (!retryAfter.isEmpty())
                exchange->response().setHeader("Retry-After", retryAfter);
            Http::respondWithError(*exchange, status);
        } else {
            exchange->abort();
        }
    }
    done();
}

void ProxyCall::clientGone()
{
    // The member did nothing wrong: its connection is closed (the rest of its response can't be
    // delivered) and it is released without counting a failure, as done() does.
    done();
}

void ProxyCall::done()
{
    if (m_finished)
        return;
    m_finished = true;
    if (m_alive)
        *m_alive = false;
    if (m_connection) {
        UpstreamConnection *connection = m_connection;
        m_connection = nullptr;
        connection->close();
    }
    if (m_member >= 0) {
        m_group->balancer->released(m_member);
        m_group->countFinished(m_member, false);
        m_member = -1;
    }
    if (Http::Exchange *exchange = m_exchange.get()) {
        exchange->setAbortHandler({});
        exchange->setWritableHandler({});
    }
    m_exchange = {};
    m_cache.reset(); // ends a claim it did not fulfil, so collapsed requests stop waiting
    // Deleted once the current callback has returned: the caller may still be on our stack.
    deleteSoon(this);
}

std::shared_ptr<bool> ProxyCall::aliveFlag()
{
    if (!m_alive) // made on first use: a request without a body or a queue never needs one
        m_alive = std::make_shared<bool>(!m_finished);
    return m_alive;
}

void ProxyCall::deleteSoon(ProxyCall *call)
{
    // Every call that finished in one event-loop turn is deleted at its end, after the
    // poller's batch (a queued call per turn wrote the eventfd each time; a zero-time QTimer
    // per call before that made and registered a timer object each time).
    thread_local std::vector<ProxyCall *> finished;
    if (finished.empty()) {
        Engine::Poller::forCurrentThread()->deferToTurnEnd(
            [](void *) {
                // Both vectors keep their capacity from one turn to the next.
                thread_local std::vector<ProxyCall *> batch;
                batch.swap(finished);
                CallStorage &storage = callStorage();
                for (ProxyCall *done : batch) {
                    done->~ProxyCall();
                    if (storage.free.size() < CallStorage::Kept)
                        storage.free.push_back(done);
                    else
                        ::operator delete(done);
                }
                batch.clear();
            },
            nullptr);
    }
    finished.push_back(call);
}

} // namespace Berth::Gateway
