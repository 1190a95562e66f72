#pragma once

#include "upstream/upstreamconnection.h"

#include "http/request.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QVarLengthArray>

namespace Berth::Gateway {

struct GroupRuntime;
struct GroupSettings;

// The values of a message's Connection fields (on the stack unless a message has more than 4).
using ConnectionValues = QVarLengthArray<QByteArrayView, 4>;
// Whether a Connection field names this field (a hop-by-hop field to drop, RFC 9110 7.6.1).
bool namedByConnection(QByteArrayView name, const ConnectionValues &connectionValues);

// What a request to a member looks like beyond the client's request itself.
struct MemberHeadOptions
{
    enum class Body { None, Length, Chunked };
    Body body = Body::None; // Length: the client's Content-Length; Chunked: re-chunked
    // A WebSocket handshake (also an HTTP/2 extended CONNECT): sent as an HTTP/1.1 upgrade GET.
    bool upgrade = false;
    // The cache's background refresh: a GET without the client's own validators, no body and
    // no forwarding fields (no client waits for it).
    bool refresh = false;
    // The cache's stored validators, "Name: value\r\n" lines (empty: none).
    QByteArrayView conditionalFields;
};

// The HTTP/1.1 request head for `member` of `group` (docs/gateway.md, "Headers"): the request
// line (prefix stripped with strip_prefix), Host per `host`, the client's end-to-end fields
// (hop-by-hop ones and those its Connection names dropped), X-Forwarded-*, Forwarded, Via,
// X-Berth-Txn and the framing. Written into `out` (replaced) in one allocation at most: a
// buffer kept by the caller is reused.
void buildMemberHead(const GroupRuntime &group, int member, const Http::Request &request,
                     const MemberHeadOptions &options, QByteArray &out);

// The request's timeouts from the group's settings.
Upstream::UpstreamConnection::Timeouts memberTimeouts(const GroupSettings &settings);

// A connection to `member` for `handler`: an idle one from this thread's pool (*reused true:
// the caller carries on as connected, no upstreamConnected() follows), else a new one being
// opened (its upstreamConnected() or upstreamFailed() follows, never inline). Null when the
// member's name never resolved (a connect failure).
Upstream::UpstreamConnection *connectToMember(GroupRuntime &group, int member,
                                              Upstream::UpstreamConnection::Handler *handler,
                                              bool *reused);

// Puts a connection whose response ended back into this thread's pool (closed when it can't
// be reused or the pool is full).
void releaseToPool(GroupRuntime &group, int member, Upstream::UpstreamConnection *connection);

} // namespace Berth::Gateway
