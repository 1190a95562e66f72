#pragma once

#include "balancer.h"
#include "groupsettings.h"

#include "apps/ratelimit/ratelimitpolicy.h"
#include "memberresolver.h"
#include "pipeline/app.h"
#include "upstream/memberaddress.h"

#include <QByteArray>
#include <QList>

#include <memory>

namespace Berth::Pipeline {
class AppRegistry;
struct AppSetup;
} // namespace Berth::Pipeline

namespace Berth::Core {
class ServerContext;
}

namespace Berth::Upstream {
class ClientTlsContext;
}

namespace Berth::Gateway {

namespace Cache {
struct GroupCache;
}

// What every event-loop thread of a worker shares for one group: the settings, the balancer
// with its member state, the TLS client context.
struct GroupRuntime
{
    GroupSettings settings;
    std::unique_ptr<Balancer> balancer;
    std::shared_ptr<Upstream::ClientTlsContext> tls;
    QList<QByteArray> memberHostHeaders; // `host = member`: "10.0.0.5:5001"
    QList<QString> poolKeys;             // ConnectionPool keys, one per member
    // Per member, read once for the connections opened under churn: the socket address of a
    // literal or unix member (invalid for a DNS name: the resolver has it) and the name sent
    // as SNI and verified (ssl_name, else the member's host; empty for a unix member).
    QList<Upstream::ResolvedAddress> literalAddresses;
    QList<QByteArray> serverNames;
    std::unique_ptr<MemberResolver> resolver; // members' socket addresses (DNS re-resolved)
    Core::ServerContext *server = nullptr;
    std::shared_ptr<Cache::GroupCache> cache; // null without `cache`
    // `rate` of the group (or of [api-gateway]): checked before a member is picked; null: none.
    std::shared_ptr<Apps::RateLimitPolicy> rateLimit;

    // berth.stats entries per member ("gw:@users:10.0.0.5:5001:requests"), -1 when there are no
    // stats (tests, berthd check) or the table is full.
    struct MemberStats
    {
        int requests = -1;  // sent to the member (Sum)
        int failures = -1;  // failed on it (Sum)
        int inFlight = -1;  // in flight now (Sum over workers)
        int down = -1;      // 1 while passive health keeps it out (Max over workers)
        int latencyUs = -1; // response-time EWMA, microseconds (Max over workers)
    };
    QList<MemberStats> stats;
    void countStarted(int member);
    void countFinished(int member, bool failed);
    void setDown(int member, bool down);
};

// `/path = @group`: a reverse proxy to the group's members (docs/gateway.md). One instance per
// event-loop thread; each request becomes a ProxyCall that lives until the exchange ends.
class ProxyApp final : public Pipeline::App
{
public:
    explicit ProxyApp(std::shared_ptr<GroupRuntime> group)
        : m_group(std::move(group))
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override;

private:
    std::shared_ptr<GroupRuntime> m_group;
};

// Registers the `@` route scheme.
void registerProxyApp(Pipeline::AppRegistry &registry);

// The process's runtime of the group `call` names ("@users", configured by [@users]), shared
// with its routes; null, with a diagnostic at setup.section, when the group is missing or
// broken. For apps that send requests to a group themselves (subrequests, berth.compose).
std::shared_ptr<GroupRuntime> openGroup(const QString &call, const Pipeline::AppSetup &setup);

} // namespace Berth::Gateway
