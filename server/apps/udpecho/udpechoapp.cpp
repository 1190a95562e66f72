#include "udpechoapp.h"

#include "socketapps/socketappregistry.h"

#include <stdexcept>

namespace Berth::Apps {

UdpEchoApp::UdpEchoApp(SocketApps::SocketAppSetup &setup)
    : m_setup(setup)
{
    m_testThrow = qEnvironmentVariable("BERTH_TEST_APPS") == QLatin1String("1");
    m_byteCount = setup.stats.declare(QStringLiteral("byte_count"), Core::StatType::Sum);
    m_datagramCount = setup.stats.declare(QStringLiteral("datagram_count"), Core::StatType::Sum);
}

void UdpEchoApp::onDatagram(QByteArrayView data, const SocketApps::DatagramPeer &from,
                            SocketApps::DatagramSocket &socket)
{
    m_setup.stats.add(m_datagramCount);
    m_setup.stats.add(m_byteCount, data.size());
    if (m_testThrow && QByteArrayView(data).contains(ThrowMarker))
        throw std::runtime_error("berth.udp_echo: test marker received");
    socket.sendTo(data, from);
}

void registerUdpEchoApp(SocketApps::SocketAppRegistry &registry)
{
    registry.addDatagram(QStringLiteral("berth.udp_echo"), [](SocketApps::SocketAppSetup &setup) {
        return std::make_unique<UdpEchoApp>(setup);
    });
}

} // namespace Berth::Apps
