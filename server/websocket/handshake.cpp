#include "handshake.h"

#include "http/request.h"

#include <QCryptographicHash>

namespace Berth::WebSocket {

namespace {

// QByteArrayView has no split() in Qt 6.4.
QList<QByteArrayView> splitView(QByteArrayView v, char sep)
{
    QList<QByteArrayView> parts;
    qsizetype start = 0;
    for (;;) {
        const qsizetype at = v.indexOf(sep, start);
        if (at < 0) {
            parts.append(v.sliced(start));
            return parts;
        }
        parts.append(v.sliced(start, at - start));
        start = at + 1;
    }
}

Handshake refuse(int status, const char *reason)
{
    Handshake h;
    h.status = status;
    h.reason = reason;
    return h;
}

// Every field of that name, joined as one list (a client may split a list over fields).
QByteArray joinedField(const Http::Request &request, QByteArrayView name)
{
    QByteArray out;
    for (const Http::HeaderField &f : request.head.fields) {
        if (!Http::equalsIgnoreCase(f.name, name))
            continue;
        if (!out.isEmpty())
            out += ", ";
        out += f.value;
    }
    return out;
}

bool validKey(QByteArrayView key)
{
    if (key.size() != 24)
        return false;
    const auto decoded =
        QByteArray::fromBase64Encoding(key.toByteArray(), QByteArray::AbortOnBase64DecodingErrors);
    return decoded.decodingStatus == QByteArray::Base64DecodingStatus::Ok &&
           decoded.decoded.size() == 16;
}

} // namespace

QByteArray acceptKey(QByteArrayView key)
{
    QCryptographicHash sha1(QCryptographicHash::Sha1);
    sha1.addData(key);
    sha1.addData(QByteArrayView("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
    return sha1.result().toBase64();
}

Handshake checkHandshake(const Http::Request &request, const QList<QByteArray> &allowedOrigins,
                         const QList<QByteArray> &subprotocols, bool deflate)
{
    const bool http2 = request.method() == "CONNECT";
    const QByteArrayView protocol = request.tunnelProtocol();
    if (!Http::equalsIgnoreCase(protocol, "websocket")) {
        if (http2)
            return refuse(400, "CONNECT without :protocol websocket");
        if (request.method() != "GET")
            return refuse(400, "not a GET");
        if (!request.header("Upgrade").isNull() || !request.header("Sec-WebSocket-Key").isNull())
            return refuse(400, "no Connection: upgrade, or Upgrade is not websocket");
        // A plain GET: tell the client this resource speaks WebSocket only (RFC 9110 §15.5.22).
        return refuse(426, "not a WebSocket upgrade");
    }
    if (request.head.fieldCount("Sec-WebSocket-Version") != 1 ||
        request.header("Sec-WebSocket-Version").trimmed() != "13")
        return refuse(426, "Sec-WebSocket-Version is not 13");
    Handshake h;
    if (!http2) {
        if (request.head.fieldCount("Sec-WebSocket-Key") != 1)
            return refuse(400, "no single Sec-WebSocket-Key");
        const QByteArrayView key = request.header("Sec-WebSocket-Key").trimmed();
        if (!validKey(key))
            return refuse(400, "Sec-WebSocket-Key is not 16 bytes in base64");
        h.accept = acceptKey(key);
    }
    if (!allowedOrigins.isEmpty()) {
        const QByteArrayView origin = request.header("Origin").trimmed();
        if (!origin.isNull()) {
            bool allowed = false;
            for (const QByteArray &o : allowedOrigins)
                allowed = allowed || o == "*" || Http::equalsIgnoreCase(o, origin);
            if (!allowed)
                return refuse(403, "Origin not in allowed_origins");
        }
    }
    if (!subprotocols.isEmpty()) {
        const QByteArray offered = joinedField(request, "Sec-WebSocket-Protocol");
        const QList<QByteArrayView> offers = splitView(offered, ',');
        for (const QByteArray &ours : subprotocols) {
            for (QByteArrayView offer : offers) {
                if (offer.trimmed() == ours) {
                    h.subprotocol = ours;
                    break;
                }
            }
            if (!h.subprotocol.isEmpty())
                break;
        }
    }
    if (deflate) {
        const QByteArray offers = joinedField(request, "Sec-WebSocket-Extensions");
        if (!offers.isEmpty())
            h.deflate = negotiateDeflate(offers);
    }
    return h;
}

} // namespace Berth::WebSocket
