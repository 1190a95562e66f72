#pragma once

#include <QByteArrayView>
#include <QHostAddress>

namespace Berth::Engine {

// The PROXY protocol header (HAProxy's specification, versions 1 and 2) a load balancer sends
// at the start of a connection to say whom it proxies for. Strict: anything the specification
// does not allow is Invalid, so a listener marked proxy_protocol never mistakes a client's
// bytes for a header.
struct ProxyHeader
{
    enum class Status {
        Incomplete, // every byte so far fits a header: wait for more
        Invalid,    // not a PROXY header, or a malformed one: close the connection
        Complete,
    };

    // The longest v1 header (CRLF included) and the fixed part of a v2 header.
    static constexpr qsizetype MaxV1Bytes = 107;
    static constexpr qsizetype V2FixedBytes = 16;

    Status status = Status::Incomplete;
    int version = 0;      // 1 or 2, once known
    qsizetype length = 0; // Complete: the header's bytes (the connection's data follows them);
                          // Incomplete with version 2: the whole header's size once known, else 0
    // The addresses to use instead of the socket's. False for v1 UNKNOWN, v2 LOCAL, and v2
    // families without IP addresses (UNSPEC, UNIX): the connection keeps its own.
    bool hasAddresses = false;
    QHostAddress source;
    quint16 sourcePort = 0;
    QHostAddress destination;
    quint16 destinationPort = 0;
    // v2 PP2_TYPE_SSL with PP2_CLIENT_SSL: the client spoke TLS to the proxy.
    bool ssl = false;
    const char *error = nullptr; // Invalid: why, for the CEF event and server.log
};

// Parses the header at the start of data (which may go on past it). Pure: no I/O.
ProxyHeader parseProxyHeader(QByteArrayView data);

} // namespace Berth::Engine
