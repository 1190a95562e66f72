#include "authchallenge.h"

#include "http/exchange.h"
#include "log/cef.h"

namespace Berth::Apps {

QByteArray quotedParameter(const QString &text)
{
    QByteArray out = "\"";
    for (char c : text.toUtf8()) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f)
            out += c;
    }
    out += '"';
    return out;
}

void sendChallenge(Http::Exchange &exchange, const QByteArray &challenge)
{
    exchange.response().setHeader("WWW-Authenticate", challenge);
    Http::respondWithError(exchange, 401);
}

void refuseAuthentication(Http::Exchange &exchange, const QByteArray &challenge,
                          const AuthFailure &failure)
{
    Log::logCef(QStringLiteral("Authentication failure"), 5, &exchange.request(), failure.user,
                QStringLiteral("AuthFail"),
                {{QStringLiteral("msg"), failure.app + QStringLiteral(": ") + failure.reason},
                 {QStringLiteral("cs2Label"), QStringLiteral("realm")},
                 {QStringLiteral("cs2"), failure.realm}});
    sendChallenge(exchange, challenge);
}

} // namespace Berth::Apps
