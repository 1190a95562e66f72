#include "echoapp.h"

#include "http/exchange.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <config/config.h>

#include <memory>

namespace Berth::Apps {

EchoApp::EchoApp(qint64 maxEcho, Core::ServerContext *server)
    : m_maxEcho(maxEcho)
    , m_server(server)
{}

void EchoApp::declareStats()
{
    // Declared while the configuration is built, before event-loop threads run.
    if (m_server && m_server->stats)
        m_requestsStat =
            m_server->stats->declare(name() + QStringLiteral(".requests"), Core::StatType::Sum);
}

Pipeline::Outcome EchoApp::handle(Http::Exchange &exchange)
{
    if (m_server && m_server->stats)
        m_server->stats->add(m_requestsStat);
    // The body arrives in pieces; keep at most max_echo bytes of it.
    auto body = std::make_shared<QByteArray>();
    const qint64 limit = m_maxEcho;
    // A handle, not a pointer: it is null if the exchange ended before the body did.
    Http::ExchangeHandle ex = exchange.handle();
    exchange.readBody(
        [body, limit](QByteArrayView chunk) {
            const qint64 room = limit - body->size();
            if (room > 0)
                body->append(chunk.first(qMin<qint64>(room, chunk.size())));
        },
        [body, ex] {
            if (!ex)
                return;
            QByteArrayView type = ex->request().header("Content-Type");
            if (type.isEmpty())
                type = "application/octet-stream";
            ex->respond(200, type, *body);
        });
    return Pipeline::Outcome::Answered;
}

void registerEchoApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.echo"), [](const Pipeline::AppSetup &setup) {
        const qint64 maxEcho = setup.config.getSize(setup.section, QStringLiteral("max_echo"));
        auto app = std::make_unique<EchoApp>(maxEcho, setup.server);
        app->setName(setup.name);
        app->declareStats();
        return std::unique_ptr<Pipeline::App>(std::move(app));
    });
}

} // namespace Berth::Apps
