#pragma once

#include <QByteArray>
#include <QString>

#include <sys/socket.h>

namespace Berth::Upstream {

// Where a member listens: `host:port`, `[v6]:port` or `unix:/path`.
struct MemberAddress
{
    bool isUnix = false;
    QString host; // name or address literal (no brackets); empty for unix
    quint16 port = 0;
    QString path;           // unix socket path
    bool isLiteral = false; // host is an IP address: no DNS needed

    // "127.0.0.1:5001", "[::1]:5001", "unix:/run/app.sock" (as the user wrote it).
    QString text() const;
    // False with *error saying why.
    static bool parse(const QString &text, MemberAddress *address, QString *error);
};

// A socket address ready for connect().
struct ResolvedAddress
{
    sockaddr_storage storage{};
    socklen_t length = 0;
    bool valid() const { return length > 0; }
};

// Fills *out for a literal address or a unix path without blocking; false for a DNS name.
bool resolveLiteral(const MemberAddress &address, ResolvedAddress *out);
// Blocking DNS lookup (getaddrinfo): run it on the offload pool, never on an event loop.
bool resolveBlocking(const MemberAddress &address, ResolvedAddress *out);

} // namespace Berth::Upstream
