#include "enginesettings.h"

#include <config/config.h>

namespace Berth::Engine {

EngineSettings EngineSettings::fromConfig(const Config::Config &config)
{
    using namespace std::chrono_literals;
    const QString limits = QStringLiteral("limits");
    EngineSettings s;
    s.head.maxUriBytes = config.getSize(limits, QStringLiteral("max_uri_bytes"), 8 * 1024);
    s.head.maxHeaderBytes = config.getSize(limits, QStringLiteral("max_header_bytes"), 32 * 1024);
    s.head.maxFieldBytes = config.getSize(limits, QStringLiteral("max_field_bytes"), 8 * 1024);
    s.head.maxHeaders = int(config.getInt(limits, QStringLiteral("max_headers"), 100));
    s.maxBodyBytes = config.getSize(limits, QStringLiteral("max_body_bytes"), 10 * 1024 * 1024);
    s.headerTimeoutMs = config.getDuration(limits, QStringLiteral("header_timeout"), 10s).count();
    s.bodyTimeoutMs = config.getDuration(limits, QStringLiteral("body_timeout"), 60s).count();
    s.sendTimeoutMs = config.getDuration(limits, QStringLiteral("send_timeout"), 60s).count();
    s.idleTimeoutMs = config.getDuration(limits, QStringLiteral("idle_timeout"), 75s).count();
    s.maxConnections = int(config.getInt(limits, QStringLiteral("max_connections"), 10000));
    s.serverName =
        config.getString(QStringLiteral("server"), QStringLiteral("name"), QStringLiteral("berth"))
            .toUtf8();
    s.hsts = config.getString(QStringLiteral("tls"), QStringLiteral("hsts")).toLatin1();
    s.port = quint16(config.getInt(QStringLiteral("server"), QStringLiteral("port"), 8080));
    return s;
}

} // namespace Berth::Engine
