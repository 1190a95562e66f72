#include "wsgicall.h"

#include "runtime/offloadpool.h"

#include <unistd.h>

namespace Berth::Wsgi {

namespace {

// "Content-Type" -> "HTTP_CONTENT_TYPE"; empty for a name with '_' (a client could otherwise
// pose as a proxy's "X-Forwarded-For" with "X_Forwarded_For", as gunicorn reasons).
QByteArray environName(QByteArrayView field)
{
    QByteArray name("HTTP_");
    name.reserve(5 + field.size());
    for (char c : field) {
        if (c == '_')
            return {};
        name.append(c == '-' ? '_' : (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c);
    }
    return name;
}

QByteArray addressText(const QHostAddress &address)
{
    return address.isNull() ? QByteArray() : address.toString().toLatin1();
}

} // namespace

WsgiCall::WsgiCall(Http::Exchange &exchange, std::shared_ptr<Core::ThreadMailbox> mailbox)
    : m_mailbox(std::move(mailbox))
    , m_handle(exchange.handle())
    , m_txnId(exchange.request().txnId)
{
    buildEnviron(exchange);
}

void WsgiCall::buildEnviron(const Http::Exchange &exchange)
{
    const Http::Request &request = exchange.request();
    const Http::RequestHead &head = request.head;
    HeaderList &env = m_environ;
    env.reserve(16 + head.fields.size());
    env.emplace_back("REQUEST_METHOD", head.method.toByteArray());
    env.emplace_back("SCRIPT_NAME", request.scriptName);
    env.emplace_back("PATH_INFO", request.pathInfo);
    env.emplace_back("QUERY_STRING", head.query.toByteArray());
    env.emplace_back("REQUEST_URI", head.target.toByteArray());
    env.emplace_back("RAW_URI", head.target.toByteArray());
    env.emplace_back("SERVER_PROTOCOL", request.version.toByteArray());
    const QByteArray serverName =
        request.hostName.isEmpty() ? addressText(request.localAddress) : request.hostName;
    env.emplace_back("SERVER_NAME", serverName);
    env.emplace_back("SERVER_PORT", QByteArray::number(request.localPort));
    env.emplace_back("REMOTE_ADDR",
                     request.unixPeer ? QByteArray("unix:") : addressText(request.peerAddress));
    env.emplace_back("REMOTE_PORT", QByteArray::number(request.peerPort));
    env.emplace_back("wsgi.url_scheme", request.secure ? QByteArray("https") : QByteArray("http"));
    env.emplace_back("berth.txn_id", request.txnId);
    // A chunked body has no CONTENT_LENGTH: the app reads to the end (wsgi.input_terminated).
    if (head.contentLength >= 0 && !head.bodyFollows)
        env.emplace_back("CONTENT_LENGTH", QByteArray::number(head.contentLength));
    bool sawHost = false;
    for (const Http::HeaderField &field : head.fields) {
        if (Http::equalsIgnoreCase(field.name, "content-length"))
            continue;
        if (Http::equalsIgnoreCase(field.name, "content-type")) {
            env.emplace_back("CONTENT_TYPE", field.value.toByteArray());
            continue;
        }
        const QByteArray name = environName(field.name);
        if (name.isEmpty())
            continue;
        sawHost = sawHost || name == "HTTP_HOST";
        auto same = std::find_if(env.begin(), env.end(),
                                 [&](const auto &entry) { return entry.first == name; });
        if (same != env.end()) {
            same->second += name == "HTTP_COOKIE" ? "; " : ", ";
            same->second += field.value;
        } else {
            env.emplace_back(name, field.value.toByteArray());
        }
    }
    if (!sawHost && !head.host.isEmpty())
        env.emplace_back("HTTP_HOST", head.host.toByteArray());
}

void WsgiCall::attach(Http::Exchange &exchange)
{
    std::weak_ptr<WsgiCall> weak = weak_from_this();
    exchange.setAbortHandler([weak] {
        if (auto self = weak.lock())
            self->markGone();
    });
    exchange.setWritableHandler([weak] {
        if (auto self = weak.lock()) {
            std::lock_guard lock(self->m_mutex);
            self->m_outputBlocked = false;
            self->m_changed.notify_all();
        }
    });
    if (!exchange.request().head.hasBody() && !exchange.request().bodyBuffered) {
        // The app's thread may already be waiting in receive(): the call was queued first.
        std::lock_guard lock(m_mutex);
        m_inputEnd = true;
        m_changed.notify_all();
        return;
    }
    Http::Exchange *ex = &exchange;
    exchange.readBody(
        [weak, ex](QByteArrayView chunk) {
            auto self = weak.lock();
            if (!self)
                return;
            std::lock_guard lock(self->m_mutex);
            self->m_input.emplace_back(chunk.toByteArray());
            self->m_inputBytes += chunk.size();
            if (self->m_inputBytes > HighWater && !self->m_inputPaused) {
                self->m_inputPaused = true;
                ex->pauseBody(); // resumed from receive() once the app has read some
            }
            self->m_changed.notify_all();
        },
        [weak] {
            if (auto self = weak.lock()) {
                std::lock_guard lock(self->m_mutex);
                self->m_inputEnd = true;
                self->m_changed.notify_all();
            }
        });
}

bool WsgiCall::alive() const
{
    std::lock_guard lock(m_mutex);
    return !m_gone;
}

void WsgiCall::markGone()
{
    std::lock_guard lock(m_mutex);
    m_gone = true;
    m_changed.notify_all();
}

void WsgiCall::post(std::function<void(Http::Exchange &)> f)
{
    auto self = shared_from_this();
    const bool posted = m_mailbox->post([self, f = std::move(f)] {
        if (Http::Exchange *exchange = self->m_handle.get())
            f(*exchange);
        else
            self->markGone();
    });
    if (!posted)
        markGone();
}

bool WsgiCall::receive(QByteArray *chunk)
{
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [this] { return !m_input.empty() || m_inputEnd || m_gone; });
    if (m_gone)
        return false;
    if (m_input.empty()) {
        chunk->clear();
        return true;
    }
    *chunk = std::move(m_input.front());
    m_input.pop_front();
    m_inputBytes -= chunk->size();
    if (m_inputPaused && m_inputBytes <= HighWater / 2) {
        m_inputPaused = false;
        lock.unlock();
        post([](Http::Exchange &exchange) { exchange.resumeBody(); });
    }
    return true;
}

void WsgiCall::setHead(Http::Exchange &exchange, int status, const HeaderList &headers)
{
    Http::Response &response = exchange.response();
    response.status = status;
    for (const auto &[name, value] : headers)
        response.addHeader(name, value);
}

void WsgiCall::start(int status, HeaderList headers, qint64 contentLength)
{
    post([status, headers = std::move(headers), contentLength](Http::Exchange &exchange) {
        setHead(exchange, status, headers);
        exchange.startResponse(contentLength);
    });
}

bool WsgiCall::write(QByteArray data)
{
    const qint64 size = data.size();
    {
        std::unique_lock lock(m_mutex);
        m_changed.wait(
            lock, [this] { return m_gone || (m_outputPending < HighWater && !m_outputBlocked); });
        if (m_gone)
            return false;
        m_outputPending += size;
    }
    auto self = shared_from_this();
    post([self, data = std::move(data), size](Http::Exchange &exchange) {
        const bool more = exchange.write(data);
        std::lock_guard lock(self->m_mutex);
        self->m_outputPending -= size;
        self->m_outputBlocked = self->m_outputBlocked || !more;
        self->m_changed.notify_all();
    });
    return true;
}

void WsgiCall::respond(int status, HeaderList headers, qint64 contentLength, QByteArray body)
{
    post([status, headers = std::move(headers), contentLength,
          body = std::move(body)](Http::Exchange &exchange) {
        setHead(exchange, status, headers);
        const qint64 length = contentLength >= 0 ? contentLength : body.size();
        exchange.startResponse(length);
        exchange.write(QByteArrayView(body).first(qMin(length, qint64(body.size()))));
        if (body.size() < length && !exchange.request().isHead())
            exchange.abort(); // the app declared more than it sent
        else
            exchange.finish();
    });
}

void WsgiCall::sendFile(int status, HeaderList headers, int fd, qint64 offset, qint64 length)
{
    auto self = shared_from_this();
    const bool posted =
        m_mailbox->post([self, status, headers = std::move(headers), fd, offset, length] {
            Http::Exchange *exchange = self->m_handle.get();
            if (!exchange) {
                ::close(fd);
                return;
            }
            setHead(*exchange, status, headers);
            exchange->startResponse(length);
            exchange->sendFile(fd, offset, length);
        });
    if (!posted)
        ::close(fd);
}

void WsgiCall::finish()
{
    post([](Http::Exchange &exchange) { exchange.finish(); });
}

void WsgiCall::fail()
{
    post([](Http::Exchange &exchange) {
        if (exchange.responseStarted()) {
            exchange.abort();
            return;
        }
        exchange.response().clear();
        exchange.respond(500, "text/plain; charset=utf-8",
                         "500 Internal Server Error\ntxn: " + exchange.request().txnId + '\n');
    });
}

} // namespace Berth::Wsgi
