#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addMailSchema(Schema &schema)
{
    schema.addSection(planned(
        section(u"mailer"_s, u"Delivers mail from a spool directory."_s,
                {
                    key(u"smtpserver"_s, T::String, QString(), u"SMTP server, `host:port`."_s),
                    key(u"user"_s, T::String, QString(), u"SMTP user."_s),
                    secret(key(u"password"_s, T::String, QString(), u"SMTP password."_s)),
                    key(u"ssl"_s, T::Bool, u"no"_s, u"Use TLS."_s),
                    key(u"max_retry"_s, T::Int, u"10"_s, u"Delivery attempts per message."_s),
                    key(u"undelivers_keep_max_days"_s, T::Int, u"30"_s,
                        u"Days undeliverable mail is kept."_s),
                    key(u"spool_dir"_s, T::Path, QString(), u"Spool directory."_s),
                })));
}

} // namespace Berth::Config
