#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addAdminSchema(Schema &schema)
{
    schema.addSection(planned(
        section(u"admin"_s, u"The admin API that berth-admin connects to."_s,
                {
                    key(u"enabled"_s, T::Bool, u"no"_s, u"Turn the admin API on."_s),
                    key(u"ip"_s, T::String, u"127.0.0.1"_s, u"Address it listens on."_s),
                    range(key(u"port"_s, T::Int, u"8099"_s, u"Port it listens on."_s), 0, 65535),
                    key(u"token_file"_s, T::Path, QString(), u"File holding the access token."_s),
                })));
}

} // namespace Berth::Config
