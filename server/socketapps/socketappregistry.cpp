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

void SocketAppRegistry::addStreamPrefix(const QString &prefix, StreamAppFactory factory)
{
    m_streamPrefixes.append({prefix, std::move(factory)});
}

void SocketAppRegistry::addDatagramPrefix(const QString &prefix, DatagramAppFactory factory)
{
    m_datagramPrefixes.append({prefix, std::move(factory)});
}

namespace {

template <typename Factory>
const Factory *findFactory(const QHash<QString, Factory> &exact,
                           const QList<std::pair<QString, Factory>> &prefixes, const QString &call)
{
    const auto it = exact.constFind(call);
    if (it != exact.cend())
        return &*it;
    for (const auto &[prefix, factory] : prefixes) {
        if (call.startsWith(prefix))
            return &factory;
    }
    return nullptr;
}

} // namespace

const StreamAppFactory *SocketAppRegistry::stream(const QString &call) const
{
    return findFactory(m_stream, m_streamPrefixes, call);
}

const DatagramAppFactory *SocketAppRegistry::datagram(const QString &call) const
{
    return findFactory(m_datagram, m_datagramPrefixes, call);
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
