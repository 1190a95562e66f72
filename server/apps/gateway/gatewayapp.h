#pragma once

#include "gatewaysettings.h"
#include "tokenfile.h"

#include "pipeline/app.h"

#include <QString>
#include <QStringList>

#include <functional>
#include <memory>

namespace Berth::Pipeline {
class AppRegistry;
struct AppSetup;
} // namespace Berth::Pipeline

namespace Berth::Core {
class ServerContext;
}

namespace Berth::Gateway {

// The user and roles the gateway verified, for the apps after it (a request attribute). The
// gateway also puts them in the request's X-Berth-User / X-Berth-Roles fields (replacing any
// the client sent), which is what upstream members and WSGI apps read.
struct GatewayIdentity
{
    QString user;
    QStringList roles;
    QString tokenId;
    // What the X-Berth-* fields point into: owned here so they live as long as the exchange.
    QByteArray userField;
    QByteArray rolesField;
};

// berth.gateway (Skitai's API gateway): middleware that checks, in this order, the client's
// address (deny_ips, ips), a bearer token when authenticate is on (a JWT checked against the
// configured keys, or an opaque token of tokens_file), the token's roles (roles: any of them,
// roles_all: every one) and the method (methods). A request that passes goes on to the next
// app with its user and roles set; any other is answered here: 401 with an RFC 6750 Bearer
// challenge for a missing or bad token, 403 for an address, role or method, each denial a CEF
// event with its reason. request.log gets the user and a token id, never the token.
//
// Verification is synchronous (an RS256 check costs tens of microseconds): no offload.
class GatewayApp final : public Pipeline::App
{
public:
    using Clock = std::function<qint64()>; // monotonic milliseconds, for the tokens file

    GatewayApp(AccessPolicy policy, std::shared_ptr<TokenSettings> tokens,
               JwtVerifier::WallClock wallClock = {}, Clock clock = {});

    // Reads the tokens file; false and *error when it can't be read.
    bool loadTokens(QString *error, QList<TokenFileWarning> *warnings = nullptr);
    void declareStats(Core::ServerContext *server);
    bool start(QString *error) override;

    Pipeline::Outcome handle(Http::Exchange &exchange) override;

    const TokenFile &tokenFile() const { return m_tokens; }
    bool requiresToken() const { return m_policy.authenticate; }
    // Whether any key or tokens file is configured (an unreadable one still counts).
    bool canVerifyTokens() const
    {
        return m_settings->hasJwtKeys() || !m_settings->tokensFile.isEmpty() ||
               m_settings->authHandlerNamed;
    }

private:
    enum class Verdict { Ok, Missing, Invalid };
    Verdict authenticate(Http::Exchange &exchange, GatewayIdentity *identity, QString *why);
    Verdict askHandler(const Http::Request &request, QByteArrayView token,
                       GatewayIdentity *identity, QString *why);
    // The Bearer challenge; with an error description unless the request sent no token.
    QByteArray challenge(const QString &description) const;
    void deny(Http::Exchange &exchange, int status, const QString &signature, const QString &reason,
              const QString &user);
    static void setIdentityFields(Http::Exchange &exchange, GatewayIdentity identity);

    AccessPolicy m_policy;
    std::shared_ptr<TokenSettings> m_settings;
    JwtVerifier m_verifier;
    TokenFile m_tokens;
    JwtVerifier::WallClock m_wallClock;
    Clock m_clock;
    Core::ServerContext *m_server = nullptr;
    int m_allowedStat = -1;
    int m_deniedStat = -1;
};

// Builds a gateway from a section: an [app:NAME] with call = berth.gateway, or [api-gateway]
// itself. Reports bad keys as diagnostics; null only when nothing usable could be built.
std::unique_ptr<GatewayApp> buildGateway(const Pipeline::AppSetup &setup);

// `[api-gateway] enable_gateway = yes`: the app of a `@group` route, guarded by a gateway with
// [api-gateway]'s token settings and the group's own roles, ips, deny_ips and methods. Returns
// inner unchanged when the gateway is off.
std::unique_ptr<Pipeline::App> guardGroup(const Pipeline::AppSetup &setup, const QString &section,
                                          std::unique_ptr<Pipeline::App> inner);

// Registers berth.gateway, and `gateway` as a route name that needs no [app:gateway].
void registerGatewayApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Gateway
