#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addMailSchema(Schema &schema)
{
    schema.addSection(section(
        u"mailer"_s,
        u"The mail delivery agent (Skitai's `[smtpda]`): apps queue mail in `spool_dir` "
        u"(`Mail::queue`, the `berth.mail` app) and one `mailer` process delivers it over SMTP "
        u"with retries (docs/mail.md). The agent runs when `smtpserver` is set."_s,
        {
            key(u"smtpserver"_s, T::String, QString(),
                u"SMTP server the agent delivers to, `host:port` (port 25 when omitted); empty: "
                u"no agent runs, mail stays queued."_s),
            key(u"ssl"_s, T::String, u"no"_s,
                u"`no` (plain SMTP), `starttls` (upgrade with STARTTLS, required) or `tls` "
                u"(implicit TLS, as on port 465; `yes` means `tls`)."_s),
            key(u"ssl_verify"_s, T::Bool, u"yes"_s,
                u"Verify the server's certificate and name; `no` only for testing."_s),
            key(u"ssl_ca"_s, T::Path, QString(),
                u"PEM file of the CA certificates to trust instead of the system's (a private "
                u"CA)."_s),
            key(u"user"_s, T::String, QString(),
                u"SMTP user for AUTH (PLAIN or LOGIN, as the server offers); empty: no AUTH."_s),
            secret(key(u"password"_s, T::String, QString(), u"SMTP password."_s)),
            range(key(u"max_retry"_s, T::Int, u"10"_s,
                      u"Delivery attempts per message before it goes to `undelivered/`."_s),
                  1, 1000),
            key(u"retry_interval"_s, T::Duration, u"60s"_s,
                u"Wait after the first transient failure (4xx, connection refused, timeout, TLS "
                u"failure), doubled after each further one, at most 1h; at least 1s."_s),
            range(key(u"undelivers_keep_max_days"_s, T::Int, u"30"_s,
                      u"Days a message stays in `undelivered/` before it is purged."_s),
                  0),
            key(u"spool_dir"_s, T::Path, QString(),
                u"Spool directory (queue/, undelivered/, tmp/); required when `smtpserver` is "
                u"set or an app routes `berth.mail`. The HTTP workers and the agent must both "
                u"be able to write it."_s),
            key(u"max_message_bytes"_s, T::Size, u"25M"_s,
                u"Largest message accepted (bodies, headers and decoded attachments)."_s),
            key(u"log"_s, T::String, u"smtpda.log"_s,
                u"The agent's log in `log_dir`, one line per delivery attempt (stderr without "
                u"`log_dir`)."_s),
            key(u"connect_timeout"_s, T::Duration, u"30s"_s,
                u"Time to connect to the SMTP server, TLS included."_s),
            key(u"timeout"_s, T::Duration, u"5m"_s,
                u"Time one delivery (the whole SMTP conversation) may take."_s),
        }));
    schema.addApp(AppSpec{
        u"berth.mail"_s,
        u"Queues mail for the `[mailer]` agent: POST a JSON message (docs/mail.md) or a form "
        u"with the same fields; answers 202 `{\"id\": ...}` once the message is on disk, 400 "
        u"with the reason, 507 when the spool is full, 503 when it is unavailable."_s,
        {key(u"allow"_s, T::List, u"127.0.0.0/8, ::1"_s,
             u"Client addresses or CIDR ranges that may queue mail; others get 403."_s)}});
}

} // namespace Berth::Config
