#pragma once

#include "socketapps/streamapp.h"

namespace Berth::SocketApps {
class SocketAppRegistry;
struct SocketAppSetup;
} // namespace Berth::SocketApps

namespace Berth::Apps {

// berth.tcp_echo (brim.tcp_echo): echoes every byte back, reading at most `chunk_read` bytes
// before writing them. When the peer stops reading, it stops reading too (the output buffer's
// back-pressure reaches the sender through TCP); when the peer half-closes, the rest is echoed
// and then our side is closed. Stats: byte_count (bytes read, sum), connection_count (sum).
// With BERTH_TEST_APPS=1 a chunk holding ThrowMarker throws, for the tests of the app boundary.
class TcpEchoApp final : public SocketApps::StreamApp
{
public:
    static constexpr QByteArrayView ThrowMarker = "BERTH-TEST-THROW";

    explicit TcpEchoApp(SocketApps::SocketAppSetup &setup);
    std::unique_ptr<SocketApps::StreamSession> accept(SocketApps::Stream &stream) override;

private:
    class Session;

    SocketApps::SocketAppSetup &m_setup;
    qsizetype m_chunkRead = 65536;
    bool m_testThrow = false;
    int m_byteCount = -1;
    int m_connectionCount = -1;
};

void registerTcpEchoApp(SocketApps::SocketAppRegistry &registry);

} // namespace Berth::Apps
