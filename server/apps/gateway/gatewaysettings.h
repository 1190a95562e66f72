#pragma once

#include "jwkssource.h"
#include "jwt.h"
#include "keyset.h"

#include "plugin/plugin.h"

#include <QByteArray>
#include <QHostAddress>
#include <QList>
#include <QString>
#include <QStringList>

#include <memory>

namespace Berth::Config {
class Config;
}

namespace Berth::Gateway {

// IPv4 and IPv6 networks (`10.0.0.0/8, ::1, 2001:db8::/32`). An IPv4-mapped IPv6 client
// (::ffff:10.1.2.3, a dual-stack listener) matches the IPv4 networks.
class NetworkList
{
public:
    // False and *error naming the first entry that is not an address or CIDR network.
    bool parse(const QStringList &entries, QString *error);
    bool contains(const QHostAddress &address) const;
    bool isEmpty() const { return m_networks.isEmpty(); }

private:
    QList<QPair<QHostAddress, int>> m_networks;
};

// Who may pass, in the order the gateway checks it: networks, a token, roles, methods.
struct AccessPolicy
{
    NetworkList ips;     // allowed networks; empty: every address
    NetworkList denyIps; // refused networks, checked first
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
