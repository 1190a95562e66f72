#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"
#include "runtime/broadcastbus.h"
#include "wssettings.h"

#include <QByteArray>
#include <QObject>
#include <QSet>

#include <atomic>
#include <memory>

namespace Berth::WebSocket {
class Session;
}

namespace Berth::Apps {

// berth.ws_chat (Skitai's chat demo): every text or binary message a client sends goes to every
// client of the same app on every event-loop thread of every worker, the sender included. The
// messages travel on the server's broadcast bus (runtime/broadcastbus.h) under the topic
// "<server name>/<app name>", so two [app:*] sections are two rooms.
//
// A client whose output backs up past send_buffer_bytes is closed (1008) rather than allowed to
// hold the others up or make the worker buffer without bound. One instance per event-loop
// thread, like every app; it subscribes on its thread at the first client.
class WsChatApp final : public Pipeline::App
{
public:
    // openCount: the worker's count of this app's open sessions (webSocketOpenCounter), which
    // max_connections caps; null: the instance counts its own.
    WsChatApp(const WebSocketAppOptions &options, Core::ServerContext *server,
              std::shared_ptr<std::atomic<qint64>> openCount = nullptr);
    ~WsChatApp() override;
    Pipeline::Outcome handle(Http::Exchange &exchange) override;
    void declareStats();

    // The wire form of one chat message on the bus: a type byte, then the message.
    static QByteArray encodeMessage(WebSocket::MessageType type, QByteArrayView payload);

private:
    void subscribe();
    void onBroadcast(const QByteArray &message);
    void onClientMessage(WebSocket::Session *session, WebSocket::MessageType type,
                         QByteArrayView payload);
    void addStat(int index, qint64 delta);

    WebSocketAppOptions m_options;
    Core::ServerContext *m_server;
    // The process's bus, or (no server: tests, `berthd check`) one of the app's own.
    std::unique_ptr<Core::BroadcastBus> m_ownBus;
    Core::BroadcastBus *m_bus = nullptr;
    QByteArray m_topic;
    // Lives on the event-loop thread (created at the first client there): broadcasts are
    // delivered to it, so they run on the thread that owns the sessions.
    std::unique_ptr<QObject> m_receiver;
    Core::BroadcastBus::SubscriptionId m_subscription = 0;
    QSet<WebSocket::Session *> m_sessions; // this instance's (this thread's)
    std::shared_ptr<std::atomic<qint64>> m_openCount;
    int m_openStat = -1;
    int m_inStat = -1;
    int m_outStat = -1;
    int m_slowStat = -1;
    int m_refusedStat = -1;
};

void registerWsChatApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
