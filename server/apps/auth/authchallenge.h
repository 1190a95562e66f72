#pragma once

#include <QByteArray>
#include <QString>

namespace Berth::Http {
class Exchange;
}

namespace Berth::Apps {

// A quoted-string of a challenge parameter (RFC 9110 §5.6.4): '"' and '\' escaped, control
// bytes dropped, so nothing from the config or a token can end the field early.
QByteArray quotedParameter(const QString &text);

// 401 with challenge as its WWW-Authenticate field.
void sendChallenge(Http::Exchange &exchange, const QByteArray &challenge);

// Who failed to authenticate, for the security log.
struct AuthFailure
{
    QString app;    // "berth.basic_auth": the start of the event's msg
    QString realm;  // cs2
    QString user;   // suser, when the client named one
    QString reason; // the rest of msg
};

// The way every authenticating app refuses credentials: the CEF event "Authentication failure"
// (signature AuthFail, msg "APP: REASON", the realm in cs2), then sendChallenge().
void refuseAuthentication(Http::Exchange &exchange, const QByteArray &challenge,
                          const AuthFailure &failure);

} // namespace Berth::Apps
