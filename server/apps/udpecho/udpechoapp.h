#pragma once

#include "socketapps/datagramapp.h"

namespace Berth::SocketApps {
class SocketAppRegistry;
struct SocketAppSetup;
} // namespace Berth::SocketApps

namespace Berth::Apps {

// berth.udp_echo (brim.udp_echo): sends every datagram back to its sender. Stats: byte_count
// (bytes received, sum), datagram_count (sum). With BERTH_TEST_APPS=1 a datagram holding
// ThrowMarker throws, for the tests of the app boundary.
class UdpEchoApp final : public SocketApps::DatagramApp
{
public:
    static constexpr QByteArrayView ThrowMarker = "BERTH-TEST-THROW";

    explicit UdpEchoApp(SocketApps::SocketAppSetup &setup);
    void onDatagram(QByteArrayView data, const SocketApps::DatagramPeer &from,
                    SocketApps::DatagramSocket &socket) override;

private:
    SocketApps::SocketAppSetup &m_setup;
    bool m_testThrow = false;
    int m_byteCount = -1;
    int m_datagramCount = -1;
};

void registerUdpEchoApp(SocketApps::SocketAppRegistry &registry);

} // namespace Berth::Apps
