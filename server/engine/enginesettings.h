#pragma once

#include "http/forwarded.h"
#include "http/requestheadparser.h"

#include <QByteArray>

#include <memory>

namespace Berth::Config {
class Config;
}

namespace Berth::Engine {

class TransportFactory;

// A listening socket shared by the event-loop threads; with a transport factory (TLS) its
// connections speak through the transports it makes, else plain TCP (or a unix socket).
struct Listener
{
    int fd = -1;
    std::shared_ptr<TransportFactory> transport;
    bool http2 = true;          // HTTP/2 by prior knowledge and h2c (ALPN: the factory's)
    bool proxyProtocol = false; // a PROXY protocol header comes first (proxyprotocol.h)
};

// The [http2] values: mapped to the SETTINGS the server sends and enforced per stream.
struct Http2Settings
{
    bool enabled = true;                   // h2 by ALPN (and the codec registered at all)
    bool h2c = true;                       // cleartext: prior knowledge and Upgrade: h2c
    int maxConcurrentStreams = 100;        // SETTINGS_MAX_CONCURRENT_STREAMS
    qint64 initialWindow = 64 * 1024;      // SETTINGS_INITIAL_WINDOW_SIZE (per stream)
    qint64 connectionWindow = 1 << 20;     // the connection's receive window
    qint64 maxFrameBytes = 16 * 1024;      // SETTINGS_MAX_FRAME_SIZE
    qint64 maxHeaderListBytes = 32 * 1024; // SETTINGS_MAX_HEADER_LIST_SIZE, enforced (431)
};

// The [server], [limits] and [http2] values the HTTP engine enforces, read once per configuration.
struct EngineSettings
{
    Http::HeadLimits head;
    qint64 maxBodyBytes = 10 * 1024 * 1024;
    qint64 headerTimeoutMs = 10'000; // the whole head must arrive within this (slowloris)
    qint64 bodyTimeoutMs = 60'000;   // between two reads of a body being received
    qint64 sendTimeoutMs = 60'000;   // between two writes the client accepts
    qint64 idleTimeoutMs = 75'000;   // keep-alive wait for the next request
    qint64 lingerTimeoutMs = 2'000;  // reading what a client still sends after we closed
    int maxConnections = 10'000;
    int maxConnectionsPerIp = 0; // [limits] max_connections_per_ip, per worker; 0: no limit
    int perIpRefusedStat = -1;   // its refusals' stat, declared by the server before threads start
    QByteArray serverName = "berth"; // [server] name: request.log's server field
    QByteArray hsts;                 // [tls] hsts: Strict-Transport-Security on TLS responses
    quint16 port = 0;
    qint64 gracefulTimeoutMs = 30'000; // [server] graceful_timeout: a drain's last word
    Http2Settings http2;
    Http::TrustedProxies trustedProxies; // [server] trusted_proxies

    static EngineSettings fromConfig(const Config::Config &config);
};

} // namespace Berth::Engine
