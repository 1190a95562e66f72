#include "exchangedriver.h"

#include "connectionmanager.h"
#include "http/bytescan.h"
#include "http/identity.h"
#include "http/pathnormalizer.h"
#include "log/cef.h"
#include "log/logging.h"
#include "log/logsink.h"
#include "log/requestlogline.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"
#include "runtime/workerhealth.h"

#include <QLoggingCategory>
#include <QTimer>
#include <QtEndian>

#include <algorithm>
#include <bit>
#include <charconv>
#include <exception>
#include <limits>
#include <string>
#include <string_view>
#include <time.h>

Q_LOGGING_CATEGORY(lcExchange, "berth.exchange")

namespace Berth::Engine {

namespace {

// Once per exchange, before anything looks at the client: a request from a trusted proxy
// names its client and scheme in its headers (docs/operations.md, "Real client addresses").
void applyTrustedProxy(Http::Request &request, const Http::TrustedProxies &trusted)
{
    if (trusted.isEmpty())
        return;
    if (request.unixPeer ? !trusted.trustsUnixPeers() : !trusted.contains(request.peerAddress))
        return;
    const Http::ForwardedClient client = Http::forwardedClient(request.head, trusted);
    if (client.found) {
        request.peerAddress = client.address;
        request.peerPort = client.port;
        request.unixPeer = false;
        request.forwardedFor = true;
    }
    if (client.secure)
        request.secure = *client.secure;
}

// CLOCK_MONOTONIC (QElapsedTimer's clock on Linux) read directly: three reads per request, and
// QElapsedTimer's out-of-line wrapper cost more than the vDSO call. Only differences are used.
qint64 nowMicros()
{
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return qint64(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// Wall-clock milliseconds for request.log's timestamp, from a CLOCK_MONOTONIC reading the
// exchange took anyway (its start), instead of a second clock read per request. The offset
// between the two clocks is read again when the last reading is 100 ms old: a step of the wall
// clock shows within that, and NTP's slewing (0.5 ms/s at most) moves it by 0.05 ms at most.
qint64 wallMsecsAt(qint64 monotonicMicros)
{
    thread_local bool synced = false;
    thread_local qint64 syncedAt = 0;
    thread_local qint64 offsetMicros = 0;
    if (!synced || monotonicMicros - syncedAt >= 100'000 || monotonicMicros < syncedAt) {
        synced = true;
        timespec ts;
        ::clock_gettime(CLOCK_REALTIME, &ts);
        syncedAt = nowMicros();
        offsetMicros = qint64(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000 - syncedAt;
    }
    const qint64 wall = monotonicMicros + offsetMicros;
    return wall >= 0 ? wall / 1000 : (wall - 999) / 1000; // floor, as the wall clock's ms
}

// "Example.COM:8080" -> "Example.COM"; "[::1]:80" -> "[::1]". Byte loops: a port is a few bytes
// from the end, and QByteArrayView's search calls cost more than that.
QByteArrayView hostWithoutPort(QByteArrayView host)
{
    const char *const begin = host.data();
    const qsizetype n = host.size();
    if (n > 0 && begin[0] == '[') {
        for (qsizetype i = 1; i < n; ++i) {
            if (begin[i] == ']')
                return host.first(i + 1);
        }
        return host;
    }
    qsizetype i = n;
#if Q_BYTE_ORDER == Q_LITTLE_ENDIAN
    if (n >= 8) {
        // The port is within the last eight bytes (":" and at most five digits).
        using namespace Http::ByteScan;
        if (const quint64 colons = bytesEqualExact(load64(begin + n - 8), ':'))
            return host.first(n - 8 + (63 - std::countl_zero(colons)) / 8);
        i = n - 8;
    }
#endif
    while (i-- > 0) {
        if (begin[i] == ':')
            return host.first(i);
    }
    return host;
}

// Request::clearPerExchange(), without its calls when there is nothing to clear (the common
// case: end() cleared it, or no app attached anything).
// The clearing out of line: inlined, its destructors would make every caller save and restore
// registers on the common path too.
Q_NEVER_INLINE void clearPerExchangeNow(Http::Request &request)
{
    request.clearPerExchange();
}

inline void clearPerExchange(Http::Request &request)
{
    // (data_ptr().isNull(): QByteArray::isNull() is an out-of-line call in Qt 6.4)
    if (!request.attributes.isEmpty() || !request.bufferedBody.data_ptr().isNull() ||
        request.bodyBuffered)
        clearPerExchangeNow(request);
}

// Statuses that mean the client sent something the server refuses to read further.
bool isBadInput(int status)
{
    return status == 400 || status == 408 || status == 413 || status == 414 || status == 431 ||
           status == 501 || status == 505;
}

} // namespace

ExchangeDriver::ExchangeDriver(ConnectionManager &manager, QObject *context,
                               std::function<void()> afterCallback)
    : m_manager(manager)
    , m_context(context)
    , m_afterCallback(std::move(afterCallback))
{}

ExchangeDriver::~ExchangeDriver()
{
    cancelTimers();
}

void ExchangeDriver::begin(Http::Request &request, qint64 bytesIn)
{
    m_manager.nextTxnId(request.txnId); // into the buffer of the request's previous id
    clearPerExchange(request);
    m_logged = false;
    m_finished = false;
    m_bytesIn = bytesIn;
    m_bytesOut = 0;
    m_startMicros = nowMicros();
    m_responseStartMicros = 0;
    m_wallMsecs = wallMsecsAt(m_startMicros);
}

const Http::AppChain *ExchangeDriver::route(Http::Request &request, bool *badPath)
{
    *badPath = false;
    const Http::RequestHead &head = request.head;
    applyTrustedProxy(request, m_manager.settings().trustedProxies);
    // The request object lives as long as the connection, whose requests nearly always name the
    // same host: the lowered name is kept instead of being allocated again.
    // hostName is lower-case, so equal to the host but for ASCII case means equal to its
    // lower-cased copy.
    const QByteArrayView host = hostWithoutPort(head.host);
    const qsizetype hostSize = host.size();
    if (hostSize != request.hostName.size() ||
        (!Http::ByteScan::sameBytes(host.data(), request.hostName.constData(), hostSize) &&
         !Http::equalsIgnoreCase(host, request.hostName)))
        request.hostName = host.toByteArray().toLower();
    if (head.path.size() == 1 && head.path[0] == '*') {
        request.path = QByteArrayLiteral("*");
        return nullptr;
    }
    if (!Http::normalizePath(head.path, request.path)) {
        *badPath = true;
        return nullptr;
    }
    if (!m_manager.router())
        return nullptr;
    return m_manager.router()->resolveInto(request.hostName, request.path, request.scriptName,
                                           request.pathInfo);
}

qint64 ExchangeDriver::maxBodyBytes(const Http::AppChain *pipeline) const
{
    return pipeline && pipeline->maxBodyBytes() >= 0 ? pipeline->maxBodyBytes()
                                                     : m_manager.settings().maxBodyBytes;
}

void ExchangeDriver::run(Http::Exchange &exchange, const Http::AppChain *pipeline,
                         QByteArrayView client)
{
    // What this thread is busy with, for the watchdog's report if it never comes back.
    const Http::Request &request = exchange.request();
    const bool outermost = !m_inCallback;
    if (outermost) {
        m_inCallback = true;
        // Started when the exchange began (begin() read the clock): no clock read here.
        Core::ThreadHealth::beginRequest(request.head.method, request.head.target, request.txnId,
                                         client, m_startMicros / 1000);
    }
    pipeline->runFrom(exchange, 0); // catches what handle() throws (Pipeline::runFrom)
    if (outermost) {
        Core::ThreadHealth::endRequest();
        m_inCallback = false;
    }
}

void ExchangeDriver::end(Http::Exchange &exchange)
{
    // Whatever apps attached goes with the exchange (the session owner too, rather than when
    // the next request starts), and handles given out turn null.
    // Each only when there is something to drop: mostly there is not, and the calls would cost
    // on every request.
    if (!m_timers.empty())
        cancelTimers();
    if (m_onAbort)
        m_onAbort = nullptr;
    if (m_onDrain)
        m_onDrain = nullptr;
    clearPerExchange(exchange.request());
}

bool ExchangeDriver::deliverBufferedBody(const Http::Request &request,
                                         const Http::Exchange::DataHandler &onData,
                                         const Http::Exchange::EventHandler &onEnd)
{
    if (!request.bodyBuffered)
        return false;
    if (!request.bufferedBody.isEmpty() && onData)
        onData(request.bufferedBody);
    if (onEnd)
        onEnd();
    return true;
}

void ExchangeDriver::runDrainHandler(Http::Exchange &exchange, QByteArrayView client)
{
    Http::Exchange::EventHandler onDrain = std::move(m_onDrain);
    m_onDrain = nullptr;
    if (onDrain)
        callApp(exchange, "drain", onDrain, client);
}

bool ExchangeDriver::callApp(Http::Exchange &exchange, const char *what,
                             const std::function<void()> &callback, QByteArrayView client)
{
    // Callbacks after handle() run outside the pipeline's own try/catch, so the engine is the
    // boundary: nothing an app throws may unwind through the event loop and take the worker's
    // other connections with it.
    const bool outermost = !m_inCallback;
    if (outermost) {
        m_inCallback = true;
        const Http::Request &request = exchange.request();
        Core::ThreadHealth::beginRequest(request.head.method, request.head.target, request.txnId,
                                         client);
    }
    const char *failure = nullptr;
    std::string message;
    try {
        callback();
    } catch (const std::exception &e) {
        message = e.what();
        failure = message.c_str();
    } catch (...) {
        failure = "unknown exception";
    }
    if (outermost) {
        Core::ThreadHealth::endRequest();
        m_inCallback = false;
    }
    if (!failure)
        return true;
    appFailed(exchange, what, failure);
    return false;
}

void ExchangeDriver::appFailed(Http::Exchange &exchange, const char *what, const char *failure)
{
    const Http::Request &request = exchange.request();
    qCCritical(lcExchange).noquote()
        << QStringLiteral("app callback (%1) failed on %2 %3 (txn %4): %5")
               .arg(QLatin1StringView(what), QString::fromLatin1(request.method()),
                    QString::fromLatin1(request.head.target), QString::fromLatin1(request.txnId),
                    QString::fromUtf8(failure));
    if (m_finished)
        return; // the response is complete already; nothing left to answer
    runAbortHandler(request);
    if (exchange.responseStarted()) {
        exchange.abort(); // a truncated response must not look complete
        return;
    }
    // The operator finds the log line by the txn id; the client never sees the exception text.
    exchange.response().clear();
    QByteArray body = QByteArrayLiteral("500 Internal Server Error\ntxn: ");
    body += request.txnId;
    body += '\n';
    exchange.respond(500, "text/plain; charset=utf-8", body);
}

void ExchangeDriver::runAbortHandler(const Http::Request &request)
{
    cancelTimers();
    Http::Exchange::EventHandler onAbort = std::move(m_onAbort);
    m_onAbort = nullptr;
    if (!onAbort)
        return;
    try {
        onAbort();
    } catch (const std::exception &e) {
        qCCritical(lcExchange) << "abort handler failed on txn" << request.txnId << ":" << e.what();
    } catch (...) {
        qCCritical(lcExchange) << "abort handler failed on txn" << request.txnId;
    }
}

void ExchangeDriver::dropAppCallbacks()
{
    m_onAbort = nullptr;
    m_onDrain = nullptr;
    cancelTimers();
}

void ExchangeDriver::runAfter(Http::Exchange &exchange, qint64 msecs,
                              Http::Exchange::EventHandler handler, QByteArrayView client)
{
    if (!handler)
        return;
    auto *timer = new QTimer(m_context);
    timer->setSingleShot(true);
    m_timers.push_back(timer);
    // The client text is the connection's, which outlives its timers.
    QObject::connect(timer, &QTimer::timeout, m_context,
                     [this, &exchange, timer, client, handler = std::move(handler)] {
                         m_timers.erase(std::remove(m_timers.begin(), m_timers.end(), timer),
                                        m_timers.end());
                         timer->deleteLater();
                         callApp(exchange, "timer", handler, client);
                         if (m_afterCallback)
                             m_afterCallback();
                     });
    timer->start(int(std::clamp<qint64>(msecs, 0, std::numeric_limits<int>::max())));
}

void ExchangeDriver::cancelTimers()
{
    for (QTimer *timer : m_timers) {
        timer->stop();
        timer->deleteLater();
    }
    m_timers.clear();
}

void ExchangeDriver::responseStarted()
{
    m_responseStartMicros = nowMicros();
}

void ExchangeDriver::recordBadInput(const Http::Request &request, int status, const char *reason)
{
    if (status == 400 || status == 431 || status == 414 || status == 501 || status == 505) {
        if (auto *stats = m_manager.server() ? m_manager.server()->stats : nullptr)
            stats->add(Core::StatsRegistry::BadRequests);
    }
    // Security log (CEF): input that closed the connection. No user: an earlier request's would
    // be stale.
    if (isBadInput(status)) {
        Log::logCef(QStringLiteral("Bad request"), 3, &request, QString(),
                    QStringLiteral("BadRequest"),
                    {{QStringLiteral("msg"), QString::fromLatin1(reason)},
                     {QStringLiteral("cn1Label"), QStringLiteral("status")},
                     {QStringLiteral("cn1"), QString::number(status)}});
    }
}

namespace {

// A header name to find among a request's fields without a per-byte loop: its bytes (lower
// case) as two words, head and tail (overlapping when it is shorter than two words), and the
// bits that make its letters lower case. A name matches when it has the same size and
// (word | caseBits) == word of the lower-case name, position by position: a letter may come in
// either case, any other byte only as itself.
struct FieldName
{
    qsizetype size = 0;
    quint64 head = 0, headCase = 0, tail = 0, tailCase = 0;
};

constexpr FieldName fieldName(std::string_view lower) // 4 to 16 bytes
{
    FieldName name;
    name.size = qsizetype(lower.size());
    const size_t width = lower.size() >= 8 ? 8 : 4;
    const size_t tailAt = lower.size() - width;
    for (size_t i = 0; i < width; ++i) {
        const auto h = static_cast<unsigned char>(lower[i]);
        const auto t = static_cast<unsigned char>(lower[tailAt + i]);
        name.head |= quint64(h) << (8 * i);
        name.tail |= quint64(t) << (8 * i);
        name.headCase |= quint64(h >= 'a' && h <= 'z' ? 0x20 : 0) << (8 * i);
        name.tailCase |= quint64(t >= 'a' && t <= 'z' ? 0x20 : 0) << (8 * i);
    }
    return name;
}

constexpr FieldName UserAgentName = fieldName("user-agent");
constexpr FieldName RefererName = fieldName("referer");

bool isFieldName(QByteArrayView name, const FieldName &wanted)
{
    if (name.size() != wanted.size)
        return false;
    const char *p = name.data();
    quint64 head = 0;
    quint64 tail = 0;
    if (wanted.size >= 8) {
        head = qFromLittleEndian<quint64>(p);
        tail = qFromLittleEndian<quint64>(p + wanted.size - 8);
    } else {
        head = qFromLittleEndian<quint32>(p);
        tail = qFromLittleEndian<quint32>(p + wanted.size - 4);
    }
    return (head | wanted.headCase) == wanted.head && (tail | wanted.tailCase) == wanted.tail;
}

// The first User-Agent and Referer fields (as RequestHead::field() finds them), in one pass.
void findLoggedFields(const Http::RequestHead &head, Log::RequestLogRecord &record)
{
    bool userAgent = false;
    bool referer = false;
    for (const Http::HeaderField &f : head.fields) {
        if (!userAgent && isFieldName(f.name, UserAgentName)) {
            record.userAgent = f.value;
            userAgent = true;
            if (referer)
                return;
        } else if (!referer && isFieldName(f.name, RefererName)) {
            record.referer = f.value;
            referer = true;
            if (userAgent)
                return;
        }
    }
}

} // namespace

bool ExchangeDriver::log(const Http::Request &request, const LogFacts &facts)
{
    if (m_logged)
        return false;
    m_logged = true;
    m_finished = true;
    const qint64 endMicros = nowMicros();
    const qint64 started = m_responseStartMicros ? m_responseStartMicros : endMicros;
    if (auto *stats = m_manager.server() ? m_manager.server()->stats : nullptr) {
        // "HTTP/2.0" is the only version of that size with a 2 (HTTP/1 writes "HTTP/1.x").
        const bool http2 = facts.version.size() == 8 && facts.version[5] == '2';
        stats->recordRequest(facts.status, endMicros - m_startMicros, m_bytesIn, m_bytesOut,
                             http2 ? Core::StatsRegistry::Http2Requests
                                   : Core::StatsRegistry::Http1Requests);
    }
    Log::LogSink *sink = Log::Logging::requestLog();
    if (!sink)
        return true;
    const Http::RequestHead &head = request.head;
    // Who the request was for, when an auth app found out: "-" otherwise.
    const Http::Identity *identity = request.attributes.get<Http::Identity>();
    QByteArray user;
    QByteArray token;
    if (identity) {
        user = identity->user.toUtf8();
        token = identity->token.toUtf8();
    }
    char local[48] = "C";
    char *end = std::to_chars(local + 1, local + 24, facts.connectionId).ptr;
    *end++ = '-';
    *end++ = 'R';
    end = std::to_chars(end, local + sizeof(local), facts.requestOnConnection).ptr;
    Log::RequestLogRecord record;
    record.startedAtMsecs = m_wallMsecs;
    // A trusted proxy's client: the connection's "ip:port" is the proxy's.
    QByteArray forwardedClient;
    if (request.forwardedFor) {
        forwardedClient =
            request.peerAddress.toString().toLatin1() + ':' + QByteArray::number(request.peerPort);
    }
    record.client = request.forwardedFor ? QByteArrayView(forwardedClient) : facts.client;
    record.server = facts.server;
    record.method = head.method;
    record.url = head.target;
    record.version = facts.version;
    record.status = facts.status;
    record.bytesReceived = m_bytesIn;
    record.bytesSent = m_bytesOut;
    record.globalTxn = request.txnId;
    record.localTxn = QByteArrayView(local, end - local);
    record.user = user;
    record.token = token;
    findLoggedFields(head, record);
    record.handlingMicros = started - m_startMicros;
    record.sendingMicros = endMicros - started;
    // Formatted straight into this thread's buffer of the sink: no line copied, no allocation.
    const Log::LogOptions &options = Log::Logging::options();
    Log::appendRequestLogLine(*sink, record, options.requestFormat, options.time);
    return true;
}

} // namespace Berth::Engine
