#include "proxyapp.h"

#include "proxycall.h"
#include "refreshcall.h"

#include "cache/cachefront.h"

#include "apps/gateway/gatewayapp.h"
#include "http/exchange.h"
#include "pipeline/appregistry.h"
#include "runtime/servercontext.h"
#include "runtime/sharedregion.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"
#include "upstream/clienttls.h"

#include <config/config.h>

#include <QHash>
#include <QLoggingCategory>
#include <QMutex>
#include <QMutexLocker>

#include <limits>
#include <memory>

Q_LOGGING_CATEGORY(lcProxyApp, "berth.gateway.cache")

namespace Berth::Gateway {

namespace {

// One GroupRuntime per group and process, so the event-loop threads share member state; keyed
// by the section's text, so a reload that changes the group starts afresh.
std::shared_ptr<GroupRuntime>
sharedGroup(const QString &key, const std::function<std::shared_ptr<GroupRuntime>()> &make)
{
    static QMutex mutex;
    static QHash<QString, std::weak_ptr<GroupRuntime>> groups;
    QMutexLocker lock(&mutex);
    if (std::shared_ptr<GroupRuntime> existing = groups.value(key).lock())
        return existing;
    std::shared_ptr<GroupRuntime> made = make();
    if (made)
        groups.insert(key, made);
    return made;
}

void declareStats(GroupRuntime &group)
{
    Core::StatsRegistry *registry = group.server ? group.server->stats : nullptr;
    for (int i = 0; i < group.settings.members.size(); ++i) {
        GroupRuntime::MemberStats entry;
        if (registry) {
            const QString prefix = group.settings.memberStatPrefix(i);
            using T = Core::StatType;
            entry.requests = registry->declare(prefix + u"requests"_qs, T::Sum);
            entry.failures = registry->declare(prefix + u"failures"_qs, T::Sum);
            entry.inFlight = registry->declare(prefix + u"in_flight"_qs, T::Sum);
            entry.down = registry->declare(prefix + u"down"_qs, T::Max);
            entry.latencyUs = registry->declare(prefix + u"latency_us"_qs, T::Max);
        }
        group.stats.append(entry);
    }
}

// Reads the verdicts of the gateway health service from shared memory: the stat "hc:@g:member"
// in whichever slot holds it (the service's), 0 unknown, 1 down, 2 up; and the admin API's
// drain flags ("dr:@g:member", above 0: drained), which make a member look down to the balancer
// (no new requests; those in flight finish). A stat's index is looked up until its writer has
// published it (at most once a second per member). The balancer asks on every pick; the
// verdict is kept for VerdictMs (on the pick's clock), so a pick costs two atomic loads instead
// of a scan of every worker slot: a check's or a drain's verdict applies within VerdictMs.
constexpr qint64 LookupRetryMs = 1000;
constexpr qint64 VerdictMs = 100;

void attachHealth(GroupRuntime &group)
{
    Core::SharedState *shared =
        group.server && group.server->stats ? group.server->stats->shared() : nullptr;
    if (!shared)
        return;
    // Shared by the event-loop threads of the process: every field is an atomic read or written
    // on its own (relaxed); two threads refreshing one verdict at once both store a right one.
    struct Reader
    {
        Core::SharedState *shared;
        QStringList names;
        std::vector<std::atomic<int>> index;
        std::vector<std::atomic<qint64>> lastLookupMs;
        std::vector<std::atomic<int>> verdict;
        std::vector<std::atomic<qint64>> verdictUntilMs;
        Reader(Core::SharedState *s, QStringList n)
            : shared(s)
            , names(std::move(n))
            , index(size_t(names.size()))
            , lastLookupMs(size_t(names.size()))
            , verdict(size_t(names.size()))
            , verdictUntilMs(size_t(names.size()))
        {
            for (auto &i : index)
                i.store(-1);
            for (auto &t : lastLookupMs)
                t.store(std::numeric_limits<qint64>::min() / 2);
        }
        int state(int member, qint64 nowMs)
        {
            const size_t m = size_t(member);
            if (nowMs < verdictUntilMs[m].load(std::memory_order_relaxed))
                return verdict[m].load(std::memory_order_relaxed);
            const int value = read(m, nowMs);
            verdict[m].store(value, std::memory_order_relaxed);
            verdictUntilMs[m].store(nowMs + VerdictMs, std::memory_order_relaxed);
            return value;
        }
        int read(size_t m, qint64 nowMs)
        {
            int stat = index[m].load(std::memory_order_relaxed);
            if (stat < 0) {
                if (nowMs - lastLookupMs[m].load(std::memory_order_relaxed) < LookupRetryMs)
                    return 0;
                lastLookupMs[m].store(nowMs, std::memory_order_relaxed);
                stat = shared->findStat(names[int(m)]);
                if (stat < 0)
                    return 0;
                index[m].store(stat, std::memory_order_relaxed);
            }
            int best = 0;
            for (int i = 0; i < shared->slotCount(); ++i) {
                const Core::WorkerSlot *slot = shared->slot(i);
                if (slot->isLive())
                    best = qMax(best, int(slot->values[stat].load(std::memory_order_relaxed)));
            }
            return best;
        }
    };
    QStringList health;
    QStringList drain;
    for (int i = 0; i < group.settings.members.size(); ++i) {
        health.append(group.settings.healthStatName(i));
        drain.append(group.settings.drainStatName(i));
    }
    auto drained = std::make_shared<Reader>(shared, drain);
    std::shared_ptr<Reader> checked;
    if (!group.settings.healthCheck.isEmpty())
        checked = std::make_shared<Reader>(shared, health);
    group.balancer->setHealthSource([drained, checked](int member, qint64 nowMs) {
        if (drained->state(member, nowMs) > 0)
            return 1;
        return checked ? checked->state(member, nowMs) : 0;
    });
}

std::shared_ptr<GroupRuntime> buildGroup(const Pipeline::AppSetup &setup, const QString &section)
{
    const Config::Config &config = setup.config;
    auto group = std::make_shared<GroupRuntime>();
    group->server = setup.server;
    if (!GroupSettings::fromConfig(config, section, &group->settings))
        return nullptr;
    const GroupSettings &s = group->settings;
    if (s.ssl) {
        Upstream::ClientTlsContext::Options options;
        options.verify = s.sslVerify;
        options.caFile = s.sslCa;
        options.certFile = s.sslCert;
        options.keyFile = s.sslKey;
        QString error;
        group->tls = Upstream::ClientTlsContext::create(options, &error);
        if (!group->tls) {
            config.addDiagnostic({Config::Diagnostic::Severity::Error,
                                  config.location(section, QStringLiteral("ssl")),
                                  QStringLiteral("[%1] %2").arg(section, error)});
            return nullptr;
        }
    }
    group->balancer =
        std::make_unique<Balancer>(s.members, s.balance, s.maxFails, qint64(s.failTimeout.count()));
    QList<Upstream::MemberAddress> addresses;
    for (const MemberSpec &member : s.members) {
        const Upstream::MemberAddress &address = member.address;
        group->poolKeys.append(section + u' ' + address.text() + (s.ssl ? u"+tls"_qs : QString()));
        group->memberHostHeaders.append(address.isUnix ? QByteArrayLiteral("localhost")
                                                       : address.text().toUtf8());
        Upstream::ResolvedAddress literal;
        Upstream::resolveLiteral(address, &literal);
        group->literalAddresses.append(literal);
        QByteArray serverName = s.sslName.toUtf8();
        if (serverName.isEmpty() && !address.isUnix)
            serverName = address.host.toUtf8();
        group->serverNames.append(serverName);
        addresses.append(address);
    }
    group->resolver =
        std::make_unique<MemberResolver>(addresses, qint64(s.resolveInterval.count()));
    group->resolver->resolveAll(Core::monotonicMs());
    declareStats(*group);
    attachHealth(*group);
    // `berthd check` builds the groups too, but is no server: it must not leave a region in
    // /dev/shm nor a cache directory behind.
    if (s.cache && Core::SharedRegion::inServer()) {
        auto cache = std::make_shared<Cache::GroupCache>();
        cache->group = s.name;
        cache->ttlMs = qint64(s.cacheTtl.count());
        cache->maxEntry = s.cacheMaxEntry;
        cache->lockTimeoutMs = qint64(s.cacheLockTimeout.count());
        QString error;
        cache->store = Cache::ResponseStore::open(s.name, s.cacheMemory, &error);
        if (!cache->store) {
            // No shared memory: a cache of this process only still works.
            qCWarning(lcProxyApp).noquote()
                << QStringLiteral("%1: cache in process memory only (%2)").arg(s.name, error);
            cache->store = Cache::ResponseStore::local(s.cacheMemory);
        }
        if (!s.cacheDir.isEmpty())
            cache->disk = std::make_unique<Cache::DiskStore>(s.cacheDir, s.cacheDisk);
        cache->declareStats(group->server ? group->server->stats : nullptr);
        std::weak_ptr<GroupRuntime> weak = group; // the group owns its cache
        cache->refreshInBackground = [weak](std::unique_ptr<Cache::Transaction> transaction,
                                            Http::Exchange &exchange) {
            if (std::shared_ptr<GroupRuntime> owner = weak.lock())
                RefreshCall::start(std::move(owner), exchange, std::move(transaction));
        };
        group->cache = std::move(cache);
    }
    group->rateLimit = Apps::RateLimitPolicy::fromConfig(config, section, u"api-gateway"_qs,
                                                         section, setup.server);
    return group;
}

QString sectionKey(const Config::Config &config, const QString &section)
{
    QString key = section;
    if (const Config::Section *own = config.section(section)) {
        for (const Config::Entry &entry : own->entries)
            key += u'\n' + entry.key + u'=' + entry.value;
    }
    return key;
}

} // namespace

void GroupRuntime::countStarted(int member)
{
    if (Core::StatsRegistry *registry = server ? server->stats : nullptr) {
        registry->add(stats[member].requests);
        registry->add(stats[member].inFlight);
    }
}

void GroupRuntime::countFinished(int member, bool failed)
{
    if (Core::StatsRegistry *registry = server ? server->stats : nullptr) {
        registry->add(stats[member].inFlight, -1);
        if (failed)
            registry->add(stats[member].failures);
        registry->set(stats[member].latencyUs,
                      balancer->state(member).latencyEwmaUs.load(std::memory_order_relaxed));
    }
}

void GroupRuntime::setDown(int member, bool down)
{
    if (Core::StatsRegistry *registry = server ? server->stats : nullptr)
        registry->set(stats[member].down, down ? 1 : 0);
}

Pipeline::Outcome ProxyApp::handle(Http::Exchange &exchange)
{
    if (m_group->rateLimit && !m_group->rateLimit->admit(exchange))
        return Pipeline::Outcome::Answered; // 429
    if (m_group->cache) {
        Cache::Transaction::begin(m_group->cache, exchange,
                                  [group = m_group, handle = exchange.handle()](
                                      std::unique_ptr<Cache::Transaction> transaction) mutable {
                                      if (Http::Exchange *ex = handle.get())
                                          ProxyCall::start(group, *ex, std::move(transaction));
                                  });
        return Pipeline::Outcome::Answered;
    }
    ProxyCall::start(m_group, exchange);
    return Pipeline::Outcome::Answered;
}

std::shared_ptr<GroupRuntime> openGroup(const QString &call, const Pipeline::AppSetup &setup)
{
    const QString section = call.toLower();
    const Config::Config &config = setup.config;
    if (!config.hasSection(section)) {
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              config.location(setup.section, QString()),
                              QStringLiteral("route %1: no [%1] section").arg(call)});
        return nullptr;
    }
    return sharedGroup(sectionKey(config, section), [&] { return buildGroup(setup, section); });
}

void registerProxyApp(Pipeline::AppRegistry &registry)
{
    registry.addRouteScheme(
        QStringLiteral("@"),
        [](const QString &call, const Pipeline::AppSetup &setup) -> std::unique_ptr<Pipeline::App> {
            std::shared_ptr<GroupRuntime> group = openGroup(call, setup);
            if (!group)
                return nullptr;
            // [api-gateway] enable_gateway: the group's roles/ips/methods guard it.
            const QString section = call.toLower();
            return guardGroup(setup, section, std::make_unique<ProxyApp>(std::move(group)));
        });
}

} // namespace Berth::Gateway
