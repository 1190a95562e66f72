#pragma once

#include "runtime/ratelimiter.h"

#include <QByteArray>
#include <QString>

#include <memory>

namespace Berth::Config {
class Config;
}

namespace Berth::Core {
class ServerContext;
}

namespace Berth::Http {
class Exchange;
struct Request;
} // namespace Berth::Http

namespace Berth::Apps {

// What a request is counted by: `rate_key = ip|user|token|header:NAME`.
struct RateKey
{
    enum class Kind { Ip, User, Token, Header };
    Kind kind = Kind::Ip;
    QByteArray header; // Kind::Header: the field name

    static bool parse(const QString &text, RateKey *out, QString *error);
    // The request's key, prefixed by its kind so an IP never collides with a user name. A
    // request without a user, bearer token or that header is counted by its client address.
    QByteArray of(const Http::Request &request) const;
};

// `rate` and `rate_key` of one section ([app:NAME] with berth.rate_limit, a [@group], or
// [api-gateway]) applied to exchanges: the shared GCRA limiter (runtime/ratelimiter.h), the
// RateLimit-* headers, the 429 answer, its stats ("rl:NAME:allowed", "rl:NAME:limited") and
// CEF events (one per key and window, counted across workers). One per section and process.
class RateLimitPolicy
{
public:
    // Reads `rate`/`rate_key` of `section` (falling back to `fallbackSection`'s when the
    // section has no `rate`); bad values go to the configuration's diagnostics at file:line.
    // nullptr when no rate is set or a value is bad. `name` names the stats and the region.
    static std::shared_ptr<RateLimitPolicy>
    fromConfig(const Config::Config &config, const QString &section, const QString &fallbackSection,
               const QString &name, Core::ServerContext *server);

    RateLimitPolicy(const QString &name, Core::RateSpec spec, RateKey key,
                    Core::ServerContext *server, Core::RateLimiter::Clock clock = {});

    // True: the request may go on (RateLimit-* headers set on its response). False: it was
    // answered 429 with Retry-After.
    bool admit(Http::Exchange &exchange);

    const QString &name() const { return m_name; }

private:
    QString m_name;
    RateKey m_key;
    Core::RateLimiter m_limiter;
    Core::ServerContext *m_server = nullptr;
    int m_allowedStat = -1;
    int m_limitedStat = -1;
    QByteArray m_limitText;
};

} // namespace Berth::Apps
