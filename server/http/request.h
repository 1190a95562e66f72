#pragma once

#include "requestattributes.h"
#include "requesthead.h"

#include <QByteArray>
#include <QHostAddress>
#include <QString>

namespace Berth::Http {

// What an app sees of a request, whichever protocol carried it. Plain data: tests build one.
struct Request
{
    RequestHead head;
    QByteArray path;       // decoded and normalised (see normalizePath), used for routing
    QByteArray scriptName; // the mount point the router matched, "" for "/" (WSGI SCRIPT_NAME)
    QByteArray pathInfo;   // the rest of path after scriptName, starts with '/' (PATH_INFO)
    QByteArray hostName;   // host without port, lower-cased, used for virtual hosts

    QHostAddress peerAddress;
    quint16 peerPort = 0;
    QHostAddress localAddress;
    quint16 localPort = 0;
    bool secure = false;
    // The peer is on a unix-socket listener (peerAddress is null, request.log says "unix:").
    bool unixPeer = false;
    // peerAddress/peerPort came from a trusted proxy's X-Forwarded-For or Forwarded header.
    bool forwardedFor = false;
    // "HTTP/1.0", "HTTP/1.1" or "HTTP/2.0": for request.log, CGI/WSGI SERVER_PROTOCOL and the
    // debug page; apps must not branch on it (every protocol carries every app). Static text.
    QByteArrayView version;

    QByteArray txnId; // unique per request; also sent as X-Berth-Txn
    // What apps attach for the apps after them (the user, the session, route data), one typed
    // slot per feature: see RequestAttributes, Http::Identity, Sessions::SessionRef.
    RequestAttributes attributes;

    // A middleware that had to read the body (a form field it checks) keeps it here and sets
    // bodyBuffered; readBody() then hands the next app these bytes instead of the stream.
    QByteArray bufferedBody;
    bool bodyBuffered = false;

    QByteArrayView method() const { return head.method; }
    QByteArrayView query() const { return head.query; }
    QByteArrayView header(QByteArrayView name) const { return head.field(name); }
    bool isHead() const { return head.method == "HEAD"; }
    // The protocol this request asks to switch to, lower-cased as sent ("websocket"), or empty:
    // HTTP/1.1 GET with "Connection: upgrade" and an "Upgrade" field (its first token), or
    // HTTP/2 extended CONNECT with ":protocol". Exchange::startTunnel() accepts it.
    QByteArrayView tunnelProtocol() const;

    // What apps attached to this exchange (the attribute slots, a buffered body): the engine
    // clears it when the exchange ends, which releases what the slots own (the session).
    void clearPerExchange()
    {
        attributes.clear();
        bufferedBody.clear();
        bodyBuffered = false;
    }
};

} // namespace Berth::Http
