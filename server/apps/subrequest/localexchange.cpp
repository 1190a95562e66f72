#include "localexchange.h"

#include "http/pathnormalizer.h"

#include <QTimer>

#include <exception>
#include <limits>

#include <unistd.h>

namespace Berth::Subrequests {

using Http::equalsIgnoreCase;

namespace {

// A request-target a client could have sent: origin-form, visible ASCII only (no space, CR,
// LF or fragment), so nothing a caller builds can split the request or smuggle another.
bool isSendableTarget(QByteArrayView target)
{
    if (target.isEmpty() || target.front() != '/')
        return false;
    for (char c : target) {
        if (!Http::CharClass::is(c, Http::CharClass::Target))
            return false;
    }
    return true;
}

bool isSendableValue(QByteArrayView value)
{
    for (char c : value) {
        if (c == '\r' || c == '\n' || c == '\0')
            return false;
    }
    return true;
}

// What the parent passes on unless the caller sets it or asks for a clean request.
bool isInheritedField(QByteArrayView name)
{
    return equalsIgnoreCase(name, "cookie") || equalsIgnoreCase(name, "authorization");
}

} // namespace

LocalExchange::LocalExchange(const Http::Request &parent, const LocalRequest &request,
                             QByteArray txnId)
    : m_maxBody(request.maxBody)
{
    Http::Request &own = m_request;
    own.hostName = parent.hostName;
    own.peerAddress = parent.peerAddress;
    own.peerPort = parent.peerPort;
    own.localAddress = parent.localAddress;
    own.localPort = parent.localPort;
    own.secure = parent.secure;
    own.unixPeer = parent.unixPeer;
    own.version = parent.version;
    own.txnId = std::move(txnId);
    int depth = 1;
    if (const SubrequestDepth *outer = parent.attributes.get<SubrequestDepth>())
        depth = outer->depth + 1;
    if (request.inherit)
        own.attributes = parent.attributes;   // the user (Http::Identity), the session, ...
    own.attributes.remove<SubrequestCount>(); // its own subrequests count from 1
    own.attributes.set(SubrequestDepth{depth});
    if (depth > SubrequestDepth::MaxDepth) {
        m_error = QStringLiteral("loop");
        return;
    }
    if (!isSendableTarget(request.target)) {
        m_error = QStringLiteral("bad_target");
        return;
    }
    for (const auto &[name, value] : request.headers) {
        if (!Http::isToken(name) || !isSendableValue(value)) {
            m_error = QStringLiteral("bad_header");
            return;
        }
    }
    if (!Http::isToken(request.method)) {
        m_error = QStringLiteral("bad_target");
        return;
    }
    buildHead(parent, request);
    // Only a local call is routed by it: a member gets the path as given (the target is
    // already known to be sendable).
    m_routable = Http::normalizePath(own.head.path, own.path);
}

LocalExchange::~LocalExchange()
{
    m_timers.clear();
    endLife();
}

void LocalExchange::buildHead(const Http::Request &parent, const LocalRequest &request)
{
    // Every piece goes into one buffer first; the views are taken once it no longer grows.
    struct Piece
    {
        qsizetype offset;
        qsizetype size;
    };
    auto add = [this](QByteArrayView bytes) {
        const Piece piece{m_storage.size(), bytes.size()};
        m_storage.append(bytes);
        return piece;
    };
    std::vector<std::pair<Piece, Piece>> fields;
    const Piece method = add(request.method);
    const Piece target = add(request.target);
    const Piece host = add(parent.head.host);
    fields.emplace_back(add("Host"), host);
    bool callerSets[2] = {false, false};
    for (const auto &[name, value] : request.headers) {
        if (equalsIgnoreCase(name, "host") || equalsIgnoreCase(name, "content-length") ||
            equalsIgnoreCase(name, "transfer-encoding"))
            continue; // the framing and the routing are the exchange's own
        if (equalsIgnoreCase(name, "cookie"))
            callerSets[0] = true;
        if (equalsIgnoreCase(name, "authorization"))
            callerSets[1] = true;
        fields.emplace_back(add(name), add(value));
    }
    if (request.inherit) {
        for (const Http::HeaderField &field : parent.head.fields) {
            if (!isInheritedField(field.name))
                continue;
            if (callerSets[equalsIgnoreCase(field.name, "cookie") ? 0 : 1])
                continue;
            fields.emplace_back(add(field.name), add(field.value));
        }
    }
    const bool sendsLength = !request.body.isEmpty() || request.method == "POST" ||
                             request.method == "PUT" || request.method == "PATCH";
    if (sendsLength)
        fields.emplace_back(add("Content-Length"), add(QByteArray::number(request.body.size())));

    auto view = [this](Piece piece) {
        return QByteArrayView(m_storage.constData() + piece.offset, piece.size);
    };
    Http::RequestHead &head = m_request.head;
    head.method = view(method);
    head.target = view(target);
    const QByteArrayView whole = head.target;
    const qsizetype question = whole.indexOf('?');
    head.path = question < 0 ? whole : whole.first(question);
    head.query = question < 0 ? QByteArrayView() : whole.sliced(question + 1);
    head.host = view(host);
    for (const auto &[name, value] : fields)
        head.fields.push_back(Http::HeaderField{view(name), view(value)});
    head.contentLength = sendsLength ? request.body.size() : -1;
    if (!request.body.isEmpty()) {
        m_request.bufferedBody = request.body;
        m_request.bodyBuffered = true;
    }
}

void LocalExchange::run(const Http::AppChain *chain, int index)
{
    if (m_complete)
        return;
    if (!m_error.isEmpty()) {
        end(m_error);
        return;
    }
    if (!chain)
        Http::respondWithError(*this, m_routable ? 404 : 400);
    else
        chain->runFrom(*this, index); // catches what handle() throws
}

void LocalExchange::cancel(const QString &error)
{
    if (m_complete)
        return;
    m_complete = true;
    m_error = error;
    m_onComplete = nullptr;
    m_writable = nullptr;
    // Moved out first: the handler may set another (or clear it) while it runs.
    EventHandler onAbort = std::move(m_onAbort);
    m_onAbort = nullptr;
    if (onAbort) {
        try {
            onAbort();
        } catch (...) {
            // The app is being dropped anyway; nothing is left to answer.
        }
    }
    dropTimers();
    endLife();
}

void LocalExchange::dropTimers()
{
    // A timer may be the caller (a timed answer): it dies once the current callback returns.
    for (auto &timer : m_timers) {
        timer->stop();
        timer.release()->deleteLater();
    }
    m_timers.clear();
}

void LocalExchange::end(const QString &error)
{
    if (m_complete)
        return;
    m_complete = true;
    if (!error.isEmpty())
        m_error = error;
    m_onAbort = nullptr;
    m_writable = nullptr;
    dropTimers();
    endLife();
    if (std::function<void()> onComplete = std::move(m_onComplete))
        onComplete();
}

void LocalExchange::readBody(DataHandler onData, EventHandler onEnd)
{
    // The body is in memory (bufferedBody), delivered at once as a middleware's buffered one.
    if (!m_request.bufferedBody.isEmpty() && onData)
        onData(m_request.bufferedBody);
    if (onEnd)
        onEnd();
}

void LocalExchange::captureHead(int status)
{
    m_started = true;
    m_status = status;
    m_headers = m_response.headers();
}

void LocalExchange::appendBody(QByteArrayView data)
{
    if (m_complete || m_request.isHead())
        return;
    if (m_body.size() + data.size() > m_maxBody) {
        end(QStringLiteral("body_too_large"));
        return;
    }
    m_body.append(data);
}

void LocalExchange::respond(int status, QByteArrayView contentType, QByteArray body)
{
    if (m_complete || m_started)
        return;
    m_response.status = status;
    if (!contentType.isEmpty())
        m_response.setHeader("Content-Type", contentType);
    captureHead(status);
    appendBody(body);
    end(QString());
}

void LocalExchange::startResponse(qint64 contentLength)
{
    (void)contentLength;
    if (m_complete || m_started)
        return;
    captureHead(m_response.status);
}

bool LocalExchange::write(QByteArrayView data)
{
    if (m_complete)
        return false; // over the cap: the writer waits for a writable handler that never runs
    if (!m_started)
        captureHead(m_response.status);
    appendBody(data);
    return !m_complete;
}

void LocalExchange::sendFile(int fd, qint64 offset, qint64 length)
{
    if (!m_started)
        captureHead(m_response.status);
    // A file is read into the captured body, up to the cap (a regular file: never blocks long).
    QByteArray chunk(64 * 1024, Qt::Uninitialized);
    while (length > 0 && !m_complete) {
        const ssize_t n =
            ::pread(fd, chunk.data(), size_t(qMin<qint64>(chunk.size(), length)), off_t(offset));
        if (n <= 0)
            break;
        appendBody(QByteArrayView(chunk.constData(), n));
        offset += n;
        length -= n;
    }
    ::close(fd);
    if (!m_complete && length > 0) {
        end(QStringLiteral("app_aborted"));
        return;
    }
    end(QString());
}

void LocalExchange::finish()
{
    if (m_complete)
        return;
    if (!m_started)
        captureHead(m_response.status);
    end(QString());
}

void LocalExchange::abort()
{
    if (m_complete)
        return;
    if (!m_started)
        m_status = 500;
    end(QStringLiteral("app_aborted"));
}

void LocalExchange::runAfter(qint64 msecs, EventHandler handler)
{
    if (m_complete)
        return;
    auto timer = std::make_unique<QTimer>();
    timer->setSingleShot(true);
    QTimer *raw = timer.get();
    QObject::connect(raw, &QTimer::timeout, [this, handler = std::move(handler)] {
        try {
            handler();
        } catch (const std::exception &e) {
            appFailed(QStringLiteral("subrequest"), e.what());
        } catch (...) {
            appFailed(QStringLiteral("subrequest"), "unknown exception");
        }
    });
    raw->start(int(qBound(qint64(0), msecs, qint64(std::numeric_limits<int>::max()))));
    m_timers.push_back(std::move(timer));
}

} // namespace Berth::Subrequests
