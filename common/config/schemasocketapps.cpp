#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addSocketAppSchema(Schema &schema)
{
    const QList<KeySpec> common{
        required(key(u"call"_s, T::String, QString(),
                     u"The app that serves the socket: a built-in (below) or `plugin:NAME`."_s)),
        key(u"ip"_s, T::String, u"127.0.0.1"_s,
            u"Address the socket is bound to (`*` for every IPv4 address)."_s),
        required(range(key(u"port"_s, T::Int, QString(),
                           u"Port, opened by the master before it drops privileges."_s),
                       1, 65535)),
        range(key(u"workers"_s, T::Int, u"1"_s,
                  u"Processes serving this app (0 counts as 1; with `[server] workers = 0` "
                  u"every app runs inside the single process)."_s),
              0, 1024),
        range(key(u"threads"_s, T::Int, u"1"_s, u"Event-loop threads per process."_s), 1, 256),
    };
    QList<KeySpec> tcpKeys = common;
    tcpKeys += {
        key(u"tls"_s, T::Bool, u"no"_s,
            u"Terminate TLS with the `[tls]` certificate and key before the app sees the bytes."_s),
        range(key(u"max_connections"_s, T::Int, u"1024"_s,
                  u"Connections served at once per process (0: no limit); one more is closed at "
                  u"once, counted and logged."_s),
              0),
        key(u"idle_timeout"_s, T::Duration, u"300s"_s,
            u"A connection without traffic in either direction for this long is closed "
            u"(0: never)."_s),
        key(u"send_timeout"_s, T::Duration, u"60s"_s,
            u"A client that reads nothing of a full output buffer for this long is "
            u"disconnected."_s),
        key(u"output_buffer"_s, T::Size, u"256K"_s,
            u"Output a connection may queue before the app is told to wait (back-pressure)."_s),
    };
    QList<KeySpec> udpKeys = common;
    udpKeys += {
        range(key(u"max_datagram_bytes"_s, T::Int, u"65507"_s,
                  u"Larger datagrams are dropped and counted."_s),
              1, 65535),
    };

    SectionSpec tcp = section(u"tcp:*"_s,
                              u"A TCP app: a listening socket whose connections are served by "
                              u"`call` (see [tcp-udp.md](tcp-udp.md))."_s,
                              tcpKeys);
    tcp.apps.append({u"berth.tcp_echo"_s,
                     u"Echoes every byte back (brim.tcp_echo); half-close is echoed too."_s,
                     {range(key(u"chunk_read"_s, T::Int, u"65536"_s,
                                u"The most bytes read from the client before echoing them "
                                u"back."_s),
                            1, 16 * 1024 * 1024)}});
    SectionSpec udp = section(u"udp:*"_s,
                              u"A UDP app: a bound socket whose datagrams are served by `call` "
                              u"(see [tcp-udp.md](tcp-udp.md))."_s,
                              udpKeys);
    udp.apps.append({u"berth.udp_echo"_s,
                     u"Sends every datagram back to its sender "
                     u"(brim.udp_echo)."_s,
                     {}});
    schema.addSection(tcp);
    schema.addSection(udp);
}

} // namespace Berth::Config
