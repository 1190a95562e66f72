#include "enginesettings.h"

#include <config/config.h>

namespace Berth::Engine {

EngineSettings EngineSettings::fromConfig(const Config::Config &config)
{
    const QString limits = QStringLiteral("limits");
    EngineSettings s;
    s.head.maxUriBytes = config.getSize(limits, QStringLiteral("max_uri_bytes"));
    s.head.maxHeaderBytes = config.getSize(limits, QStringLiteral("max_header_bytes"));
    s.head.maxFieldBytes = config.getSize(limits, QStringLiteral("max_field_bytes"));
    s.head.maxHeaders = int(config.getInt(limits, QStringLiteral("max_headers")));
    s.maxBodyBytes = config.getSize(limits, QStringLiteral("max_body_bytes"));
    s.headerTimeoutMs = config.getDuration(limits, QStringLiteral("header_timeout")).count();
    s.bodyTimeoutMs = config.getDuration(limits, QStringLiteral("body_timeout")).count();
    s.sendTimeoutMs = config.getDuration(limits, QStringLiteral("send_timeout")).count();
    s.idleTimeoutMs = config.getDuration(limits, QStringLiteral("idle_timeout")).count();
    s.maxConnections = int(config.getInt(limits, QStringLiteral("max_connections")));
    s.maxConnectionsPerIp = int(config.getInt(limits, QStringLiteral("max_connections_per_ip")));
    s.serverName = config.getString(QStringLiteral("server"), QStringLiteral("name")).toUtf8();
    s.hsts = config.getString(QStringLiteral("tls"), QStringLiteral("hsts")).toLatin1();
    s.port = quint16(config.getInt(QStringLiteral("server"), QStringLiteral("port")));
    s.gracefulTimeoutMs =
        config.getDuration(QStringLiteral("server"), QStringLiteral("graceful_timeout")).count();
    QString error;
    const QString server = QStringLiteral("server");
    if (!s.trustedProxies.parse(config.getList(server, QStringLiteral("trusted_proxies")), &error))
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              config.location(server, QStringLiteral("trusted_proxies")),
                              QStringLiteral("[server] trusted_proxies: %1").arg(error)});
    const QString http2 = QStringLiteral("http2");
    s.http2.enabled = config.getBool(http2, QStringLiteral("enabled"));
    s.http2.h2c = config.getBool(http2, QStringLiteral("h2c"));
    s.http2.maxConcurrentStreams =
        int(config.getInt(http2, QStringLiteral("max_concurrent_streams")));
    s.http2.initialWindow = config.getSize(http2, QStringLiteral("initial_window"));
    s.http2.connectionWindow = config.getSize(http2, QStringLiteral("connection_window"));
    s.http2.maxFrameBytes = config.getSize(http2, QStringLiteral("max_frame_bytes"));
    s.http2.maxHeaderListBytes =
        config.has(http2, QStringLiteral("max_header_list_bytes"))
            ? config.getSize(http2, QStringLiteral("max_header_list_bytes"))
            : s.head.maxHeaderBytes;
    return s;
}

} // namespace Berth::Engine
