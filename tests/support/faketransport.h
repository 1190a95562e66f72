// A pretend socket for driving connections without one: the Wire holds both directions,
// FakeTransport is the engine's side of it. Shared by the HTTP/1 and HTTP/2 connection tests.
#pragma once

#include "engine/transport.h"

#include <QByteArray>
#include <QList>

#include <cstring>
#include <memory>

namespace Berth::Tests {

// Both directions of a pretend socket, shared by the test and the transport.
struct Wire
{
    QByteArray toServer;
    bool clientClosed = false;
    QByteArray fromServer;
    qsizetype writeRoom = 1 << 30; // bytes the "socket" accepts before it would block
    bool serverShutdown = false;
    QList<bool> more; // each accepted write's MSG_MORE, in order
    // Like TLS with read-ahead: the bytes still to read are the transport's, announced by no
    // socket event (the test then calls no onPollEvents for them).
    bool unannounced = false;
    QByteArray alpn; // set: a TLS connection that negotiated this protocol
};

class FakeTransport final : public Engine::Transport
{
public:
    explicit FakeTransport(std::shared_ptr<Wire> wire)
        : m_wire(std::move(wire))
    {}
    qsizetype read(char *buffer, qsizetype size) override
    {
        if (m_wire->toServer.isEmpty())
            return m_wire->clientClosed ? 0 : WouldBlock;
        const qsizetype n = qMin(size, m_wire->toServer.size());
        std::memcpy(buffer, m_wire->toServer.constData(), size_t(n));
        m_wire->toServer.remove(0, n);
        return n;
    }
    qsizetype write(const char *data, qsizetype size, bool more) override
    {
        if (m_wire->writeRoom == 0) {
            m_wantsWrite = true;
            return WouldBlock;
        }
        m_wire->more.append(more);
        const qsizetype n = qMin(size, m_wire->writeRoom);
        m_wire->fromServer.append(data, n);
        m_wire->writeRoom -= n;
        return n;
    }
    void shutdownWrite() override { m_wire->serverShutdown = true; }
    bool hasBufferedInput() const override
    {
        return m_wire->unannounced && !m_wire->toServer.isEmpty();
    }
    bool wantsWrite() const override { return m_wantsWrite; }
    bool isSecure() const override { return !m_wire->alpn.isEmpty(); }
    QByteArray negotiatedProtocol() const override { return m_wire->alpn; }

private:
    std::shared_ptr<Wire> m_wire;
    bool m_wantsWrite = false;
};

} // namespace Berth::Tests
