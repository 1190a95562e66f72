#include "socketappregistry.h"

#include <algorithm>

namespace Berth::SocketApps {

void SocketAppRegistry::addStream(const QString &call, StreamAppFactory factory)
{
    m_stream.insert(call, std::move(factory));
}

void SocketAppRegistry::addDatagram(const QString &call, DatagramAppFactory factory)
{
    m_datagram.insert(call, std::move(factory));
}

const StreamAppFactory *SocketAppRegistry::stream(const QString &call) const
{
    const auto it = m_stream.constFind(call);
    return it == m_stream.cend() ? nullptr : &*it;
}

const DatagramAppFactory *SocketAppRegistry::datagram(const QString &call) const
{
    const auto it = m_datagram.constFind(call);
    return it == m_datagram.cend() ? nullptr : &*it;
}

QStringList SocketAppRegistry::streamCalls() const
{
    QStringList calls = m_stream.keys();
    std::sort(calls.begin(), calls.end());
    return calls;
}

QStringList SocketAppRegistry::datagramCalls() const
{
    QStringList calls = m_datagram.keys();
    std::sort(calls.begin(), calls.end());
    return calls;
}

SocketAppRegistry &SocketAppRegistry::builtin()
{
    static SocketAppRegistry registry;
    return registry;
}

} // namespace Berth::SocketApps
