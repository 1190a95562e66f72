#pragma once

#include "connection.h"

#include <QByteArrayView>

namespace Berth::Engine {

// Which codec serves a connection. Chosen from the ALPN result of the TLS handshake, or on
// cleartext by sniffing the HTTP/2 connection preface (RFC 9113 §3.4: prior knowledge).
enum class Protocol {
    Undecided, // the first bytes match a prefix of the preface: wait for more
    Http1,
    Http2,
};

inline constexpr QByteArrayView Http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// alpn: what TLS negotiated ("h2", "http/1.1"), empty on cleartext or without ALPN.
Protocol selectProtocol(QByteArrayView alpn, QByteArrayView firstBytes);

// The codec for a protocol other than HTTP/1 (which is built in), registered once before the
// event-loop threads start; an empty factory when none is. HTTP/2 registers itself here and
// reuses ExchangeDriver for its streams.
void registerCodec(Protocol protocol, CodecFactory factory);
CodecFactory codecFactory(Protocol protocol);

} // namespace Berth::Engine
