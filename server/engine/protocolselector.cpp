#include "protocolselector.h"

namespace Berth::Engine {

namespace {

CodecFactory &http2Factory()
{
    static CodecFactory factory;
    return factory;
}

} // namespace

Protocol selectProtocol(QByteArrayView alpn, QByteArrayView firstBytes)
{
    if (alpn == "h2")
        return Protocol::Http2;
    if (!alpn.isEmpty())
        return Protocol::Http1; // "http/1.1" (or anything else TLS agreed on)
    const qsizetype n = qMin(firstBytes.size(), Http2Preface.size());
    if (firstBytes.first(n) != Http2Preface.first(n))
        return Protocol::Http1;
    return n == Http2Preface.size() ? Protocol::Http2 : Protocol::Undecided;
}

void registerCodec(Protocol protocol, CodecFactory factory)
{
    if (protocol == Protocol::Http2)
        http2Factory() = std::move(factory);
}

CodecFactory codecFactory(Protocol protocol)
{
    return protocol == Protocol::Http2 ? http2Factory() : CodecFactory();
}

} // namespace Berth::Engine
