#pragma once

#include "deflate.h"

#include <QByteArray>
#include <QList>

#include <optional>

namespace Berth::Http {
struct Request;
}

namespace Berth::WebSocket {

// The opening handshake a request carries: RFC 6455 §4.2.1 over HTTP/1.1 (GET with
// Connection: upgrade, Upgrade: websocket, a 16-byte base64 Sec-WebSocket-Key and version 13)
// or RFC 8441 §4 over HTTP/2 (CONNECT with :protocol websocket and version 13; no key).
struct Handshake
{
    int status = 0;          // 0: accept it; otherwise the HTTP status to answer (400/403/426)
    const char *reason = ""; // why not, for logs
    QByteArray accept;       // Sec-WebSocket-Accept (HTTP/1.1 only)
    QByteArray subprotocol;  // the chosen Sec-WebSocket-Protocol, or empty
    std::optional<DeflateParams> deflate; // permessage-deflate when offered and wanted
};

// allowedOrigins: exact Origin values ("https://example.org", compared case-insensitively, "*"
// for any); empty allows any. A request without Origin is not a browser's and is allowed: the
// check exists to stop other sites' pages (cross-site WebSocket hijacking), which always send
// it. subprotocols: ours, in order of preference; the first the client offered is chosen.
Handshake checkHandshake(const Http::Request &request, const QList<QByteArray> &allowedOrigins,
                         const QList<QByteArray> &subprotocols, bool deflate);

// base64(SHA-1(key + the RFC 6455 GUID)).
QByteArray acceptKey(QByteArrayView key);

} // namespace Berth::WebSocket
