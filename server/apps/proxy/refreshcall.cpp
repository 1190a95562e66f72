#include "refreshcall.h"

#include "proxyapp.h"

#include "cache/cachefront.h"
#include "runtime/servercontext.h"
#include "runtime/sharedstate.h"
#include "upstream/connectionpool.h"
#include "upstream/responsehead.h"

#include <QTimer>

#include <chrono>

namespace Berth::Gateway {

using Http::equalsIgnoreCase;
using Upstream::UpstreamConnection;

namespace {

qint64 steadyMicros()
{
    using namespace std::chrono;
    return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

// Request fields not passed on: framing, hop-by-hop, the client's own validators (the cache
// sends the stored ones) and what the proxy rebuilds.
bool skippedField(QByteArrayView name)
{
    static const char *const names[] = {"host",
                                        "content-length",
                                        "expect",
                                        "if-none-match",
                                        "if-modified-since",
                                        "if-match",
                                        "if-range",
                                        "x-berth-txn",
                                        "forwarded",
                                        "x-forwarded-for",
                                        "x-forwarded-proto",
                                        "x-forwarded-host"};
    for (const char *n : names) {
        if (equalsIgnoreCase(name, QByteArrayView(n)))
            return true;
    }
    return Upstream::isHopByHopField(name);
}

} // namespace

void RefreshCall::start(std::shared_ptr<GroupRuntime> group, Http::Exchange &exchange,
                        std::unique_ptr<Cache::Transaction> transaction)
{
    Balancer &balancer = *group->balancer;
    int member = -1;
    const qint64 nowMs = steadyMicros() / 1000;
    if (balancer.pick(0, 0, nowMs, &member) != Balancer::Pick::Chosen)
        return; // the transaction's claim ends with it

    const Http::Request &request = exchange.request();
    const Http::RequestHead &head = request.head;
    const GroupSettings &settings = group->settings;
    QByteArray out = "GET ";
    QByteArrayView path = head.path;
    if (settings.stripPrefix && !request.scriptName.isEmpty() &&
        path.startsWith(request.scriptName))
        path = path.sliced(request.scriptName.size());
    if (path.isEmpty() || path.front() != '/')
        out += '/';
    out += path.toByteArray();
    if (!head.query.isEmpty())
        out += '?' + head.query.toByteArray();
    out += " HTTP/1.1\r\nHost: ";
    if (settings.host == QLatin1String("pass"))
        out += head.host.toByteArray();
    else if (settings.host == QLatin1String("member"))
        out += group->memberHostHeaders[member];
    else
        out += settings.host.toUtf8();
    out += "\r\n";
    for (const Http::HeaderField &field : head.fields) {
        if (!skippedField(field.name))
            out += field.name.toByteArray() + ": " + field.value.toByteArray() + "\r\n";
    }
    out += "X-Berth-Txn: " + request.txnId + "\r\n";
    out += transaction->conditionalFields();
    out += "\r\n";

    auto *call = new RefreshCall(std::move(group), std::move(transaction));
    call->m_head = std::move(out);
    call->m_member = member;
    call->m_startUs = steadyMicros();
    balancer.started(member);
    call->m_group->countStarted(member);

    const QString &key = call->m_group->poolKeys[member];
    if (UpstreamConnection *idle = Upstream::ConnectionPool::forCurrentThread().take(key)) {
        call->m_connection = idle;
        call->upstreamConnected();
        return;
    }
    Upstream::ResolvedAddress address;
    const Upstream::MemberAddress &spec = balancer.spec(member).address;
    if (!Upstream::resolveLiteral(spec, &address))
        address = call->m_group->resolver->address(
            member, Core::monotonicMs(),
            call->m_group->server ? call->m_group->server->offload : nullptr);
    if (!address.valid()) {
        call->finish(true);
        return;
    }
    QByteArray serverName = settings.sslName.toUtf8();
    if (serverName.isEmpty() && !spec.isUnix)
        serverName = spec.host.toUtf8();
    auto *connection = new UpstreamConnection(address, call->m_group->tls, serverName);
    call->m_connection = connection;
    connection->open(call,
                     {settings.connectTimeout, settings.responseTimeout, settings.readTimeout});
}

RefreshCall::RefreshCall(std::shared_ptr<GroupRuntime> group,
                         std::unique_ptr<Cache::Transaction> cache)
    : m_group(std::move(group))
    , m_cache(std::move(cache))
{}

RefreshCall::~RefreshCall() = default;

void RefreshCall::upstreamConnected()
{
    if (m_finished || !m_connection)
        return;
    const GroupSettings &s = m_group->settings;
    m_connection->beginRequest(this, m_head, "GET",
                               {s.connectTimeout, s.responseTimeout, s.readTimeout});
    m_connection->endRequest();
}

void RefreshCall::upstreamHead(const Upstream::ResponseHead &head)
{
    m_storing = m_cache->backgroundHead(head);
}

void RefreshCall::upstreamData(QByteArrayView data)
{
    if (m_storing)
        m_cache->responseData(data);
}

void RefreshCall::upstreamEnd()
{
    if (m_storing)
        m_cache->responseEnd();
    UpstreamConnection *connection = m_connection.data();
    m_connection = nullptr;
    if (connection) {
        const GroupSettings &s = m_group->settings;
        Upstream::ConnectionPool::forCurrentThread().put(m_group->poolKeys[m_member], connection,
                                                         s.keepalive, s.keepaliveTimeout);
    }
    finish(false);
}

void RefreshCall::upstreamFailed(UpstreamConnection::Failure, bool)
{
    finish(true);
}

void RefreshCall::finish(bool failed)
{
    if (m_finished)
        return;
    m_finished = true;
    if (m_connection) {
        UpstreamConnection *connection = m_connection.data();
        m_connection = nullptr;
        connection->close();
    }
    if (m_member >= 0) {
        Balancer &balancer = *m_group->balancer;
        if (failed)
            balancer.failed(m_member, steadyMicros() / 1000);
        else
            balancer.succeeded(m_member, steadyMicros() - m_startUs);
        m_group->countFinished(m_member, failed);
        m_member = -1;
    }
    m_cache.reset();
    QTimer::singleShot(0, [this] { delete this; });
}

} // namespace Berth::Gateway
