#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

namespace {

// The keys [api-gateway] and an [app:NAME] with call = berth.gateway share.
QList<KeySpec> gatewayKeys()
{
    return {
        key(u"authenticate"_s, T::Bool, u"no"_s,
            u"Require an `Authorization: Bearer` token (401 without a valid one)."_s),
        key(u"realm"_s, T::String, u"Berth"_s, u"Realm named in the Bearer challenge."_s),
        secret(key(u"secret_key"_s, T::String, QString(),
                   u"HMAC key of HS256/HS384/HS512 tokens (at least 32 bytes advised)."_s)),
        key(u"secret_key_file"_s, T::Path, QString(),
            u"File holding `secret_key` (a trailing line break is dropped), read when the "
            u"configuration is loaded; a relative name is looked up in `$CREDENTIALS_DIRECTORY` "
            u"when that is set."_s),
        key(u"secret_file"_s, T::Path, QString(),
            u"File holding an HMAC key (raw bytes; one trailing line break dropped)."_s),
        key(u"public_key"_s, T::Path, QString(),
            u"PEM public key or certificate (RSA of 2048 bits or more, EC P-256/384/521, "
            u"Ed25519) for RS*/PS*/ES*/EdDSA tokens."_s),
        key(u"jwks"_s, T::String, QString(),
            u"JWKS of verification keys, selected by `kid`: a file (re-read when it changes) or "
            u"an `https://` URL (fetched every `jwks_interval`, off the event loop)."_s),
        key(u"jwks_interval"_s, T::Duration, u"5m"_s,
            u"How often a `jwks` URL is fetched again; a failed fetch keeps the last keys."_s),
        key(u"jwks_ca"_s, T::Path, QString(),
            u"CA bundle a `jwks` URL's certificate is checked against (default: the system "
            u"store)."_s),
        key(u"tokens_file"_s, T::Path, QString(),
            u"Opaque bearer tokens, one per line: `TOKEN USER ROLES EXPIRY` (TOKEN or "
            u"`sha256:HEX`, ROLES comma-separated or `-`, EXPIRY ISO 8601 or `-`). Re-read "
            u"when it changes."_s),
        key(u"auth_handler"_s, T::String, QString(),
            u"`plugin:LIBRARY[:NAME]`: a plugin's auth handler, asked about bearer tokens that "
            u"are neither in `tokens_file` nor JWTs the keys verify (Skitai's handle_token)."_s),
        key(u"issuer"_s, T::String, QString(), u"Required `iss` of JWTs (empty: any)."_s),
        key(u"audience"_s, T::String, QString(),
            u"Required `aud` of JWTs, one of a list (empty: any)."_s),
        key(u"leeway"_s, T::Duration, u"30s"_s,
            u"Clock skew allowed when checking `exp`, `nbf` and `iat`."_s),
        key(u"roles"_s, T::List, QString(),
            u"Roles allowed (any one of them); a caller without one gets 403."_s),
        key(u"roles_all"_s, T::List, QString(), u"Roles a caller must all have (403)."_s),
        key(u"ips"_s, T::List, QString(),
            u"Client networks allowed, IPv4 or IPv6 CIDR (`10.0.0.0/8, ::1`); the client is "
            u"the address after `trusted_proxies`. Empty: every address."_s),
        key(u"deny_ips"_s, T::List, QString(), u"Client networks refused (403), checked first."_s),
        key(u"methods"_s, T::List, QString(),
            u"Methods allowed (`GET, POST`); others get 403. Empty: every method."_s),
    };
}

} // namespace

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
            key(u"resolve_interval"_s, T::Duration, u"60s"_s,
                u"How often members named by DNS are looked up again, in the background (a "
                u"failed lookup keeps the last address); 0: only when the group is built."_s),
            key(u"connect_timeout"_s, T::Duration, u"5s"_s,
                u"Time allowed to connect to a member (and finish the TLS handshake)."_s),
            key(u"response_timeout"_s, T::Duration, QString(),
                u"Time allowed between the end of the request and the response head (504); "
                u"empty: [limits] response_timeout (60s)."_s),
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
                u"With `[api-gateway] enable_gateway`: roles allowed to call the group (any one "
                u"of them); default: [api-gateway]'s."_s),
            key(u"roles_all"_s, T::List, QString(),
                u"With `enable_gateway`: roles a caller must all have; default: [api-gateway]'s."_s),
            key(u"ips"_s, T::List, QString(),
                u"With `enable_gateway`: client networks allowed (`10.0.0.0/8, ::1`); default: "
                u"[api-gateway]'s, else every address."_s),
            key(u"deny_ips"_s, T::List, QString(),
                u"With `enable_gateway`: client networks refused (403), checked first; default: "
                u"[api-gateway]'s."_s),
            key(u"methods"_s, T::List, QString(),
                u"With `enable_gateway`: methods allowed (`GET, POST`); others get 403; default: "
                u"[api-gateway]'s, else every method."_s),
            key(u"cache"_s, T::Duration, QString(),
                u"Cache the group's responses (RFC 9111), fresh for this long when the member "
                u"gives no freshness (`Cache-Control`, `Expires`); empty: no cache."_s),
            key(u"cache_memory"_s, T::Size, u"64M"_s,
                u"Memory for cached responses, shared by every worker; the least recently "
                u"used go first."_s),
            key(u"cache_max_entry"_s, T::Size, u"1M"_s,
                u"Largest response stored; bigger ones are proxied and not cached."_s),
            key(u"cache_dir"_s, T::Path, QString(),
                u"Directory of the cache's disk tier: responses are also kept there and "
                u"survive restarts; empty: memory only."_s),
            key(u"cache_disk"_s, T::Size, u"1G"_s,
                u"Size of the disk tier; the least recently used files go first."_s),
            key(u"cache_lock_timeout"_s, T::Duration, u"5s"_s,
                u"How long concurrent misses for one URL wait for the one request that "
                u"fetches it before going to the member themselves."_s),
        } + rateLimitKeys(false)));
    schema.addSection(section(
        u"api-gateway"_s,
        u"The API gateway (docs/gateway.md): bearer tokens and access rules for every `@group` "
        u"route (with `enable_gateway`) and for routes naming the `gateway` app."_s,
        [] {
            QList<KeySpec> keys{key(u"enable_gateway"_s, T::Bool, u"no"_s,
                                    u"Guard every `@group` route with the gateway, using the "
                                    u"group's own `roles`, `ips`, `deny_ips` and `methods`."_s)};
            keys += gatewayKeys();
            keys += rateLimitKeys(false);
            return keys;
        }()));
    schema.addApp(AppSpec{
        u"berth.gateway"_s,
        u"API gateway middleware (Skitai's [api-gateway]): client networks, bearer tokens (JWT "
        u"or opaque), roles and methods, before the apps after it in a pipeline. The route name "
        u"`gateway` without an [app:gateway] section uses [api-gateway]."_s,
        gatewayKeys()});
}

} // namespace Berth::Config
