#pragma once

#include "balancer.h"

#include <QByteArray>
#include <QList>
#include <QString>

#include <chrono>

namespace Berth::Config {
class Config;
}

namespace Berth::Gateway {

// A member group's [@NAME] section.
struct GroupSettings
{
    QString name; // "@users"
    QList<MemberSpec> members;
    Balancer::Method balance = Balancer::Method::RoundRobin;
    int keepalive = 32;
    std::chrono::milliseconds keepaliveTimeout{60000};
    std::chrono::milliseconds connectTimeout{5000};
    std::chrono::milliseconds responseTimeout{60000};
    std::chrono::milliseconds readTimeout{60000};
    std::chrono::milliseconds queueTimeout{5000};
    int retries = 1;
    int maxFails = 1;
    std::chrono::milliseconds failTimeout{10000};
    bool ssl = false;
    bool sslVerify = true;
    QString sslCa;
    QString sslCert;
    QString sslKey;
    QString sslName;                       // SNI and verified name; empty: the member's host
    QString host = QStringLiteral("pass"); // pass | member | a name
    bool stripPrefix = false;
    bool via = false;
    // Active health checks (from the berth.gateway_health service, one per server).
    QString healthCheck; // path; empty: none
    std::chrono::milliseconds healthInterval{5000};
    std::chrono::milliseconds resolveInterval{60000}; // DNS names looked up again; 0: never
    std::chrono::milliseconds healthTimeout{2000};
    int healthStatusMin = 200;
    int healthStatusMax = 399;
    int rise = 2;
    int fall = 3;
    // The response cache (cache/cachefront.h); off unless `cache` is set.
    bool cache = false;
    std::chrono::milliseconds cacheTtl{0}; // for responses that carry no freshness
    qint64 cacheMemory = 64 << 20;
    qint64 cacheMaxEntry = 1 << 20;
    std::chrono::milliseconds cacheLockTimeout{5000};
    QString cacheDir; // the disk tier; empty: none
    qint64 cacheDisk = qint64(1) << 30;

    // Reads [section]; problems are recorded as diagnostics at the key's file:line. False when
    // the group can't serve.
    static bool fromConfig(const Config::Config &config, const QString &section,
                           GroupSettings *settings);
    // The shared-memory stat that carries a member's active health ("hc:@users:10.0.0.5:5001";
    // the member's index when the name would be too long): 0 unknown, 1 down, 2 up.
    QString healthStatName(int member) const;
    // The prefix of a member's balancer stats ("gw:@users:10.0.0.5:5001:", then requests,
    // failures, in_flight, down, latency_us; the member's index when the name would be too long).
    QString memberStatPrefix(int member) const;
    // The shared-memory stat that drains a member ("dr:@users:10.0.0.5:5001", set by the admin
    // API's drain): above 0, the balancer gives it no new requests; those in flight finish.
    QString drainStatName(int member) const;
};

} // namespace Berth::Gateway
