#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addComposeSchema(Schema &schema)
{
    // berth.compose: subrequests to member groups and local routes, combined into one JSON
    // answer (docs/gateway.md, "Subrequests and berth.compose").
    schema.addApp(AppSpec{
        u"berth.compose"_s,
        u"A backend for frontend: sends the `call_NAME` requests in parallel (to member groups "
        u"or to this server's own routes) and answers 200 with their JSON bodies combined "
        u"under their names, a failed call being `null` with its error under `_calls`; see "
        u"gateway.md."_s,
        {
            key(u"call_*"_s, T::String, QString(),
                u"One call per key, named by what follows `call_`: `[METHOD] [@group] "
                u"/path?query`, e.g. `@users /v1/users/{user}`; without a group the path is "
                u"served by this server's routes. `{name}` is the request's query parameter "
                u"`name` (`{user}`: the authenticated user first), `{1}`, `{2}`... the path "
                u"segments after the route's mount point; values are URL-encoded."_s),
            key(u"timeout"_s, T::Duration, u"5s"_s,
                u"Longest wait for one call; it is then `null` with the error `timeout` (a "
                u"member's connection is closed)."_s),
            key(u"deadline"_s, T::Duration, u"10s"_s,
                u"Longest wait for all calls together; the answer is sent then, unfinished "
                u"calls being `null` with the error `deadline`."_s),
            key(u"max_body"_s, T::Size, u"1M"_s,
                u"Largest response body a call may return; a longer one is `null` with the "
                u"error `body_too_large`."_s),
            key(u"inherit"_s, T::Bool, u"yes"_s,
                u"Calls carry the client's user, session, `Cookie` and `Authorization`; `no`: "
                u"clean requests."_s),
        }});
}

} // namespace Berth::Config
