#include "tcpechoapp.h"

#include "socketapps/socketappregistry.h"

#include <config/config.h>

#include <stdexcept>

namespace Berth::Apps {

class TcpEchoApp::Session final : public SocketApps::StreamSession
{
public:
    explicit Session(TcpEchoApp &app)
        : m_app(app)
    {}

    void onReadable(SocketApps::Stream &stream) override
    {
        // Read no more than the peer lets us send back: a client that doesn't read stops
        // being read (TCP then slows it down) instead of growing our buffers.
        while (stream.canWrite()) {
            const QByteArray chunk = stream.read(m_app.m_chunkRead);
            if (chunk.isEmpty())
                break;
            m_app.m_setup.stats.add(m_app.m_byteCount, chunk.size());
            if (m_app.m_testThrow && chunk.contains(ThrowMarker))
                throw std::runtime_error("berth.tcp_echo: test marker received");
            stream.write(chunk);
        }
        // Half-close: everything the peer sent is echoed (or queued), then ours ends too.
        if (stream.atEnd() && !m_shutDown) {
            m_shutDown = true;
            stream.shutdownWrite();
        }
    }

private:
    TcpEchoApp &m_app;
    bool m_shutDown = false;
};

TcpEchoApp::TcpEchoApp(SocketApps::SocketAppSetup &setup)
    : m_setup(setup)
{
    m_chunkRead = qMax<qint64>(1, setup.config.getInt(setup.section, QStringLiteral("chunk_read")));
    m_testThrow = qEnvironmentVariable("BERTH_TEST_APPS") == QLatin1String("1");
    m_byteCount = setup.stats.declare(QStringLiteral("byte_count"), Core::StatType::Sum);
    m_connectionCount =
        setup.stats.declare(QStringLiteral("connection_count"), Core::StatType::Sum);
}

std::unique_ptr<SocketApps::StreamSession> TcpEchoApp::accept(SocketApps::Stream &)
{
    m_setup.stats.add(m_connectionCount);
    return std::make_unique<Session>(*this);
}

void registerTcpEchoApp(SocketApps::SocketAppRegistry &registry)
{
    registry.addStream(QStringLiteral("berth.tcp_echo"), [](SocketApps::SocketAppSetup &setup) {
        return std::make_unique<TcpEchoApp>(setup);
    });
}

} // namespace Berth::Apps
