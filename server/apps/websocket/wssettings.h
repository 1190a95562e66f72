#pragma once

#include "websocket/session.h"

#include <QString>

#include <atomic>
#include <memory>

namespace Berth::Config {
class Config;
}

namespace Berth::Apps {

// The keys every WebSocket app shares (berth.ws_echo, berth.ws_chat), read from its
// [app:NAME] section. Their schema entries come from one list in common/config/schema.cpp
// (webSocketAppKeys), so the apps declare the same names, defaults and ranges.
struct WebSocketAppOptions
{
    WebSocket::Settings session; // max_message_bytes, max_frame_bytes, ping_interval,
                                 // pong_timeout, close_timeout, send_buffer_bytes,
                                 // allowed_origins, deflate
    qint64 maxConnections = 0;   // max_connections: open sessions of the app per worker
                                 // process (0: no cap); beyond it the upgrade is answered 503
};

// Bad values were already reported with file:line by the config validator; getters return the
// schema defaults for them.
WebSocketAppOptions readWebSocketAppOptions(const Config::Config &config, const QString &section);

// The worker's count of an app's open sessions, for max_connections: one per app name and
// process, shared by the instances each event-loop thread builds (and by the next
// configuration's after a reload: the old sessions are still open and still count).
std::shared_ptr<std::atomic<qint64>> webSocketOpenCounter(const QString &appName);

} // namespace Berth::Apps
