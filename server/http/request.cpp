#include "request.h"

namespace Berth::Http {

QByteArrayView Request::tunnelProtocol() const
{
    if (head.method == "CONNECT")
        return head.protocol; // HTTP/2 extended CONNECT; empty for a plain CONNECT
    if (head.method != "GET" || !listContainsToken(head.field("Connection"), "upgrade"))
        return {};
    // "Upgrade: websocket" or a list ("websocket, foo/2"): the first protocol is the one asked.
    QByteArrayView upgrade = head.field("Upgrade").trimmed();
    const qsizetype comma = upgrade.indexOf(',');
    if (comma >= 0)
        upgrade = upgrade.first(comma).trimmed();
    return upgrade;
}

} // namespace Berth::Http
