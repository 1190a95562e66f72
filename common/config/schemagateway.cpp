#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addGatewaySchema(Schema &schema)
{
    schema.addSection(section(
        u"@*"_s,
        u"A member group: the upstream servers a route `/path = @NAME` proxies to and balances "
        u"over (docs/gateway.md)."_s,
        QList<KeySpec>{
            key(u"members"_s, T::List, QString(),
                u"Upstream servers: `host:port`, `[v6]:port` or `unix:/path`, each optionally "
                u"followed by `weight=N`, `max_conns=N` or `backup`."_s),
            key(u"balance"_s, T::String, u"round_robin"_s,
                u"`round_robin` (weighted), `least_conn`, `ip_hash` or `random_two` (the less "
                u"loaded of two random members)."_s),
            range(key(u"keepalive"_s, T::Int, u"32"_s,
                      u"Idle keep-alive connections kept per member and event-loop thread."_s),
                  0, 10000),
            key(u"keepalive_timeout"_s, T::Duration, u"60s"_s,
                u"How long an idle upstream connection is kept."_s),
            key(u"connect_timeout"_s, T::Duration, u"5s"_s,
                u"Time allowed to connect to a member (and finish the TLS handshake)."_s),
            key(u"response_timeout"_s, T::Duration, u"60s"_s,
                u"Time allowed between the end of the request and the response head (504)."_s),
            key(u"read_timeout"_s, T::Duration, u"60s"_s,
                u"Longest stall between two reads of the response or two writes of the request."_s),
            range(key(u"retries"_s, T::Int, u"1"_s,
                      u"How many other members a request is tried on when its member fails before "
                      u"any response byte reached the client (idempotent methods, or bodies not "
                      u"yet sent)."_s),
                  0, 64),
            range(key(u"max_fails"_s, T::Int, u"1"_s,
                      u"Failures within `fail_timeout` that take a member out for `fail_timeout` "
                      u"(0: never)."_s),
                  0, 1000),
            key(u"fail_timeout"_s, T::Duration, u"10s"_s,
                u"The window failures are counted in, and how long a failed member stays out."_s),
            range(key(u"max_conns"_s, T::Int, u"0"_s,
                      u"Requests in flight per member and worker process (0: no limit); more "
                      u"wait up to `queue_timeout`, then 503."_s),
                  0, 1000000),
            key(u"queue_timeout"_s, T::Duration, u"5s"_s,
                u"How long a request waits for a member under `max_conns` before a 503."_s),
            key(u"host"_s, T::String, u"pass"_s,
                u"The Host sent upstream: `pass` (the client's), `member` (the member's "
                u"address) or a name."_s),
            key(u"strip_prefix"_s, T::Bool, u"no"_s,
                u"Remove the route's mount point from the path sent upstream."_s),
            key(u"via"_s, T::Bool, u"no"_s, u"Add a `Via` field to proxied requests."_s),
            key(u"ssl"_s, T::Bool, u"no"_s, u"Talk to the members over TLS (SNI sent)."_s),
            key(u"ssl_verify"_s, T::Bool, u"yes"_s,
                u"Verify the members' certificates and names (`no` to opt out)."_s),
            key(u"ssl_ca"_s, T::Path, QString(),
                u"CA bundle the members' certificates are checked against (default: the "
                u"system store)."_s),
            key(u"ssl_name"_s, T::String, QString(),
                u"Name sent as SNI and verified (default: the member's host)."_s),
            key(u"ssl_cert"_s, T::Path, QString(), u"Client certificate shown to members."_s),
            key(u"ssl_key"_s, T::Path, QString(), u"Key of `ssl_cert` (default: in that file)."_s),
            key(u"health_check"_s, T::String, QString(),
                u"Path polled on every member to check it (`/health`); empty: passive checks "
                u"only. Polled from one place per server, not by every worker."_s),
            key(u"health_interval"_s, T::Duration, u"5s"_s,
                u"Time between two checks of a member."_s),
            key(u"health_timeout"_s, T::Duration, u"2s"_s,
                u"Time a check may take (connect and answer) before it counts as failed."_s),
            key(u"health_status"_s, T::String, u"200-399"_s,
                u"Statuses that pass a check: a range `200-399` or a single code."_s),
            range(key(u"rise"_s, T::Int, u"2"_s,
                      u"Passed checks in a row that bring a member back."_s),
                  1, 100),
            range(
                key(u"fall"_s, T::Int, u"3"_s, u"Failed checks in a row that take a member out."_s),
                1, 100),
            key(u"roles"_s, T::List, QString(),
                u"Planned (API gateway): roles allowed to call the group; not applied yet."_s),
            key(u"ips"_s, T::List, QString(),
                u"Planned (API gateway): networks allowed to call the group; not applied yet."_s),
            key(u"cache"_s, T::Duration, QString(),
                u"Planned: response cache TTL; not applied yet."_s),
        } + rateLimitKeys(false)));
    schema.addSection(planned(section(
        u"api-gateway"_s, u"Authentication for the API gateway."_s,
        QList<KeySpec>{
            key(u"enable_gateway"_s, T::Bool, u"no"_s, u"Turn the gateway on."_s),
            key(u"authenticate"_s, T::Bool, u"no"_s, u"Require a bearer token."_s),
            key(u"realm"_s, T::String, QString(), u"Realm named in challenges."_s),
            secret(key(u"secret_key"_s, T::String, QString(), u"Key for JWT HS256 tokens."_s)),
            key(u"tokens_file"_s, T::Path, QString(), u"File of opaque bearer tokens."_s),
        } + rateLimitKeys(false))));
}

} // namespace Berth::Config
