#include "memberrequest.h"

#include "proxyapp.h"

#include "runtime/servercontext.h"
#include "runtime/sharedstate.h"
#include "upstream/connectionpool.h"

#include <QRandomGenerator>
#include <QVarLengthArray>

#include <charconv>
#include <cstring>

namespace Berth::Gateway {

using Http::equalsIgnoreCase;
using Upstream::UpstreamConnection;

namespace {

// What the head builder does with a field of the client's request.
enum class FieldKind {
    Pass,           // passed on as it is
    Drop,           // framing, hop-by-hop or rebuilt by the proxy
    Connection,     // hop-by-hop, and names more of them
    ForwardedFor,   // X-Forwarded-For: kept as a chain from a trusted proxy
    Forwarded,      // Forwarded: likewise
    ForwardedProto, // X-Forwarded-Proto
    ForwardedHost,  // X-Forwarded-Host
    Validator,      // If-*: passed on, except by a background refresh (the cache sends its own)
};

// One length test, then at most three comparisons: this runs for every field of every request.
FieldKind classify(QByteArrayView name)
{
    auto is = [&name](const char *candidate) {
        return equalsIgnoreCase(name, QByteArrayView(candidate));
    };
    switch (name.size()) {
    case 2:
        return is("te") ? FieldKind::Drop : FieldKind::Pass;
    case 4:
        return is("host") ? FieldKind::Drop : FieldKind::Pass;
    case 6:
        return is("expect") ? FieldKind::Drop : FieldKind::Pass;
    case 7:
        return is("trailer") || is("upgrade") ? FieldKind::Drop : FieldKind::Pass;
    case 8:
        return is("if-match") || is("if-range") ? FieldKind::Validator : FieldKind::Pass;
    case 9:
        if (is("forwarded"))
            return FieldKind::Forwarded;
        return is("x-real-ip") ? FieldKind::Drop : FieldKind::Pass;
    case 10:
        if (is("connection"))
            return FieldKind::Connection;
        return is("keep-alive") ? FieldKind::Drop : FieldKind::Pass;
    case 11:
        return is("x-berth-txn") ? FieldKind::Drop : FieldKind::Pass;
    case 13:
        return is("if-none-match") ? FieldKind::Validator : FieldKind::Pass;
    case 14:
        return is("content-length") || is("http2-settings") ? FieldKind::Drop : FieldKind::Pass;
    case 15:
        return is("x-forwarded-for") ? FieldKind::ForwardedFor : FieldKind::Pass;
    case 16:
        if (is("x-forwarded-host"))
            return FieldKind::ForwardedHost;
        return is("proxy-connection") ? FieldKind::Drop : FieldKind::Pass;
    case 17:
        if (is("x-forwarded-proto"))
            return FieldKind::ForwardedProto;
        if (is("if-modified-since"))
            return FieldKind::Validator;
        return is("transfer-encoding") ? FieldKind::Drop : FieldKind::Pass;
    case 18:
        return is("proxy-authenticate") ? FieldKind::Drop : FieldKind::Pass;
    case 19:
        return is("proxy-authorization") ? FieldKind::Drop : FieldKind::Pass;
    default:
        return FieldKind::Pass;
    }
}

// Writes into memory sized beforehand for the whole head (see buildMemberHead's bound).
struct Writer
{
    char *p;
    void put(QByteArrayView text)
    {
        if (!text.isEmpty())
            std::memcpy(p, text.data(), size_t(text.size()));
        p += text.size();
    }
    void put(char c) { *p++ = c; }
    void number(qint64 value) { p = std::to_chars(p, p + 24, value).ptr; }
    void field(QByteArrayView name, QByteArrayView value)
    {
        put(name);
        put(": ");
        put(value);
        put("\r\n");
    }
};

// The client's address as the forwarding fields give it: dotted IPv4 (a v4-mapped v6 address
// too), else the v6 text; "unix" on a unix-socket listener. At most 46 characters.
qsizetype writeAddress(const Http::Request &request, char *out)
{
    if (request.unixPeer || request.peerAddress.isNull()) {
        std::memcpy(out, "unix", 4);
        return 4;
    }
    bool isV4 = false;
    const quint32 v4 = request.peerAddress.toIPv4Address(&isV4);
    if (isV4) {
        char *p = out;
        for (int shift = 24; shift >= 0; shift -= 8) {
            p = std::to_chars(p, p + 3, (v4 >> shift) & 0xff).ptr;
            if (shift)
                *p++ = '.';
        }
        return p - out;
    }
    const QByteArray text = request.peerAddress.toString().toLatin1();
    const qsizetype n = qMin<qsizetype>(text.size(), 46);
    std::memcpy(out, text.constData(), size_t(n));
    return n;
}

} // namespace

bool namedByConnection(QByteArrayView name, const ConnectionValues &connectionValues)
{
    for (QByteArrayView value : connectionValues) {
        if (Http::listContainsToken(value, name))
            return true;
    }
    return false;
}

Upstream::UpstreamConnection::Timeouts memberTimeouts(const GroupSettings &settings)
{
    return {settings.connectTimeout, settings.responseTimeout, settings.readTimeout};
}

void buildMemberHead(const GroupRuntime &group, int member, const Http::Request &request,
                     const MemberHeadOptions &options, QByteArray &out)
{
    const Http::RequestHead &head = request.head;
    const GroupSettings &settings = group.settings;

    QByteArrayView host = head.host;
    QByteArray namedHost;
    if (settings.host == QLatin1String("member")) {
        host = group.memberHostHeaders[member];
    } else if (settings.host != QLatin1String("pass")) {
        namedHost = settings.host.toUtf8();
        host = namedHost;
    }

    // Connection values and the size of everything written below.
    ConnectionValues connectionValues;
    qsizetype bound = 512 + head.path.size() + head.query.size() + 4 * head.host.size() +
                      host.size() + request.txnId.size() + options.conditionalFields.size();
    for (const Http::HeaderField &field : head.fields) {
        bound += 2 * (field.name.size() + field.value.size() + 4);
        if (equalsIgnoreCase(field.name, "connection"))
            connectionValues.append(field.value);
    }
    out.resize(bound);
    Writer w{out.data()};

    // An HTTP/2 WebSocket (extended CONNECT, RFC 8441) reaches the member as an HTTP/1.1 one.
    w.put(options.upgrade || options.refresh ? QByteArrayView("GET") : head.method);
    w.put(' ');
    QByteArrayView path = head.path;
    if (settings.stripPrefix && !request.scriptName.isEmpty() &&
        path.startsWith(request.scriptName))
        path = path.sliced(request.scriptName.size());
    if (path.isEmpty() || path.front() != '/')
        w.put('/');
    w.put(path);
    if (!head.query.isEmpty()) {
        w.put('?');
        w.put(head.query);
    }
    w.put(" HTTP/1.1\r\n");
    w.field("Host", host); // first, as a client would send it

    // A trusted proxy's chain is kept as it sent it, every line of it; written in place after
    // the passed fields, so they are remembered here.
    const bool trusted = request.forwardedFor && !options.refresh;
    ConnectionValues chainFor; // the same small on-stack list of views
    ConnectionValues chainForwarded;
    QByteArrayView forwardedProto;
    QByteArrayView forwardedHost;
    for (const Http::HeaderField &field : head.fields) {
        switch (classify(field.name)) {
        case FieldKind::Pass:
            if (connectionValues.isEmpty() || !namedByConnection(field.name, connectionValues))
                w.field(field.name, field.value);
            break;
        case FieldKind::Validator:
            if (!options.refresh &&
                (connectionValues.isEmpty() || !namedByConnection(field.name, connectionValues)))
                w.field(field.name, field.value);
            break;
        case FieldKind::ForwardedFor:
            if (trusted)
                chainFor.append(field.value);
            break;
        case FieldKind::Forwarded:
            if (trusted)
                chainForwarded.append(field.value);
            break;
        case FieldKind::ForwardedProto:
            if (trusted)
                forwardedProto = field.value;
            break;
        case FieldKind::ForwardedHost:
            if (trusted)
                forwardedHost = field.value;
            break;
        case FieldKind::Drop:
        case FieldKind::Connection:
            break;
        }
    }

    if (!options.refresh) {
        char address[48];
        const QByteArrayView client(address, writeAddress(request, address));
        const QByteArrayView proto = request.secure ? "https" : "http";
        w.put("X-Forwarded-For: ");
        if (chainFor.isEmpty())
            w.put(client);
        for (qsizetype i = 0; i < chainFor.size(); ++i) {
            if (i)
                w.put(", ");
            w.put(chainFor[i]);
        }
        w.put("\r\n");
        w.field("X-Forwarded-Proto", forwardedProto.isEmpty() ? proto : forwardedProto);
        if (!forwardedHost.isEmpty() || !head.host.isEmpty())
            w.field("X-Forwarded-Host", forwardedHost.isEmpty() ? head.host : forwardedHost);
        w.put("Forwarded: ");
        if (chainForwarded.isEmpty()) {
            const bool v6 = client.contains(':');
            w.put(v6 ? QByteArrayView("for=\"[") : QByteArrayView("for="));
            w.put(client);
            if (v6)
                w.put("]\"");
            w.put(";proto=");
            w.put(proto);
            if (!head.host.isEmpty() && Http::isToken(head.host)) {
                w.put(";host=");
                w.put(head.host);
            } else if (!head.host.isEmpty()) {
                w.put(";host=\"");
                w.put(head.host);
                w.put('"');
            }
        }
        for (qsizetype i = 0; i < chainForwarded.size(); ++i) {
            if (i)
                w.put(", ");
            w.put(chainForwarded[i]);
        }
        w.put("\r\n");
        if (settings.via)
            w.field("Via", request.version == "HTTP/2.0" ? "2 berth" : "1.1 berth");
    }
    w.field("X-Berth-Txn", request.txnId);
    if (options.upgrade) {
        w.put("Connection: Upgrade\r\nUpgrade: websocket\r\n");
        if (head.field("sec-websocket-key").isNull()) {
            // HTTP/2 has no key: make one (the member's accept value is not relayed on h2).
            QByteArray key(16, Qt::Uninitialized);
            for (char &c : key)
                c = char(QRandomGenerator::global()->generate());
            w.field("Sec-WebSocket-Key", key.toBase64());
            if (head.field("sec-websocket-version").isNull())
                w.put("Sec-WebSocket-Version: 13\r\n");
        }
    }
    w.put(options.conditionalFields);
    if (options.body == MemberHeadOptions::Body::Chunked) {
        w.put("Transfer-Encoding: chunked\r\n");
    } else if (options.body == MemberHeadOptions::Body::Length) {
        w.put("Content-Length: ");
        w.number(head.contentLength);
        w.put("\r\n");
    } else if (!options.refresh &&
               (head.method == "POST" || head.method == "PUT" || head.method == "PATCH")) {
        w.put("Content-Length: 0\r\n");
    }
    w.put("\r\n");
    out.resize(w.p - out.constData());
}

UpstreamConnection *connectToMember(GroupRuntime &group, int member,
                                    UpstreamConnection::Handler *handler, bool *reused)
{
    const GroupSettings &settings = group.settings;
    if (UpstreamConnection *idle =
            Upstream::ConnectionPool::forCurrentThread().take(group.poolKeys[member])) {
        *reused = true;
        return idle;
    }
    *reused = false;
    Upstream::ResolvedAddress address;
    const Upstream::MemberAddress &spec = group.balancer->spec(member).address;
    if (member < group.literalAddresses.size() && group.literalAddresses[member].valid()) {
        address = group.literalAddresses[member];
    } else if (!Upstream::resolveLiteral(spec, &address)) {
        // Names are resolved off the event loop (when the group is built, then every
        // resolve_interval in the background); one that never resolved is a connect failure.
        address = group.resolver->address(member, Core::monotonicMs(),
                                          group.server ? group.server->offload : nullptr);
        if (!address.valid())
            return nullptr;
    }
    QByteArray serverName;
    if (member < group.serverNames.size()) {
        serverName = group.serverNames[member]; // shared, not copied
    } else {
        serverName = settings.sslName.toUtf8();
        if (serverName.isEmpty() && !spec.isUnix)
            serverName = spec.host.toUtf8();
    }
    auto *connection = new UpstreamConnection(address, group.tls, serverName);
    connection->open(handler, memberTimeouts(settings));
    return connection;
}

void releaseToPool(GroupRuntime &group, int member, UpstreamConnection *connection)
{
    const GroupSettings &settings = group.settings;
    Upstream::ConnectionPool::forCurrentThread().put(group.poolKeys[member], connection,
                                                     settings.keepalive, settings.keepaliveTimeout);
}

} // namespace Berth::Gateway
