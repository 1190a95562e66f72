#include "exchangedriver.h"

#include "connectionmanager.h"
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

#include <algorithm>
#include <charconv>
#include <exception>
#include <limits>
#include <string>
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

// "Example.COM:8080" -> "example.com"; "[::1]:80" -> "[::1]".
QByteArrayView hostWithoutPort(QByteArrayView host)
{
    qsizetype end = host.size();
    if (host.startsWith('[')) {
        const qsizetype close = host.indexOf(']');
        end = close < 0 ? host.size() : close + 1;
    } else if (const qsizetype colon = host.lastIndexOf(':'); colon >= 0) {
        end = colon;
    }
    return host.first(end);
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
    const QByteArrayView host = hostWithoutPort(head.host);
    if (request.hostName.size() != host.size() ||
        host.compare(request.hostName, Qt::CaseInsensitive) != 0)
        request.hostName = host.toByteArray().toLower();
    if (head.path == "*") {
        request.path = QByteArrayLiteral("*");
        return nullptr;
    }
    if (!Http::normalizePath(head.path, request.path)) {
        *badPath = true;
        return nullptr;
    }
    if (!m_manager.router())
        return nullptr;
    Http::RequestRouter::Match match = m_manager.router()->resolve(request.hostName, request.path);
    request.scriptName = std::move(match.scriptName);
    request.pathInfo = std::move(match.pathInfo);
    return match.chain;
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

bool ExchangeDriver::log(const Http::Request &request, const LogFacts &facts)
{
    if (m_logged)
        return false;
    m_logged = true;
    m_finished = true;
    const qint64 endMicros = nowMicros();
    const qint64 started = m_responseStartMicros ? m_responseStartMicros : endMicros;
    if (auto *stats = m_manager.server() ? m_manager.server()->stats : nullptr) {
        stats->recordRequest(facts.status, endMicros - m_startMicros, m_bytesIn, m_bytesOut);
        stats->add(facts.version == "HTTP/2.0" ? Core::StatsRegistry::Http2Requests
                                               : Core::StatsRegistry::Http1Requests);
    }
    Log::LogSink *sink = Log::Logging::requestLog();
    if (!sink)
        return true;
    const Http::RequestHead &head = request.head;
    // Who the request was for, when an auth app found out: "-" otherwise.
    const Http::Identity *identity = request.attributes.get<Http::Identity>();
    const QByteArray user =
        identity && !identity->user.isEmpty() ? identity->user.toUtf8() : QByteArray();
    const QByteArray token =
        identity && !identity->token.isEmpty() ? identity->token.toUtf8() : QByteArray();
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
    record.userAgent = head.field("User-Agent");
    record.referer = head.field("Referer");
    record.handlingMicros = started - m_startMicros;
    record.sendingMicros = endMicros - started;
    // One line buffer per thread, reused: no allocation per request once it has grown.
    thread_local QByteArray line;
    line.resize(0);
    const Log::LogOptions &options = Log::Logging::options();
    Log::appendRequestLogLine(line, record, options.requestFormat, options.time);
    sink->append(line);
    return true;
}

} // namespace Berth::Engine
