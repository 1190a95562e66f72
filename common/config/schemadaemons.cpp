#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addDaemonSchema(Schema &schema)
{
    schema.addSection(
        planned(section(u"daemon:*"_s, u"A background daemon, restarted when it exits."_s,
                        {
                            key(u"call"_s, T::String, QString(), u"Which built-in daemon."_s),
                            key(u"command"_s, T::String, QString(), u"Or a command to run."_s),
                            key(u"interval"_s, T::Duration, u"60s"_s, u"Time between runs."_s),
                        })));
}

} // namespace Berth::Config
