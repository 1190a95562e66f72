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
    s.serverName = config.getString(QStringLiteral("server"), QStringLiteral("name")).toUtf8();
    s.hsts = config.getString(QStringLiteral("tls"), QStringLiteral("hsts")).toLatin1();
    s.port = quint16(config.getInt(QStringLiteral("server"), QStringLiteral("port")));
    return s;
}

} // namespace Berth::Engine
