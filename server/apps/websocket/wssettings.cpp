#include "wssettings.h"

#include <config/config.h>

#include <QHash>
#include <QMutex>

namespace Berth::Apps {

WebSocketAppOptions readWebSocketAppOptions(const Config::Config &config, const QString &section)
{
    WebSocketAppOptions o;
    WebSocket::Settings &s = o.session;
    s.maxMessageBytes = config.getSize(section, QStringLiteral("max_message_bytes"));
    s.maxFrameBytes = config.getSize(section, QStringLiteral("max_frame_bytes"));
    s.pingIntervalMs = config.getDuration(section, QStringLiteral("ping_interval")).count();
    s.pongTimeoutMs = config.getDuration(section, QStringLiteral("pong_timeout")).count();
    s.closeTimeoutMs = config.getDuration(section, QStringLiteral("close_timeout")).count();
    s.sendBufferBytes = config.getSize(section, QStringLiteral("send_buffer_bytes"));
    s.deflate = config.getBool(section, QStringLiteral("deflate"));
    for (const QString &origin : config.getList(section, QStringLiteral("allowed_origins"))) {
        // Origins compare as serialized: scheme://host[:port], no trailing slash.
        QString o2 = origin.trimmed();
        while (o2.endsWith(u'/'))
            o2.chop(1);
        if (!o2.isEmpty())
            s.allowedOrigins.append(o2.toUtf8());
    }
    // Sizes have no range in the schema: keep a zero from disabling every message.
    s.maxMessageBytes = qMax<qint64>(1, s.maxMessageBytes);
    s.maxFrameBytes = qMax<qint64>(1, s.maxFrameBytes);
    s.sendBufferBytes = qMax<qint64>(1024, s.sendBufferBytes);
    o.maxConnections = config.getInt(section, QStringLiteral("max_connections"));
    return o;
}

std::shared_ptr<std::atomic<qint64>> webSocketOpenCounter(const QString &appName)
{
    static QMutex mutex;
    static QHash<QString, std::shared_ptr<std::atomic<qint64>>> counters;
    QMutexLocker lock(&mutex);
    auto &counter = counters[appName];
    if (!counter)
        counter = std::make_shared<std::atomic<qint64>>(0);
    return counter;
}

} // namespace Berth::Apps
