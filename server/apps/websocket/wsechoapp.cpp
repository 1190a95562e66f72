#include "wsechoapp.h"

#include "http/exchange.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

namespace Berth::Apps {

WsEchoApp::WsEchoApp(const WebSocketAppOptions &options,
                     std::shared_ptr<std::atomic<qint64>> openCount, Core::ServerContext *server)
    : m_options(options)
    , m_open(std::move(openCount))
    , m_server(server)
{}

void WsEchoApp::declareStats()
{
    if (!m_server || !m_server->stats)
        return;
    Core::StatsRegistry *stats = m_server->stats;
    m_openStat = stats->declare(name() + QStringLiteral(".open"), Core::StatType::Sum);
    m_messagesInStat = stats->declare(name() + QStringLiteral(".messages_in"), Core::StatType::Sum);
    m_messagesOutStat =
        stats->declare(name() + QStringLiteral(".messages_out"), Core::StatType::Sum);
}

Pipeline::Outcome WsEchoApp::handle(Http::Exchange &exchange)
{
    if (WebSocket::Session::isUpgradeRequest(exchange) && m_options.maxConnections > 0 &&
        m_open->load(std::memory_order_relaxed) >= m_options.maxConnections) {
        exchange.response().setHeader("Retry-After", "5");
        Http::respondWithError(exchange, 503);
        return Pipeline::Outcome::Answered;
    }
    WebSocket::Session *session = WebSocket::Session::accept(exchange, m_options.session);
    if (!session)
        return Pipeline::Outcome::Answered; // answered 400/403/426
    // Relaxed: the count only gates new sessions; it orders nothing else.
    m_open->fetch_add(1, std::memory_order_relaxed);
    Core::StatsRegistry *stats = m_server ? m_server->stats : nullptr;
    if (stats)
        stats->add(m_openStat);
    const int inStat = m_messagesInStat;
    const int outStat = m_messagesOutStat;
    session->onMessage(
        [session, stats, inStat, outStat](WebSocket::MessageType type, QByteArrayView payload) {
            if (stats) {
                stats->add(inStat);
                stats->add(outStat);
            }
            // False only says the peer reads slowly: the session stops reading from it until
            // its queue drains, so the echo needs no flow control of its own.
            if (type == WebSocket::MessageType::Text)
                session->sendText(payload);
            else
                session->sendBinary(payload);
        });
    std::shared_ptr<std::atomic<qint64>> open = m_open;
    const int openStat = m_openStat;
    session->onClose([open, stats, openStat](int, QByteArrayView) {
        open->fetch_sub(1, std::memory_order_relaxed);
        if (stats)
            stats->add(openStat, -1);
    });
    return Pipeline::Outcome::Answered;
}

void registerWsEchoApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.ws_echo"), [](const Pipeline::AppSetup &setup) {
        const WebSocketAppOptions options = readWebSocketAppOptions(setup.config, setup.section);
        auto app =
            std::make_unique<WsEchoApp>(options, webSocketOpenCounter(setup.name), setup.server);
        app->setName(setup.name);
        app->declareStats();
        return std::unique_ptr<Pipeline::App>(std::move(app));
    });
}

} // namespace Berth::Apps
