#include "refreshcall.h"

#include "memberrequest.h"
#include "proxyapp.h"

#include "cache/cachefront.h"
#include "upstream/responsehead.h"

#include <QTimer>

#include <chrono>

namespace Berth::Gateway {

using Upstream::UpstreamConnection;

namespace {

qint64 steadyMicros()
{
    using namespace std::chrono;
    return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
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

    auto *call = new RefreshCall(std::move(group), std::move(transaction));
    MemberHeadOptions options;
    options.refresh = true;
    const QByteArray conditional = call->m_cache->conditionalFields();
    options.conditionalFields = conditional;
    buildMemberHead(*call->m_group, member, exchange.request(), options, call->m_head);
    call->m_member = member;
    call->m_startUs = steadyMicros();
    balancer.started(member);
    call->m_group->countStarted(member);

    bool reused = false;
    call->m_connection = connectToMember(*call->m_group, member, call, &reused);
    if (!call->m_connection)
        call->finish(true);
    else if (reused)
        call->upstreamConnected();
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
    m_connection->beginRequest(this, m_head, "GET", memberTimeouts(m_group->settings));
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
    UpstreamConnection *connection = m_connection;
    m_connection = nullptr;
    if (connection)
        releaseToPool(*m_group, m_member, connection);
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
        UpstreamConnection *connection = m_connection;
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
