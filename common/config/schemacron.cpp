#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addCronSchema(Schema &schema)
{
    schema.addSection(planned(rawLines(
        section(u"crontab:line"_s, u"Cron jobs, one per line in crontab(5) syntax."_s, {}))));
}

} // namespace Berth::Config
