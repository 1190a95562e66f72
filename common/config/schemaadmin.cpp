#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addAdminSchema(Schema &schema)
{
    schema.addSection(section(
        u"admin"_s,
        u"The admin API (docs/admin-api.md): JSON under /api/v1 on a listener of its own, served "
        u"by one `admin` child process, for berth-admin and scripts."_s,
        {
            key(u"enabled"_s, T::Bool, u"no"_s, u"Turn the admin API on."_s),
            key(u"ip"_s, T::String, u"127.0.0.1"_s,
                u"Address it listens on (keep it on loopback unless TLS and tokens guard it)."_s),
            range(key(u"port"_s, T::Int, u"8099"_s,
                      u"Port it listens on (ignored when `unix` is set)."_s),
                  0, 65535),
            key(u"unix"_s, T::Path, QString(),
                u"Listen on this unix socket instead of ip:port (mode 0660, group `unix_group`)."_s),
            key(u"unix_group"_s, T::String, QString(),
                u"Group that owns the unix socket (empty: the server's)."_s),
            key(u"tls"_s, T::Bool, u"no"_s,
                u"Speak TLS, with `cert`/`key` or else the [tls] certificate."_s),
            key(u"cert"_s, T::Path, QString(),
                u"Certificate chain (PEM) for the admin listener; empty: [tls] cert."_s),
            key(u"key"_s, T::Path, QString(),
                u"Private key (PEM) for the admin listener; empty: [tls] key."_s),
            key(u"client_ca"_s, T::Path, QString(),
                u"CA certificates (PEM) that client certificates of the admin listener must "
                u"chain to; empty: [tls] client_ca."_s),
            key(u"verify_client"_s, T::String, QString(),
                u"Client certificates on the admin listener: `no`, `optional` or `require` "
                u"(a bearer token is still needed); empty: [tls] verify_client."_s),
            key(u"token_file"_s, T::Path, QString(),
                u"Bearer tokens, one per line `TOKEN SCOPE [LABEL]` (scope read or admin); "
                u"created 0600 with one admin token when missing. Empty: admin.tokens in "
                u"log_dir."_s),
            key(u"allowed_hosts"_s, T::List, QString(),
                u"Host header names accepted besides the listener's own address "
                u"(DNS-rebinding defence)."_s),
            range(key(u"max_failures"_s, T::Int, u"20"_s,
                      u"Authentication failures a client address may make per minute before "
                      u"it gets 429."_s),
                  1, 100000),
            key(u"apply_timeout"_s, T::Duration, u"60s"_s,
                u"How long PUT /api/v1/config and POST reload wait for the new generation."_s),
            range(key(u"history"_s, T::Int, u"20"_s,
                      u"Configuration backups kept for config/history and rollback."_s),
                  1, 1000),
        }));
}

} // namespace Berth::Config
