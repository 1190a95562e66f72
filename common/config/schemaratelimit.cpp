#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

// One definition of `rate` and `rate_key`, shared by berth.rate_limit, [@group] and
// [api-gateway], so the three read and document them the same way.
QList<KeySpec> rateLimitKeys(bool rateRequired)
{
    KeySpec rate = key(u"rate"_s, T::String, QString(),
                       u"Requests allowed per key: `N/s`, `N/m` or `N/h`, optionally followed by "
                       u"`burst=N` (how many may come at once; default N), such as `100/s "
                       u"burst=200`; shared by all workers; over it 429 with `Retry-After` "
                       u"(docs/gateway.md, \"Rate limits\")."_s);
    if (rateRequired)
        rate = required(rate);
    return {
        rate,
        key(u"rate_key"_s, T::String, u"ip"_s,
            u"What requests are counted by: `ip` (the client address, after "
            u"`trusted_proxies`), `user` (the authenticated user), `token` (a hash of the "
            u"bearer token) or `header:NAME` (such as `header:X-Api-Key`); a request without "
            u"one is counted by its address."_s),
    };
}

void addRateLimitSchema(Schema &schema)
{
    schema.addApp(AppSpec{
        u"berth.rate_limit"_s,
        u"Limits the rate of the requests reaching the apps after it in a pipeline (`/api = "
        u"ratelimit @users`), per client address, user, token or header, across all workers "
        u"(GCRA); 429 with `Retry-After` beyond it, `RateLimit-*` headers on every answer."_s,
        rateLimitKeys(true)});
}

} // namespace Berth::Config
