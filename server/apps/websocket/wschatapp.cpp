#include "wschatapp.h"

#include "http/exchange.h"
#include "runtime/buswire.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"
#include "websocket/session.h"

#include <config/config.h>

namespace Berth::Apps {

namespace {

constexpr char TextTag = 'T';
constexpr char BinaryTag = 'B';
// The bus carries a message and its type byte; the schema's max_message_bytes is capped here.
constexpr qint64 MaxChatMessageBytes = qint64(1) << 20;

} // namespace

WsChatApp::WsChatApp(const WebSocketAppOptions &options, Core::ServerContext *server,
                     std::shared_ptr<std::atomic<qint64>> openCount)
    : m_options(options)
    , m_server(server)
    , m_openCount(openCount ? std::move(openCount) : std::make_shared<std::atomic<qint64>>(0))
{
    m_bus = server ? server->bus : nullptr;
    if (!m_bus) {
        m_ownBus = std::make_unique<Core::BroadcastBus>();
        m_bus = m_ownBus.get();
    }
}

WsChatApp::~WsChatApp()
{
    if (m_subscription)
        m_bus->unsubscribe(m_subscription);
}

QByteArray WsChatApp::encodeMessage(WebSocket::MessageType type, QByteArrayView payload)
{
    QByteArray message;
    message.reserve(payload.size() + 1);
    message.append(type == WebSocket::MessageType::Text ? TextTag : BinaryTag);
    message.append(payload);
    return message;
}

void WsChatApp::declareStats()
{
    // Declared while the configuration is built, before event-loop threads run.
    if (!m_server || !m_server->stats)
        return;
    Core::StatsRegistry &stats = *m_server->stats;
    m_openStat = stats.declare(name() + QStringLiteral(".open"), Core::StatType::Sum);
    m_inStat = stats.declare(name() + QStringLiteral(".messages_in"), Core::StatType::Sum);
    m_outStat = stats.declare(name() + QStringLiteral(".messages_out"), Core::StatType::Sum);
    m_slowStat = stats.declare(name() + QStringLiteral(".slow_closed"), Core::StatType::Sum);
    m_refusedStat = stats.declare(name() + QStringLiteral(".refused"), Core::StatType::Sum);
}

void WsChatApp::addStat(int index, qint64 delta)
{
    if (m_server && m_server->stats && index >= 0)
        m_server->stats->add(index, delta);
}

void WsChatApp::subscribe()
{
    if (m_receiver)
        return;
    const QString server = m_server ? m_server->serverName : QStringLiteral("berth");
    m_topic = (server + QLatin1Char('/') + name()).toUtf8().left(Core::BusWire::MaxTopicBytes);
    m_receiver = std::make_unique<QObject>(); // on this, the event-loop thread
    m_subscription = m_bus->subscribe(m_topic, m_receiver.get(),
                                      [this](const QByteArray &message) { onBroadcast(message); });
}

Pipeline::Outcome WsChatApp::handle(Http::Exchange &exchange)
{
    if (m_options.maxConnections > 0 &&
        m_openCount->load(std::memory_order_relaxed) >= m_options.maxConnections) {
        addStat(m_refusedStat, 1);
        exchange.respond(503, "text/plain; charset=utf-8", "too many chat connections\n");
        return Pipeline::Outcome::Answered;
    }
    WebSocket::Session *session = WebSocket::Session::accept(exchange, m_options.session);
    if (!session)
        return Pipeline::Outcome::Answered; // the session answered 400/403/426 itself
    subscribe();
    m_sessions.insert(session);
    m_openCount->fetch_add(1, std::memory_order_relaxed);
    addStat(m_openStat, 1);
    session->onMessage([this, session](WebSocket::MessageType type, QByteArrayView payload) {
        onClientMessage(session, type, payload);
    });
    session->onClose([this, session](int, QByteArrayView) {
        if (m_sessions.remove(session)) {
            m_openCount->fetch_sub(1, std::memory_order_relaxed);
            addStat(m_openStat, -1);
        }
    });
    return Pipeline::Outcome::Answered;
}

void WsChatApp::onClientMessage(WebSocket::Session *session, WebSocket::MessageType type,
                                QByteArrayView payload)
{
    addStat(m_inStat, 1);
    if (payload.size() > MaxChatMessageBytes) {
        session->close(1009, "message too big for the chat");
        return;
    }
    // Every client of the room gets it from the bus, this one included (Skitai's demo echoed
    // the sender too): the local delivery and the other workers' see one order.
    switch (m_bus->publish(m_topic, encodeMessage(type, payload))) {
    case Core::BroadcastBus::PublishResult::Sent:
        break;
    case Core::BroadcastBus::PublishResult::TooLarge:
        session->close(1009, "message too big for the chat");
        break;
    case Core::BroadcastBus::PublishResult::Backlogged:
        // The master is not taking messages: tell the sender rather than lose it quietly.
        session->close(1013, "chat overloaded, try again later");
        break;
    }
}

void WsChatApp::onBroadcast(const QByteArray &message)
{
    if (message.isEmpty())
        return;
    const QByteArrayView payload = QByteArrayView(message).sliced(1);
    const bool text = message.front() == TextTag;
    // Copied first: closing a session may run its close handler, which edits m_sessions.
    const QList<WebSocket::Session *> sessions = m_sessions.values();
    for (WebSocket::Session *session : sessions) {
        if (!m_sessions.contains(session) || session->isClosing())
            continue;
        const bool room = text ? session->sendText(payload) : session->sendBinary(payload);
        addStat(m_outStat, 1);
        if (!room) {
            // Over send_buffer_bytes: this client reads slower than the room talks. Closing it
            // keeps the worker's memory bounded and never delays the others.
            addStat(m_slowStat, 1);
            session->close(1008, "too slow for the chat");
        }
    }
}

void registerWsChatApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.ws_chat"), [](const Pipeline::AppSetup &setup) {
        WebSocketAppOptions options = readWebSocketAppOptions(setup.config, setup.section);
        if (options.session.maxMessageBytes > MaxChatMessageBytes) {
            const QString key = QStringLiteral("max_message_bytes");
            setup.config.addDiagnostic(
                {Config::Diagnostic::Severity::Error, setup.config.location(setup.section, key),
                 QStringLiteral("[%1] %2: berth.ws_chat relays messages of at most 1M between "
                                "workers")
                     .arg(setup.section, key)});
            options.session.maxMessageBytes = MaxChatMessageBytes;
        }
        auto app =
            std::make_unique<WsChatApp>(options, setup.server, webSocketOpenCounter(setup.name));
        app->setName(setup.name);
        app->declareStats();
        return std::unique_ptr<Pipeline::App>(std::move(app));
    });
}

} // namespace Berth::Apps
