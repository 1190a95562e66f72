#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addSocketAppSchema(Schema &schema)
{
    const QList<KeySpec> socketKeys{
        key(u"call"_s, T::String, QString(), u"Which app."_s),
        range(key(u"port"_s, T::Int, QString(), u"Port to listen on."_s), 0, 65535),
    };
    schema.addSection(planned(section(u"tcp:*"_s, u"A raw TCP app."_s, socketKeys)));
    schema.addSection(planned(section(u"udp:*"_s, u"A UDP app."_s, socketKeys)));
}

} // namespace Berth::Config
