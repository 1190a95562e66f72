#include "gatewayapp.h"

#include "apps/auth/authchallenge.h"
#include "http/exchange.h"
#include "http/identity.h"
#include "log/cef.h"
#include "pipeline/appregistry.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <config/config.h>

#include <QDateTime>
#include <QHash>
#include <QMutex>

#include <algorithm>
#include <chrono>

namespace Berth::Gateway {

namespace {

using namespace std::chrono;

const QString ApiGateway = QStringLiteral("api-gateway");

qint64 steadyNowMs()
{
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

qint64 wallNowSecs()
{
    return QDateTime::currentSecsSinceEpoch();
}

// RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
bool isB64Token(QByteArrayView token)
{
    qsizetype i = 0;
    for (; i < token.size(); ++i) {
        const char c = token[i];
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
                        c == '+' || c == '/';
        if (!ok)
            break;
    }
    if (i == 0)
        return false;
    while (i < token.size() && token[i] == '=')
        ++i;
    return i == token.size();
}

bool isIdentityField(QByteArrayView name)
{
    return Http::equalsIgnoreCase(name, "X-Berth-User") ||
           Http::equalsIgnoreCase(name, "X-Berth-Roles");
}

// The configuration text a section is built from: equal keys give the same shared settings.
QString sectionKey(const Config::Config &config, const QString &section)
{
    QString key = section;
    if (const Config::Section *own = config.section(section)) {
        for (const Config::Entry &entry : own->entries)
            key += u'\n' + entry.key + u'=' + entry.value;
    }
    return key;
}

// Token settings are built once per section and process, not once per event-loop thread: the
// key files are read once, and one JWKS source serves every thread.
std::shared_ptr<TokenSettings> sharedTokenSettings(const Config::Config &config,
                                                   const QString &section)
{
    static QMutex mutex;
    static QHash<QString, std::weak_ptr<TokenSettings>> cache;
    const QString key = sectionKey(config, section);
    QMutexLocker lock(&mutex);
    if (std::shared_ptr<TokenSettings> existing = cache.value(key).lock())
        return existing;
    std::shared_ptr<TokenSettings> made = readTokenSettings(config, section);
    cache.insert(key, made);
    return made;
}

// A group's own key when it sets one, else [api-gateway]'s.
AccessPolicy mergedPolicy(const Config::Config &config, const QString &group)
{
    AccessPolicy own = readPolicy(config, group);
    const AccessPolicy global = readPolicy(config, ApiGateway);
    if (own.ips.isEmpty())
        own.ips = global.ips;
    if (own.denyIps.isEmpty())
        own.denyIps = global.denyIps;
    if (own.roles.isEmpty())
        own.roles = global.roles;
    if (own.rolesAll.isEmpty())
        own.rolesAll = global.rolesAll;
    if (own.methods.isEmpty())
        own.methods = global.methods;
    return own;
}

// A member group behind the gateway: the gateway first, the proxy when it lets the request on.
class GuardedApp final : public Pipeline::App
{
public:
    GuardedApp(std::unique_ptr<GatewayApp> gate, std::unique_ptr<Pipeline::App> inner)
        : m_gate(std::move(gate))
        , m_inner(std::move(inner))
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        // The gateway decides synchronously: Pass means "go on now", never "later".
        if (m_gate->handle(exchange) == Pipeline::Outcome::Answered)
            return Pipeline::Outcome::Answered;
        return m_inner->handle(exchange);
    }
    bool start(QString *error) override { return m_gate->start(error) && m_inner->start(error); }

private:
    std::unique_ptr<GatewayApp> m_gate;
    std::unique_ptr<Pipeline::App> m_inner;
};

} // namespace

GatewayApp::GatewayApp(AccessPolicy policy, std::shared_ptr<TokenSettings> tokens,
                       JwtVerifier::WallClock wallClock, Clock clock)
    : m_policy(std::move(policy))
    , m_settings(tokens ? std::move(tokens) : std::make_shared<TokenSettings>())
    , m_verifier(m_settings->jwt, wallClock)
    , m_tokens(m_settings->tokensFile)
    , m_wallClock(wallClock ? std::move(wallClock) : JwtVerifier::WallClock(wallNowSecs))
    , m_clock(clock ? std::move(clock) : Clock(steadyNowMs))
{}

bool GatewayApp::loadTokens(QString *error, QList<TokenFileWarning> *warnings)
{
    if (m_settings->tokensFile.isEmpty())
        return true;
    return m_tokens.load(error, warnings);
}

void GatewayApp::declareStats(Core::ServerContext *server)
{
    m_server = server;
    if (!server || !server->stats)
        return;
    m_allowedStat =
        server->stats->declare(name() + QStringLiteral(".allowed"), Core::StatType::Sum);
    m_deniedStat = server->stats->declare(name() + QStringLiteral(".denied"), Core::StatType::Sum);
}

bool GatewayApp::start(QString *error)
{
    (void)error;
    if (m_settings->jwks)
        m_settings->jwks->start(); // a URL's fetching thread, once per process
    return true;
}

Pipeline::Outcome GatewayApp::handle(Http::Exchange &exchange)
{
    Http::Request &request = exchange.request();
    // Only the gateway speaks for X-Berth-User/-Roles: what a client sent is never passed on.
    std::erase_if(request.head.fields,
                  [](const Http::HeaderField &field) { return isIdentityField(field.name); });

    // Addresses first, as Skitai does: a refused network never gets to try tokens.
    if (m_policy.denyIps.contains(request.peerAddress)) {
        deny(exchange, 403, QStringLiteral("IPDenied"), QStringLiteral("address in deny_ips"), {});
        return Pipeline::Outcome::Answered;
    }
    if (!m_policy.ips.isEmpty() && !m_policy.ips.contains(request.peerAddress)) {
        deny(exchange, 403, QStringLiteral("IPDenied"), QStringLiteral("address not in ips"), {});
        return Pipeline::Outcome::Answered;
    }

    GatewayIdentity identity;
    if (m_policy.authenticate) {
        QString why;
        const Verdict verdict = authenticate(exchange, &identity, &why);
        if (verdict != Verdict::Ok) {
            if (m_server && m_server->stats)
                m_server->stats->add(m_deniedStat);
            // RFC 6750 §3.1: a request that sent no token gets no error code.
            Apps::refuseAuthentication(
                exchange, challenge(verdict == Verdict::Missing ? QString() : why),
                {QStringLiteral("berth.gateway"), m_settings->realm, identity.user, why});
            return Pipeline::Outcome::Answered;
        }
        Http::Identity &logged = request.attributes.getOrSet<Http::Identity>();
        logged.user = identity.user;
        logged.token = identity.tokenId;
    } else if (const GatewayIdentity *earlier = request.attributes.get<GatewayIdentity>()) {
        identity = *earlier; // a gateway before this one verified the token
    }

    const auto hasRole = [&](const QString &role) { return identity.roles.contains(role); };
    if (!m_policy.roles.isEmpty() &&
        std::none_of(m_policy.roles.cbegin(), m_policy.roles.cend(), hasRole)) {
        deny(exchange, 403, QStringLiteral("RoleDenied"),
             QStringLiteral("none of the roles %1").arg(m_policy.roles.join(u',')), identity.user);
        return Pipeline::Outcome::Answered;
    }
    if (!std::all_of(m_policy.rolesAll.cbegin(), m_policy.rolesAll.cend(), hasRole)) {
        deny(exchange, 403, QStringLiteral("RoleDenied"),
             QStringLiteral("not all of the roles %1").arg(m_policy.rolesAll.join(u',')),
             identity.user);
        return Pipeline::Outcome::Answered;
    }
    if (!m_policy.methods.isEmpty() && !m_policy.methods.contains(request.method())) {
        deny(exchange, 403, QStringLiteral("MethodDenied"),
             QStringLiteral("method %1 not allowed")
                 .arg(QString::fromLatin1(
                     request.method().first(std::min<qsizetype>(request.method().size(), 16)))),
             identity.user);
        return Pipeline::Outcome::Answered;
    }
    if (m_server && m_server->stats)
        m_server->stats->add(m_allowedStat);
    if (!identity.user.isEmpty())
        setIdentityFields(exchange, std::move(identity));
    return Pipeline::Outcome::Pass;
}

GatewayApp::Verdict GatewayApp::authenticate(Http::Exchange &exchange, GatewayIdentity *identity,
                                             QString *why)
{
    const Http::Request &request = exchange.request();
    const int fields = request.head.fieldCount("Authorization");
    if (fields == 0) {
        *why = QStringLiteral("no bearer token");
        return Verdict::Missing;
    }
    const QByteArrayView value = request.header("Authorization").trimmed();
    qsizetype blank = 0;
    while (blank < value.size() && value[blank] != ' ' && value[blank] != '\t')
        ++blank;
    if (!Http::equalsIgnoreCase(value.first(blank), "Bearer")) {
        *why = QStringLiteral("no bearer token"); // another scheme: the plain challenge
        return Verdict::Missing;
    }
    const QByteArrayView token = value.sliced(blank).trimmed();
    if (fields > 1 || !isB64Token(token)) {
        *why = QStringLiteral("malformed Authorization header");
        return Verdict::Invalid;
    }
    if (token.size() > JwtVerifier::MaxTokenBytes) {
        *why = QStringLiteral("token too long");
        return Verdict::Invalid;
    }

    if (!m_settings->tokensFile.isEmpty()) {
        m_tokens.refreshIfChanged(m_clock());
        if (const TokenFile::Entry *entry = m_tokens.find(token)) {
            if (entry->expiresSecs != 0 && m_wallClock() >= entry->expiresSecs) {
                identity->user = entry->user;
                *why = QStringLiteral("token expired");
                return Verdict::Invalid;
            }
            identity->user = entry->user;
            identity->roles = entry->roles;
            identity->tokenId = tokenIdOf(token);
            return Verdict::Ok;
        }
    }
    if (!m_settings->hasJwtKeys() || token.count('.') != 2) {
        if (m_settings->authHandler)
            return askHandler(exchange.request(), token, identity, why);
        *why = QStringLiteral("unknown token");
        return Verdict::Invalid;
    }
    // The fixed keys and the JWKS are one set: a token names its key by kid in either.
    std::shared_ptr<const KeySet> jwks = m_settings->jwks ? m_settings->jwks->keys() : nullptr;
    const KeySet *keys = m_settings->fixedKeys.get();
    KeySet merged;
    if (jwks) {
        if (keys && !keys->keys.isEmpty()) {
            merged.keys = keys->keys + jwks->keys;
            keys = &merged;
        } else {
            keys = jwks.get();
        }
    }
    TokenClaims claims;
    TokenError error;
    if (!m_verifier.verify(token, keys, &claims, &error)) {
        *why = error.description;
        return Verdict::Invalid;
    }
    identity->user = claims.user;
    identity->roles = claims.roles;
    identity->tokenId = claims.tokenId;
    return Verdict::Ok;
}

GatewayApp::Verdict GatewayApp::askHandler(const Http::Request &request, QByteArrayView token,
                                           GatewayIdentity *identity, QString *why)
{
    Plugins::AuthVerdict verdict;
    try {
        verdict = (*m_settings->authHandler)(token, request);
    } catch (...) {
        // Plugin code: what it throws must not take the worker down.
        *why = QStringLiteral("auth handler failed");
        return Verdict::Invalid;
    }
    if (!verdict.accepted || verdict.user.isEmpty()) {
        *why = verdict.reason.isEmpty() ? QStringLiteral("refused by the auth handler")
                                        : verdict.reason.left(200);
        return Verdict::Invalid;
    }
    identity->user = verdict.user;
    identity->roles = verdict.roles;
    identity->tokenId = tokenIdOf(token);
    return Verdict::Ok;
}

void GatewayApp::setIdentityFields(Http::Exchange &exchange, GatewayIdentity identity)
{
    Http::Request &request = exchange.request();
    identity.userField = identity.user.toUtf8();
    identity.rolesField = identity.roles.join(u',').toUtf8();
    // The fields point into the attribute, which lives until the exchange ends.
    const GatewayIdentity &kept = request.attributes.set(std::move(identity));
    request.head.fields.push_back({"X-Berth-User", kept.userField});
    request.head.fields.push_back({"X-Berth-Roles", kept.rolesField});
}

QByteArray GatewayApp::challenge(const QString &description) const
{
    // RFC 6750 §3: no error attribute when the request carried no token at all.
    QByteArray value = "Bearer realm=" + Apps::quotedParameter(m_settings->realm);
    if (!description.isEmpty())
        value +=
            ", error=\"invalid_token\", error_description=" + Apps::quotedParameter(description);
    return value;
}

void GatewayApp::deny(Http::Exchange &exchange, int status, const QString &signature,
                      const QString &reason, const QString &user)
{
    if (m_server && m_server->stats)
        m_server->stats->add(m_deniedStat);
    Http::Request &request = exchange.request();
    Log::logCef(QStringLiteral("Gateway denial"), 5, &request, user, signature,
                {{QStringLiteral("msg"), QStringLiteral("berth.gateway: ") + reason}});
    if (signature == u"RoleDenied")
        exchange.response().setHeader("WWW-Authenticate",
                                      "Bearer realm=" + Apps::quotedParameter(m_settings->realm) +
                                          ", error=\"insufficient_scope\"");
    Http::respondWithError(exchange, status);
}

namespace {

// Names the app, declares its stats and reads its tokens file, reporting problems.
std::unique_ptr<GatewayApp> finish(std::unique_ptr<GatewayApp> app, const Pipeline::AppSetup &setup,
                                   const QString &name)
{
    using Config::Diagnostic;
    const Config::Config &config = setup.config;
    app->setName(name);
    app->declareStats(setup.server);
    if (app->requiresToken() && !app->canVerifyTokens()) {
        // Fail closed is right, but a gateway that can only ever answer 401 is a mistake.
        config.addDiagnostic({Diagnostic::Severity::Error,
                              config.location(setup.section, QStringLiteral("authenticate")),
                              QStringLiteral("[%1] authenticate = yes needs secret_key, "
                                             "secret_file, public_key, jwks or tokens_file")
                                  .arg(setup.section)});
    }
    QString error;
    QList<TokenFileWarning> warnings;
    if (!app->loadTokens(&error, &warnings)) {
        config.addDiagnostic({Diagnostic::Severity::Error,
                              config.location(setup.section, QStringLiteral("tokens_file")),
                              QStringLiteral("[%1] %2").arg(setup.section, error)});
    }
    for (const TokenFileWarning &warning : std::as_const(warnings)) {
        config.addDiagnostic({Diagnostic::Severity::Warning,
                              Config::Location{app->tokenFile().path(), warning.line},
                              warning.message});
    }
    return app;
}

} // namespace

std::unique_ptr<GatewayApp> buildGateway(const Pipeline::AppSetup &setup)
{
    const Config::Config &config = setup.config;
    AccessPolicy policy = readPolicy(config, setup.section);
    policy.authenticate = config.getBool(setup.section, QStringLiteral("authenticate"));
    return finish(
        std::make_unique<GatewayApp>(std::move(policy), sharedTokenSettings(config, setup.section)),
        setup, setup.name);
}

std::unique_ptr<Pipeline::App> guardGroup(const Pipeline::AppSetup &setup, const QString &section,
                                          std::unique_ptr<Pipeline::App> inner)
{
    const Config::Config &config = setup.config;
    if (!inner || !config.getBool(ApiGateway, QStringLiteral("enable_gateway")))
        return inner;
    AccessPolicy policy = mergedPolicy(config, section);
    policy.authenticate = config.getBool(ApiGateway, QStringLiteral("authenticate"));
    const Pipeline::AppSetup gatewaySetup{config, ApiGateway, setup.name, setup.server};
    std::unique_ptr<GatewayApp> gate = finish(
        std::make_unique<GatewayApp>(std::move(policy), sharedTokenSettings(config, ApiGateway)),
        gatewaySetup, setup.name + QStringLiteral(".gateway"));
    return std::make_unique<GuardedApp>(std::move(gate), std::move(inner));
}

void registerGatewayApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.gateway"), [](const Pipeline::AppSetup &setup) {
        return std::unique_ptr<Pipeline::App>(buildGateway(setup));
    });
    registry.addImplicitApp(QStringLiteral("gateway"), QStringLiteral("berth.gateway"), ApiGateway);
}

} // namespace Berth::Gateway
