#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addGatewaySchema(Schema &schema)
{
    schema.addSection(planned(section(
        u"@*"_s, u"A member group: upstream servers a route `@NAME` balances over (API gateway)."_s,
        {
            key(u"members"_s, T::List, QString(), u"Upstream addresses, `host:port`."_s),
            key(u"balance"_s, T::String, u"round_robin"_s, u"`round_robin` or `least_conn`."_s),
            key(u"health_check"_s, T::String, QString(), u"Path polled to check a member."_s),
            key(u"roles"_s, T::List, QString(), u"Roles allowed to call the group."_s),
            key(u"ips"_s, T::List, QString(), u"Networks allowed to call the group."_s),
            key(u"ssl"_s, T::Bool, u"no"_s, u"Talk to the members over TLS."_s),
            key(u"cache"_s, T::Duration, QString(),
                u"How long cacheable GET responses are cached."_s),
        })));
    schema.addSection(planned(section(
        u"api-gateway"_s, u"Authentication for the API gateway."_s,
        {
            key(u"enable_gateway"_s, T::Bool, u"no"_s, u"Turn the gateway on."_s),
            key(u"authenticate"_s, T::Bool, u"no"_s, u"Require a bearer token."_s),
            key(u"realm"_s, T::String, QString(), u"Realm named in challenges."_s),
            secret(key(u"secret_key"_s, T::String, QString(), u"Key for JWT HS256 tokens."_s)),
            key(u"tokens_file"_s, T::Path, QString(), u"File of opaque bearer tokens."_s),
        })));
}

} // namespace Berth::Config
