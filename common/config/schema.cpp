#include "schema.h"
#include "schemabuilder.h"

namespace Berth::Config {

using namespace Qt::StringLiterals;

namespace {

using namespace SchemaBuilder;
using T = ValueType;

Schema makeBuiltin()
{
    Schema schema;
    const QList<KeySpec> includeKeys{
        key(u"additional_confs"_s, T::List, QString(),
            u"More configuration files to read right after this one, separated by spaces or "
            u"commas (double quotes around names with spaces); `~` is expanded and relative "
            u"names are relative to this file's directory. A name with `*`, `?` or `[...]` is a "
            u"pattern (`servers-enabled/*.conf`, as nginx `include`): the files it matches are "
            u"read in sorted order, and no match is not an error."_s)};
    QList<KeySpec> berthKeys = includeKeys;
    berthKeys.append(
        key(u"plugin_dirs"_s, T::List, u"/usr/lib/berth/plugins plugins"_s,
            u"Directories searched, in order, for the plugin a `call = plugin:NAME` names "
            u"(`libNAME.so`, then `NAME.so`); relative ones are relative to the directory of the "
            u"file that sets them (of the main configuration file for the default). See "
            u"docs/plugins.md."_s));
    schema.addSection(section(u"berth"_s, u"About the configuration itself."_s, berthKeys));
    schema.addSection(section(
        u"brim"_s, u"The same as [berth], so brimd configurations can be included unchanged."_s,
        includeKeys));

    schema.addSection(section(
        u"server"_s, u"The server: its name, HTTP listener, processes and files."_s,
        {
            key(u"name"_s, T::String, u"berth"_s,
                u"Server name, used in logs and reported by the stats app."_s),
            key(u"ip"_s, T::String, u"127.0.0.1"_s,
                u"Address the HTTP listener binds to: `0.0.0.0` for every IPv4 address, `::` "
                u"for every IPv6 address (and IPv4 ones too, unless an IPv4 listener has the "
                u"same port); `listen` replaces it."_s),
            range(key(u"port"_s, T::Int, u"8080"_s, u"TCP port of the HTTP listener."_s), 0, 65535),
            key(u"listen"_s, T::String, QString(),
                u"The HTTP listeners, comma-separated, replacing ip, port and [tls] port when "
                u"set: `ADDRESS [tls] [http2] [proxy_protocol] [name=NAME]` with ADDRESS "
                u"`IPv4:PORT`, `[IPv6]:PORT`, `*:PORT` or `unix:/absolute/path` (see "
                u"docs/operations.md)."_s),
            key(u"unix_mode"_s, T::Mode, QString(),
                u"Permissions of the unix-socket listeners' files, in octal (660); empty keeps "
                u"what the umask gives."_s),
            key(u"unix_group"_s, T::String, QString(),
                u"Group the unix-socket listeners' files are given to (the proxy's group, so "
                u"it can connect); empty keeps berthd's."_s),
            key(u"trusted_proxies"_s, T::List, QString(),
                u"Peers (addresses, CIDR subnets, `unix` for unix-socket peers) whose "
                u"X-Forwarded-For / Forwarded and X-Forwarded-Proto headers name the real "
                u"client and scheme; from every other peer those headers are ignored."_s),
            range(key(u"workers"_s, T::Int, u"1"_s,
                      u"Number of HTTP worker processes; 0 runs everything in one process "
                      u"(debugging)."_s),
                  0, 1024),
            range(key(u"threads"_s, T::Int, u"1"_s, u"Event-loop threads per worker process."_s), 1,
                  256),
            range(key(u"offload_threads"_s, T::Int, u"4"_s,
                      u"Threads per worker process that run blocking work off the event loop: "
                      u"bcrypt checks of berth.basic_auth and the session store's SQL."_s),
                  1, 256),
            range(key(u"offload_queue"_s, T::Int, u"256"_s,
                      u"Blocking jobs that may wait for an offload thread, per worker process; "
                      u"a request whose job finds the queue full is answered 503."_s),
                  1, 1000000),
            key(u"user"_s, T::String, QString(),
                u"User to switch to once the listeners are open, when started as root."_s),
            key(u"group"_s, T::String, QString(),
                u"Group to switch to once the listeners are open; empty uses the user's primary "
                u"group."_s),
            key(u"umask"_s, T::Mode, u"022"_s,
                u"File-creation mask of the server processes, in octal, set before any file "
                u"is created (log files, pid file, sessions database, collected logs); empty "
                u"keeps the mask berthd was started with."_s),
            key(u"mime_types"_s, T::Path, QString(),
                u"A file in the mime.types format (`/etc/mime.types`: `type/subtype ext ext...` "
                u"per line) whose entries extend the built-in Content-Type table and win over "
                u"it."_s),
            key(u"mime_types_builtin"_s, T::Bool, u"yes"_s,
                u"Whether the built-in Content-Type table is used; `no` with `mime_types` makes "
                u"that file replace it (an extension it does not list is "
                u"`application/octet-stream`)."_s),
            key(u"allow_root"_s, T::Bool, u"no"_s,
                u"Allow the server to keep running as root when no `user` is set."_s),
            key(u"pid_file"_s, T::Path, QString(),
                u"File `berthd start` writes the master process id to, and `stop`, `reload` and "
                u"`status` read it from."_s),
            key(u"log_dir"_s, T::Path, QString(),
                u"Directory for server.log, request.log, app.log and cef.log; empty logs to "
                u"standard error."_s),
            key(u"graceful_timeout"_s, T::Duration, u"30s"_s,
                u"How long a graceful stop or reload waits for requests in flight before closing "
                u"their connections."_s),
            key(u"worker_timeout"_s, T::Duration, u"30s"_s,
                u"A worker that shows no sign of life for this long is killed and restarted."_s),
            range(key(u"max_requests"_s, T::Int, u"0"_s,
                      u"Restart a worker after it has handled this many requests; 0 never "
                      u"does."_s),
                  0),
            range(key(u"max_requests_jitter"_s, T::Int, u"0"_s,
                      u"Up to this many requests, chosen at random, added to max_requests for "
                      u"each worker so that workers do not restart together."_s),
                  0),
            key(u"cef_syslog"_s, T::Bool, u"no"_s,
                u"Also send the security events of cef.log to syslog (facility auth)."_s),
            key(u"request_log"_s, T::Bool, u"yes"_s,
                u"Write request.log, one line per request; `off` writes none."_s),
            key(u"request_log_buffer"_s, T::Size, u"64K"_s,
                u"request.log lines each serving thread gathers before they are written "
                u"in one write (as nginx's `buffer=`); lines are written within 100 ms "
                u"whatever the size, and on USR1, reload and stop; at most 1M."_s),
            key(u"request_log_format"_s, T::String, u"skitai"_s,
                u"Format of request.log: `skitai` (Skitai's fields), `combined` (the "
                u"Apache/nginx combined format that goaccess, awstats and fail2ban read) or "
                u"`json` (one JSON object per line with every skitai field, typed)."_s),
            key(u"log_time"_s, T::String, u"local"_s,
                u"Zone of log timestamps: `local`, or `utc` (ISO 8601 with milliseconds, such as "
                u"`2026-11-21 19:05:06.123Z`)."_s),
            key(u"log_level"_s, T::String, u"debug"_s,
                u"Least severe message server.log and app.log keep: `debug`, `info`, `warning` "
                u"or `error`."_s),
            key(u"syslog"_s, T::Bool, u"no"_s,
                u"Also send server.log and request.log lines to syslog (facility daemon)."_s),
            range(key(u"open_file_cache"_s, T::Int, u"1000"_s,
                      u"Paths each static-file route remembers per event-loop thread (the open "
                      u"file, its size, ETag and Last-Modified, or that it is missing), as "
                      u"nginx's `open_file_cache`; 0 looks every request's file up afresh."_s),
                  0, 1000000),
            key(u"open_file_cache_valid"_s, T::Duration, u"1s"_s,
                u"How long a remembered path is trusted before it is looked up again: a file "
                u"changed, replaced or deleted on disk may be served as it was for this long."_s),
            key(u"latency_buckets"_s, T::List,
                u"0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10"_s,
                u"Upper bounds in seconds, ascending (at most 20), of the request latency "
                u"histogram that /metrics and /stats?format=prometheus report; the default is "
                u"Prometheus' default set."_s),
        }));

    schema.addSection(section(
        u"limits"_s,
        u"Protocol limits. Each has a safe default; a request beyond one is answered with the "
        u"status in parentheses."_s,
        {
            key(u"max_uri_bytes"_s, T::Size, u"8K"_s, u"Longest request target (414)."_s),
            key(u"max_header_bytes"_s, T::Size, u"32K"_s,
                u"Largest request head: request line and every header field together (431)."_s),
            key(u"max_field_bytes"_s, T::Size, u"8K"_s, u"Largest single header field (431)."_s),
            range(key(u"max_headers"_s, T::Int, u"100"_s,
                      u"Most header fields in one request (431)."_s),
                  1),
            key(u"max_body_bytes"_s, T::Size, u"10M"_s,
                u"Largest request body (413); an app's own max_body_bytes overrides it for the "
                u"routes that use the app."_s),
            key(u"header_timeout"_s, T::Duration, u"10s"_s,
                u"Time the whole request head may take to arrive, against slow-header attacks "
                u"(408)."_s),
            key(u"body_timeout"_s, T::Duration, u"60s"_s,
                u"Longest wait between two reads of a request body (408)."_s),
            key(u"send_timeout"_s, T::Duration, u"60s"_s,
                u"Longest wait for a client that does not read the response; then the connection "
                u"is closed."_s),
            key(u"idle_timeout"_s, T::Duration, u"75s"_s,
                u"How long an idle keep-alive connection stays open."_s),
            key(u"response_timeout"_s, T::Duration, u"60s"_s,
                u"Time a gateway member may take between the end of the request and the "
                u"response head (504), for every [@group] that does not set its own."_s),
            range(key(u"max_connections"_s, T::Int, u"10000"_s,
                      u"Most client connections open at once; further connections are refused "
                      u"(503)."_s),
                  1),
            range(key(u"max_connections_per_ip"_s, T::Int, u"0"_s,
                      u"Most connections one client address may hold open in one worker process "
                      u"(0: no limit); further ones are refused like `max_connections` (503, "
                      u"or closed on TLS). Not applied to `proxy_protocol` listeners and "
                      u"`trusted_proxies` peers."_s),
                  0, 1000000),
        }));

    schema.addSection(section(
        u"http2"_s,
        u"HTTP/2 (RFC 9113): over TLS by ALPN, and on cleartext listeners by prior knowledge or "
        u"`Upgrade: h2c`. Every [limits] key applies per stream. See docs/http2.md."_s,
        {
            key(u"enabled"_s, T::Bool, u"yes"_s,
                u"Serve HTTP/2: `h2` is offered first through ALPN. `no` serves HTTP/1.1 only."_s),
            key(u"h2c"_s, T::Bool, u"yes"_s,
                u"Cleartext HTTP/2 (prior knowledge and `Upgrade: h2c`) on the plain "
                u"listeners."_s),
            range(key(u"max_concurrent_streams"_s, T::Int, u"100"_s,
                      u"Streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); "
                      u"more are refused with RST_STREAM REFUSED_STREAM until the client "
                      u"acknowledged the setting, then end the connection (docs/http2.md)."_s),
                  1, 10000),
            range(key(u"initial_window"_s, T::Size, u"64K"_s,
                      u"Request body bytes a stream may have in flight before the app reads them "
                      u"(SETTINGS_INITIAL_WINDOW_SIZE)."_s),
                  1024, 2147483647),
            range(key(u"connection_window"_s, T::Size, u"1M"_s,
                      u"Request body bytes all streams of a connection may have in flight "
                      u"(the connection flow-control window)."_s),
                  65535, 2147483647),
            range(key(u"max_frame_bytes"_s, T::Size, u"16K"_s,
                      u"Largest frame payload the client may send (SETTINGS_MAX_FRAME_SIZE)."_s),
                  16384, 16777215),
            key(u"max_header_list_bytes"_s, T::Size, QString(),
                u"Largest decoded header list of a request (SETTINGS_MAX_HEADER_LIST_SIZE, "
                u"431); default: [limits] max_header_bytes."_s),
        }));

    schema.addSection(section(
        u"tls"_s,
        u"HTTPS with OpenSSL 3: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers, no "
        u"renegotiation or compression. Certificates are re-read on SIGHUP."_s,
        {
            key(u"enabled"_s, T::Bool, u"no"_s, u"Whether the [server] port speaks TLS."_s),
            range(key(u"port"_s, T::Int, QString(),
                      u"When set, a second listener on this port speaks TLS."_s),
                  0, 65535),
            key(u"cert"_s, T::Path, QString(),
                u"Certificate chain file (PEM: the server certificate first, then "
                u"intermediates)."_s),
            key(u"key"_s, T::Path, QString(), u"Private key file (PEM)."_s),
            secret(
                key(u"passphrase"_s, T::String, QString(), u"Passphrase of an encrypted key."_s)),
            key(u"client_ca"_s, T::Path, QString(),
                u"CA certificates (PEM) that client certificates must chain to."_s),
            key(u"verify_client"_s, T::String, u"no"_s,
                u"Client certificates: `no`, `optional` (verified when sent) or `require`."_s),
            key(u"ciphers"_s, T::String, QString(),
                u"OpenSSL cipher list for TLS 1.2; empty uses Mozilla's intermediate AEAD "
                u"list."_s),
            key(u"hsts"_s, T::String, QString(),
                u"Strict-Transport-Security value sent on every TLS response, e.g. "
                u"`max-age=31536000; includeSubDomains`; empty sends none."_s),
            key(u"min_version"_s, T::String, u"1.2"_s,
                u"Oldest protocol accepted: `1.2` or "
                u"`1.3`."_s),
            key(u"http2"_s, T::Bool, u"yes"_s,
                u"Offer `h2` through ALPN on this listener (with [http2] enabled); `no` keeps TLS "
                u"clients on HTTP/1.1."_s),
            key(u"ssl_session_tickets"_s, T::Bool, u"yes"_s,
                u"Resume sessions with tickets under keys every worker shares (TLS 1.2 and 1.3, "
                u"across workers and reloads); `no`: only the per-worker session cache."_s),
            key(u"ssl_session_timeout"_s, T::Duration, u"1h"_s,
                u"How long a session may be resumed after its full handshake (at least 1s)."_s),
            key(u"ssl_ticket_key_rotation"_s, T::Duration, u"1h"_s,
                u"How often the master makes a new ticket key (at least 1s); the previous one "
                u"still decrypts for one more interval. Changes with a restart."_s),
            range(key(u"ssl_session_cache"_s, T::Int, u"20000"_s,
                      u"Sessions each worker keeps for TLS 1.2 session-id resumption (and TLS 1.3 "
                      u"with tickets off); 0: none."_s),
                  0, 10'000'000),
            key(u"ssl_ktls"_s, T::Bool, u"no"_s,
                u"Kernel TLS: the kernel encrypts, and static files over TLS go out with "
                u"sendfile; without kernel support TLS stays in OpenSSL."_s),
        }));
    schema.addSection(
        section(u"tls:*"_s,
                u"A certificate chosen by SNI for other host names, e.g. `[tls:example.org]`."_s,
                {
                    key(u"names"_s, T::List, QString(),
                        u"Host names it serves (`*.example.org` for subdomains); default: the name "
                        u"after `tls:`."_s),
                    key(u"cert"_s, T::Path, QString(), u"Certificate chain file (PEM)."_s),
                    key(u"key"_s, T::Path, QString(), u"Private key file (PEM)."_s),
                    secret(key(u"passphrase"_s, T::String, QString(),
                               u"Passphrase of an encrypted key."_s)),
                }));

    schema.addSection(rawLines(section(
        u"routes:line"_s,
        u"Routes, one per line: `PATH = TARGET`. The target is a directory (static files), the "
        u"NAME of an [app:NAME] section, `@NAME` for a member group, or several names: a pipeline "
        u"that runs in order. A line `@ HOST...` starts a block for those virtual hosts "
        u"(`.example.org` also matches its subdomains)."_s,
        {})));

    schema.addSection(section(
        u"app:*"_s,
        u"An app, named by what follows `app:`; routes refer to it by that name. The keys below "
        u"apply to every app; each built-in app adds its own."_s,
        {
            required(key(u"call"_s, T::String, QString(),
                         u"Which app: a built-in such as `berth.echo`, or a plugin "
                         u"(`plugin:NAME` or `plugin:/path/libname.so`)."_s)),
            key(u"max_body_bytes"_s, T::Size, QString(),
                u"Largest request body for routes that use this app; overrides [limits] "
                u"max_body_bytes."_s),
        }));

    schema.addApp(
        AppSpec{u"berth.echo"_s,
                u"Answers with the request body, for testing clients and proxies."_s,
                {key(u"max_echo"_s, T::Size, u"64K"_s, u"Most bytes of the body echoed back."_s)}});
    schema.addApp(AppSpec{
        u"berth.static"_s,
        u"Serves files from a directory, with conditional GET and ranges."_s,
        {
            required(key(u"root"_s, T::Path, QString(), u"Directory the files are served from."_s)),
            key(u"index"_s, T::List, u"index.html"_s,
                u"File names tried in order when a directory is requested."_s),
            key(u"allow_dotfiles"_s, T::Bool, u"no"_s,
                u"Serve files and directories whose names start with a dot."_s),
            key(u"follow_symlinks"_s, T::Bool, u"no"_s,
                u"Serve files reached through symbolic links."_s),
            key(u"cache_control"_s, T::String, QString(),
                u"Cache-Control header sent with every file, such as `max-age=3600`; empty sends "
                u"none."_s),
            range(key(u"open_file_cache"_s, T::Int, QString(),
                      u"Paths remembered per event-loop thread; unset takes [server] "
                      u"open_file_cache, 0 turns the cache off for this app."_s),
                  0, 1000000),
            key(u"open_file_cache_valid"_s, T::Duration, QString(),
                u"How long a remembered path is trusted; unset takes [server] "
                u"open_file_cache_valid."_s),
        }});
    schema.addApp(AppSpec{u"berth.stats"_s, u"Reports the server's stats as JSON."_s, {}});
    schema.addApp(AppSpec{u"berth.metrics"_s,
                          u"Reports the server's stats in the Prometheus text format, or "
                          u"OpenMetrics when the Accept header prefers it (route it at "
                          u"/metrics)."_s,
                          {}});
    schema.addApp(AppSpec{u"berth.heartbeat"_s,
                          u"Answers health checks from load balancers while the server runs."_s,
                          {}});
    schema.addApp(AppSpec{
        u"berth.fault"_s,
        u"Fails on purpose, for testing that the server survives it; only available when "
        u"berthd runs with BERTH_TEST_APPS=1 in its environment."_s,
        {key(u"mode"_s, T::String, u"throw"_s,
             u"`throw` (fail before answering), `throw_after` (fail after the response started), "
             u"`never` (never answer), `slow` (answer after `delay`), `block` (block the thread "
             u"for `delay`) or `crash` (abort the process)."_s),
         key(u"delay"_s, T::Duration, u"1s"_s, u"How long `slow` and `block` take."_s)}});
    schema.addApp(AppSpec{
        u"berth.basic_auth"_s,
        u"HTTP Basic authentication in front of the apps after it in a pipeline (brim's "
        u"wsgi_basic_auth): users and bcrypt hashes from a file, 401 otherwise."_s,
        {
            required(key(u"auth_path"_s, T::Path, QString(),
                         u"File of users, one per line: `user bcrypt-hash` (brim) or "
                         u"`user:bcrypt-hash` (htpasswd -B); `#` starts a comment. Re-read when "
                         u"it changes."_s)),
            key(u"realm"_s, T::String, u"Berth"_s,
                u"Realm named in the `WWW-Authenticate` challenge."_s),
            key(u"allow_insecure"_s, T::Bool, u"no"_s,
                u"Allow Basic authentication without TLS (passwords then cross the network in "
                u"the clear); without it the app needs [tls] enabled."_s),
        }});
    schema.addApp(AppSpec{
        u"berth.log_collector"_s,
        u"Collects log records sent by Python's logging.handlers.HTTPHandler (POST or GET) "
        u"into a JSON-lines file and a readable text file."_s,
        {
            required(key(u"file"_s, T::Path, QString(),
                         u"File the records are appended to, one JSON object per line; the "
                         u"readable form goes to the same name plus `.txt`."_s)),
            key(u"max_bytes"_s, T::Size, u"64K"_s, u"Largest record accepted (413 beyond it)."_s),
        }});
    schema.addApp(AppSpec{
        u"berth.session"_s,
        u"Server-side sessions (pyslet.wsgi's SessionApp) for the apps after it in a pipeline: "
        u"a signed `HttpOnly; SameSite=Lax` session cookie bound to the route's path, data kept "
        u"in the [sessions] store, and CSRF protection: any method but GET, HEAD, OPTIONS and "
        u"TRACE needs the session's token in the `X-CSRF-Token` header or the `csrftoken` form "
        u"field (403 otherwise). Configured by the [sessions] section."_s,
        {}});
    schema.addApp(AppSpec{
        u"berth.session_demo"_s,
        u"pyslet's \"set your name\" page, showing sessions and CSRF protection in a browser; "
        u"route it after berth.session (`/demo = session demo`)."_s,
        {}});
    // The keys every WebSocket app shares (server/apps/websocket/wssettings.h reads them).
    const QList<KeySpec> webSocketAppKeys{
        key(u"max_message_bytes"_s, T::Size, u"1M"_s,
            u"Largest message a client may send, after decompression; a bigger one closes "
            u"the connection with code 1009."_s),
        key(u"max_frame_bytes"_s, T::Size, u"1M"_s,
            u"Largest frame payload a client may send (a message may span several "
            u"frames); a bigger one closes the connection with code 1009."_s),
        key(u"ping_interval"_s, T::Duration, u"30s"_s,
            u"Send a ping when a client has sent nothing for this long (between one and two "
            u"intervals); `0` sends none."_s),
        key(u"pong_timeout"_s, T::Duration, u"10s"_s,
            u"After a ping, close the connection if the client sends nothing (not even the "
            u"pong) within this time."_s),
        key(u"close_timeout"_s, T::Duration, u"5s"_s,
            u"After the server's close frame, how long to wait for the client's before "
            u"dropping the connection."_s),
        key(u"send_buffer_bytes"_s, T::Size, u"4M"_s,
            u"Bytes queued for a slow client before the server stops reading from it; at "
            u"four times this the connection is closed (code 1008)."_s),
        key(u"allowed_origins"_s, T::List, QString(),
            u"Origins whose pages may connect (`https://example.org`, `*` for any), separated "
            u"by commas; others get 403. Empty allows any. A request without `Origin` (not "
            u"from a browser) is always allowed."_s),
        range(key(u"max_connections"_s, T::Int, u"10000"_s,
                  u"Open WebSocket connections of this app per worker process; beyond it the "
                  u"upgrade is answered 503. `0`: no limit."_s),
              0),
        key(u"deflate"_s, T::Bool, u"yes"_s,
            u"Accept permessage-deflate compression (RFC 7692) when the client offers it."_s),
    };
    schema.addApp(AppSpec{
        u"berth.ws_echo"_s,
        u"A WebSocket endpoint (RFC 6455 over HTTP/1.1, RFC 8441 over HTTP/2) that sends every "
        u"text and binary message back to its sender."_s,
        webSocketAppKeys});
    schema.addApp(AppSpec{
        u"berth.ws_chat"_s,
        u"A WebSocket chat room: every text and binary message a client sends goes to every "
        u"client of the app on every worker, the sender included (docs/websocket-chat.md). "
        u"`max_message_bytes` is at most 1M here; a client that falls `send_buffer_bytes` "
        u"behind is closed (1008)."_s,
        webSocketAppKeys});
    schema.addApp(AppSpec{
        u"berth.debug"_s,
        u"server-core's debug page: server and process facts, the configuration with secrets "
        u"masked, event-loop threads and stats, and the request as received. Answers only "
        u"clients in `allow`."_s,
        {key(u"allow"_s, T::List, u"127.0.0.0/8, ::1"_s,
             u"Client addresses or CIDR ranges that may see the page; others get 403."_s)}});

    addGatewaySchema(schema);
    addRateLimitSchema(schema);
    schema.addSection(section(
        u"sessions"_s,
        u"Server-side sessions, used by berth.session apps. Every node that shares the store "
        u"must have the same secret."_s,
        {
            key(u"store"_s, T::String, u"sqlite:sessions.db"_s,
                u"Where sessions are kept: `sqlite:FILE` (relative to this file's directory; "
                u"created on first use, readable by the server's user only) or "
                u"`postgresql://user:password@host:port/database` for several nodes sharing "
                u"sessions (options `sslmode`, `connect_timeout`, `application_name`, "
                u"`sslrootcert` may follow `?`)."_s),
            key(u"timeout"_s, T::Duration, u"600s"_s,
                u"Idle time after which a session ends; expired sessions are deleted."_s),
            key(u"cookie"_s, T::String, u"sid"_s, u"Name of the session cookie."_s),
            secret(key(
                u"secret"_s, T::String, QString(),
                u"The current key of the AppCipher key chain: session data is stored encrypted "
                u"with it (AES-256-GCM) and cookies are signed with it (HMAC-SHA256), so a forged "
                u"or altered cookie is refused. At least 16 random characters. Required when an "
                u"app uses berth.session. Change it only with `berthd keys rotate` "
                u"(docs/cipher.md)."_s)),
            key(u"keynum"_s, T::Int, u"0"_s,
                u"The number of the key `secret` is; raised by `berthd keys rotate` so data "
                u"under older keys stays readable."_s),
            key(u"purge_interval"_s, T::Duration, u"60s"_s,
                u"Least time between two deletions of expired sessions (each thread)."_s),
            key(u"cookie_test"_s, T::Bool, u"no"_s,
                u"Send browsers that arrive without cookies through `MOUNT/ctest` first, which "
                u"explains when cookies are blocked (pyslet's cookie test). Leave it off for "
                u"API clients."_s),
        }));
    schema.addSection(section(
        u"ticker:*"_s,
        u"A toy service for testing the supervisor: one process that ticks every `interval`, "
        u"counting ticks in its `ticks` stat and appending a line to `file`. Only available "
        u"when berthd runs with BERTH_TEST_APPS=1 in its environment."_s,
        {
            key(u"interval"_s, T::Duration, u"1s"_s, u"Time between ticks."_s),
            key(u"mode"_s, T::String, u"tick"_s,
                u"`tick` (run until stopped) or `crash` (abort the process on its first tick)."_s),
            key(u"file"_s, T::Path, QString(),
                u"File the ticker appends a line to on start, each tick and stop (`NAME tick N pid "
                u"P`); "
                u"empty writes none."_s),
            key(u"restart"_s, T::String, u"always"_s,
                u"`always` or `on-failure`: whether an exit with status 0 is restarted too."_s),
            range(key(u"crash_loop_limit"_s, T::Int, u"5"_s,
                      u"Quick failures in a row after which the supervisor marks the ticker "
                      u"failed and stops restarting it until the next reload (0: never)."_s),
                  0),
        }));
    addSocketAppSchema(schema);
    addDaemonSchema(schema);
    addCronSchema(schema);
    addMailSchema(schema);
    addWsgiSchema(schema);
    addAdminSchema(schema);
    addComposeSchema(schema);
    return schema;
}

QString escapeCell(QString text)
{
    return text.replace(u'|', QLatin1String("\\|"));
}

void appendKeyTable(QString &out, const QList<KeySpec> &keys)
{
    if (keys.isEmpty()) {
        out += u"No keys.\n\n"_s;
        return;
    }
    out += u"| Key | Type | Default | Description |\n| --- | --- | --- | --- |\n"_s;
    for (const KeySpec &k : keys) {
        QString defaultText = k.required                 ? u"*required*"_s
                              : k.defaultValue.isEmpty() ? u"*none*"_s
                                                         : u'`' + k.defaultValue + u'`';
        QString type = valueTypeName(k.type);
        if (k.secret)
            type += u", secret"_s;
        if (k.minimum && k.maximum)
            type += u" (%1 to %2)"_s.arg(*k.minimum).arg(*k.maximum);
        else if (k.minimum)
            type += u" (at least %1)"_s.arg(*k.minimum);
        out += u"| `%1` | %2 | %3 | %4 |\n"_s.arg(k.name, type, defaultText,
                                                  escapeCell(k.description));
    }
    out += u'\n';
}

} // namespace

QString valueTypeName(ValueType type)
{
    switch (type) {
    case ValueType::String:
        return u"string"_s;
    case ValueType::Int:
        return u"integer"_s;
    case ValueType::Float:
        return u"number"_s;
    case ValueType::Bool:
        return u"boolean"_s;
    case ValueType::Size:
        return u"size"_s;
    case ValueType::Duration:
        return u"duration"_s;
    case ValueType::List:
        return u"list"_s;
    case ValueType::Path:
        return u"path"_s;
    case ValueType::Mode:
        return u"octal mode"_s;
    }
    return u"string"_s;
}

bool SectionSpec::matches(const QString &sectionName) const
{
    if (!isPattern())
        return sectionName == pattern;
    const QStringView prefix = QStringView(pattern).chopped(1);
    return sectionName.size() > prefix.size() && sectionName.startsWith(prefix);
}

const KeySpec *SectionSpec::findKey(const QString &key) const
{
    for (const KeySpec &k : keys) {
        if (k.matches(key))
            return &k;
    }
    return nullptr;
}

void Schema::addSection(const SectionSpec &section)
{
    SectionSpec spec = section;
    spec.keys.clear();
    for (const KeySpec &k : section.keys) {
        spec.keys.append(k);
        const QString fileKey = k.name + u"_file"_s;
        if (!k.secret || k.type != ValueType::String || section.findKey(fileKey))
            continue;
        KeySpec file;
        file.name = fileKey;
        file.type = ValueType::Path;
        file.description =
            u"File holding `%1` (a trailing line break is dropped), read when the configuration is "
            u"loaded; instead of `%1`. A relative name is looked up in `$CREDENTIALS_DIRECTORY` "
            u"when that is set (systemd `LoadCredential=`)."_s.arg(k.name);
        spec.keys.append(file);
    }
    m_sections.append(spec);
}

const Schema &Schema::builtin()
{
    static const Schema schema = makeBuiltin();
    return schema;
}

const SectionSpec *Schema::findSection(const QString &name) const
{
    for (const SectionSpec &s : m_sections) {
        if (!s.isPattern() && s.pattern == name)
            return &s;
    }
    for (const SectionSpec &s : m_sections) {
        if (s.isPattern() && s.matches(name))
            return &s;
    }
    return nullptr;
}

QList<KeySpec> Schema::appKeys(const QString &call) const
{
    const SectionSpec *appSection = findSection(u"app:x"_s);
    const QList<KeySpec> common = appSection ? appSection->keys : QList<KeySpec>();
    if (call.startsWith(u"plugin:"_s))
        return common;
    const AppSpec *app = findApp(call);
    if (!app)
        return {};
    return common + app->keys;
}

const KeySpec *Schema::findAppKey(const QString &call, const QString &key) const
{
    const AppSpec *app = findApp(call);
    if (!app)
        return nullptr;
    for (const KeySpec &k : app->keys) {
        if (k.matches(key))
            return &k;
    }
    return nullptr;
}

QStringList Schema::builtinApps() const
{
    QStringList calls;
    for (const AppSpec &app : m_apps)
        calls.append(app.call);
    return calls;
}

bool Schema::isKnownApp(const QString &call) const
{
    return findApp(call) != nullptr;
}

const AppSpec *Schema::findApp(const QString &call) const
{
    for (const AppSpec &app : m_apps) {
        if (app.call == call)
            return &app;
    }
    return nullptr;
}

QString Schema::toMarkdown() const
{
    QString out;
    for (const SectionSpec &s : m_sections) {
        QString title = s.pattern;
        if (s.isPattern())
            title = s.pattern.chopped(1) + u"NAME"_s;
        out += u"### [%1]\n\n"_s.arg(title);
        out += s.description + u"\n\n"_s;
        if (s.rawLines)
            continue;
        appendKeyTable(out, s.keys);
        for (const AppSpec &app : s.apps) {
            out += u"#### call = %1\n\n%2\n\n"_s.arg(app.call, app.description);
            if (!app.keys.isEmpty())
                appendKeyTable(out, app.keys);
        }
        if (s.pattern != u"app:*"_s)
            continue;
        for (const AppSpec &app : m_apps) {
            out += u"#### call = %1\n\n%2\n\n"_s.arg(app.call, app.description);
            appendKeyTable(out, app.keys);
        }
    }
    out.chop(1); // one trailing newline
    return out;
}

} // namespace Berth::Config
