#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addWsgiSchema(Schema &schema)
{
    // Planned: the embedded Python WSGI host (berth.wsgi, and `wsgi:` routes).
    schema.addApp(AppSpec{u"berth.wsgi"_s, u"Hosts a Python WSGI app (planned)."_s, {}, false});
}

} // namespace Berth::Config
