// A plugin whose HTTP app throws on /boom (berthd answers 500 and keeps serving), whose second
// HTTP app throws while it is built, with a UDP app and a daemon that only reports a status line.
#include <berth/http/exchange.h>
#include <berth/plugin.h>

#include <stdexcept>

using namespace Berth;

namespace {

class ThrowerApp final : public Pipeline::App
{
public:
    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        if (exchange.request().path.endsWith("/boom"))
            throw std::runtime_error("thrower: boom requested");
        exchange.respond(200, "text/plain", QByteArray("still here\n"));
        return Pipeline::Outcome::Answered;
    }
};

class SteadyDaemon final : public Daemons::Daemon
{
public:
    bool prepare(const Daemons::DaemonContext &context, QStringList *) override
    {
        m_name = context.name;
        return true;
    }
    bool start(QStringList *) override { return true; }
    void stop() override { Q_EMIT stopped(); }
    QString statusLine() const override { return QStringLiteral("steady plugin daemon ") + m_name; }
    QStringList statNames() const override { return {}; }

private:
    QString m_name;
};

// UDP: answers each datagram with its size, in decimal.
class SizeApp final : public SocketApps::DatagramApp
{
public:
    void onDatagram(QByteArrayView data, const SocketApps::DatagramPeer &from,
                    SocketApps::DatagramSocket &socket) override
    {
        socket.sendTo(QByteArray::number(data.size()), from);
    }
};

void registerThrower(Plugins::Registrar &registrar)
{
    registrar.addApp(QStringLiteral("explode"),
                     [](const Pipeline::AppSetup &) -> std::unique_ptr<Pipeline::App> {
                         throw std::runtime_error("explode: refusing to be built");
                     });
    registrar.addDatagramApp(QStringLiteral("size"), [](SocketApps::SocketAppSetup &) {
        return std::make_unique<SizeApp>();
    });
    registrar.addApp(QStringLiteral("thrower"),
                     [](const Pipeline::AppSetup &) { return std::make_unique<ThrowerApp>(); });
    Daemons::DaemonKind steady;
    steady.name = QStringLiteral("steady");
    steady.create = [] { return std::make_unique<SteadyDaemon>(); };
    registrar.addDaemon(std::move(steady));
}

} // namespace

BERTH_PLUGIN("thrower", "1.0", registerThrower)
