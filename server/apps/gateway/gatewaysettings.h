#pragma once

#include "jwkssource.h"
#include "jwt.h"
#include "keyset.h"

#include "plugin/plugin.h"

#include <net/addresslist.h>

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>

#include <memory>

namespace Berth::Config {
class Config;
}

namespace Berth::Gateway {

// Who may pass, in the order the gateway checks it: networks, a token, roles, methods.
struct AccessPolicy
{
    Net::AddressList ips;     // allowed networks; empty: every address
    Net::AddressList denyIps; // refused networks, checked first
    bool authenticate = false;
    QStringList roles;         // any one of them (empty: no role needed)
    QStringList rolesAll;      // all of them
    QList<QByteArray> methods; // upper-case; empty: every method
};

// The token side of a gateway: how bearer tokens are checked. Shared (read-only, except the
// JWKS source, which is thread-safe) by every event-loop thread of a worker.
struct TokenSettings
{
    QString realm = QStringLiteral("Berth");
    std::shared_ptr<const KeySet> fixedKeys; // secret_key, secret_file, public_key
    std::shared_ptr<JwksSource> jwks;        // jwks, or null
    JwtVerifier::Options jwt;
    QString tokensFile;
    // auth_handler = plugin:...: asked about tokens neither the file nor the JWT keys know.
    const Plugins::AuthHandler *authHandler = nullptr;
    bool authHandlerNamed = false; // set, even if it could not be loaded (reported)
    bool hasJwtKeys() const { return (fixedKeys && !fixedKeys->keys.isEmpty()) || jwks; }
};

// Reads the policy keys (ips, deny_ips, roles, roles_all, methods) of section; bad values are
// reported as file:line diagnostics on config. authenticate is not read here.
AccessPolicy readPolicy(const Config::Config &config, const QString &section);
// Reads the token keys of section ([api-gateway] or an [app:NAME] with call = berth.gateway):
// loads the key files (a bad PEM or unreadable JWKS file is a diagnostic at the key's line).
std::shared_ptr<TokenSettings> readTokenSettings(const Config::Config &config,
                                                 const QString &section);

} // namespace Berth::Gateway
