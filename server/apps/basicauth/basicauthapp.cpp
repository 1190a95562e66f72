#include "basicauthapp.h"

#include "apps/auth/authchallenge.h"
#include "http/exchange.h"
#include "http/identity.h"
#include "log/cef.h"
#include "pipeline/pipeline.h"
#include "runtime/offloadpool.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <config/config.h>
#include <crypto/cryptoutil.h>

#include <QRegularExpression>
#include <QStringDecoder>

#include <chrono>
#include <crypt.h>

namespace Berth::Apps {

namespace {

using namespace std::chrono;

constexpr int DefaultDummyCost = 10;
constexpr qsizetype MaxCacheEntries = 4096;

bool isBase64Char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

// Canonical, padded base64 only: what every browser and client library sends. Anything else is
// either a broken client or someone probing the decoder.
bool isStrictBase64(QByteArrayView token)
{
    if (token.isEmpty() || token.size() % 4 != 0)
        return false;
    qsizetype end = token.size();
    int padding = 0;
    while (end > 0 && token[end - 1] == '=' && padding < 2) {
        --end;
        ++padding;
    }
    for (qsizetype i = 0; i < end; ++i) {
        if (!isBase64Char(token[i]))
            return false;
    }
    return true;
}

bool hasControlBytes(QByteArrayView bytes)
{
    for (char c : bytes) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f)
            return true;
    }
    return false;
}

qint64 steadyNowMs()
{
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

} // namespace

CredentialsStatus parseBasicCredentials(QByteArrayView fieldValue, BasicCredentials *out)
{
    const QByteArrayView value = fieldValue.trimmed();
    if (value.isEmpty())
        return CredentialsStatus::Missing;
    qsizetype blank = 0;
    while (blank < value.size() && value[blank] != ' ' && value[blank] != '\t')
        ++blank;
    if (!Http::equalsIgnoreCase(value.first(blank), "Basic"))
        return CredentialsStatus::Missing; // another scheme: answer with our challenge
    const QByteArrayView token = value.sliced(blank).trimmed();
    if (!isStrictBase64(token))
        return CredentialsStatus::Malformed;
    const auto decoded = QByteArray::fromBase64Encoding(token.toByteArray(),
                                                        QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded)
        return CredentialsStatus::Malformed;
    const QByteArray &pair = *decoded;
    const qsizetype colon = pair.indexOf(':');
    if (colon <= 0)
        return CredentialsStatus::Malformed;
    const QByteArrayView user = QByteArrayView(pair).first(colon);
    const QByteArrayView password = QByteArrayView(pair).sliced(colon + 1);
    // crypt() reads a C string: a NUL would cut the password short, and "secret\0anything"
    // would then pass for "secret".
    if (hasControlBytes(user) || password.contains('\0'))
        return CredentialsStatus::Malformed;
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    QString name = decoder(user);
    if (decoder.hasError())
        return CredentialsStatus::Malformed;
    if (out) {
        out->user = std::move(name);
        out->password = password.toByteArray();
    }
    return CredentialsStatus::Ok;
}

BasicAuthApp::BasicAuthApp(Options options, Clock clock)
    : m_options(std::move(options))
    , m_clock(clock ? std::move(clock) : Clock(steadyNowMs))
    , m_users(m_options.authPath)
    , m_cacheKey(Crypto::randomBytes(32))
{
    m_users.setCheckInterval(m_options.reloadCheckMs);
    m_challenge = "Basic realm=" + quotedParameter(m_options.realm) + ", charset=\"UTF-8\"";
}

BasicAuthApp::~BasicAuthApp() = default;

bool BasicAuthApp::load(QString *error, QList<UserFileWarning> *warnings)
{
    return m_users.load(error, warnings);
}

void BasicAuthApp::declareStats(Core::ServerContext *server)
{
    m_server = server;
    if (server && server->offload)
        m_pool = server->offload;
    if (!server || !server->stats)
        return;
    m_allowedStat =
        server->stats->declare(name() + QStringLiteral(".allowed"), Core::StatType::Sum);
    m_deniedStat = server->stats->declare(name() + QStringLiteral(".denied"), Core::StatType::Sum);
}

Pipeline::Outcome BasicAuthApp::handle(Http::Exchange &exchange)
{
    Http::Request &request = exchange.request();
    if (!request.secure && !m_options.allowInsecure) {
        // TLS is configured but this request came over plain HTTP: refuse before the client is
        // invited to send a password in the clear.
        Log::logCef(QStringLiteral("Basic auth over plain HTTP refused"), 4, &request, QString(),
                    QStringLiteral("AuthInsecure"));
        Http::respondWithError(exchange, 403);
        return Pipeline::Outcome::Answered;
    }
    m_users.refreshIfChanged(m_clock());

    BasicCredentials credentials;
    const auto status = request.head.fieldCount("Authorization") > 1
                            ? CredentialsStatus::Malformed
                            : parseBasicCredentials(request.header("Authorization"), &credentials);
    switch (status) {
    case CredentialsStatus::Missing:
        // The usual first request of a browser; not an attack, so no CEF event.
        sendChallenge(exchange, m_challenge);
        return Pipeline::Outcome::Answered;
    case CredentialsStatus::Malformed:
        fail(exchange, QString(), QStringLiteral("malformed Authorization header"));
        return Pipeline::Outcome::Answered;
    case CredentialsStatus::Ok:
        break;
    }
    const QString &user = credentials.user;
    // The cache holds an HMAC of the password under a key that never leaves this process, not
    // the password or a bare hash of it: a memory dump gives nothing to brute-force offline
    // faster than the bcrypt entries themselves.
    const QByteArray digest = Crypto::hmacSha256(m_cacheKey, credentials.password);
    const QByteArray *stored = m_users.hashFor(user);
    if (stored && cachedMatch(user, *stored, digest, m_clock())) {
        allow(exchange, user);
        return Pipeline::Outcome::Pass;
    }
    // An unknown user still costs a full bcrypt computation at the file's cost, so the response
    // time does not tell an attacker which user names exist (the same reasoning as Caddy's
    // basic-auth handler, which hashes against a fake password).
    const bool known = stored != nullptr;
    const QByteArray against = known ? *stored : dummySetting();
    ++m_hashComputations;
    const Http::ExchangeHandle handle = exchange.handle();
    const std::weak_ptr<int> lifetime = m_lifetime;
    const bool queued = pool().submit(
        [password = credentials.password, against] { return bcryptMatches(password, against); },
        [this, lifetime, handle, user, digest, against, known](bool matches) {
            if (lifetime.expired())
                return; // the app was replaced meanwhile; its exchanges went with it
            Http::Exchange *ex = handle.get();
            if (!ex)
                return; // the client left while bcrypt ran
            if (!known) {
                fail(*ex, user, QStringLiteral("unknown user"));
            } else if (!matches) {
                fail(*ex, user, QStringLiteral("wrong password")); // failures are never cached
            } else {
                remember(user, digest, against);
                allow(*ex, user);
                ex->passToNext();
            }
        });
    if (!queued)
        Http::respondWithError(exchange, 503);
    return Pipeline::Outcome::Answered;
}

bool BasicAuthApp::cachedMatch(const QString &user, const QByteArray &stored,
                               const QByteArray &digest, qint64 now) const
{
    const auto cached = m_cache.constFind(user);
    return cached != m_cache.constEnd() && cached->generation == m_users.generation() &&
           cached->hash == stored && cached->expiresMs > now &&
           Crypto::constantTimeEquals(cached->digest, digest);
}

void BasicAuthApp::remember(const QString &user, const QByteArray &digest, const QByteArray &stored)
{
    // The entry verified may have been replaced while bcrypt ran: cache only what is current.
    const QByteArray *current = m_users.hashFor(user);
    if (!current || *current != stored)
        return;
    const qint64 now = m_clock();
    if (m_cache.size() >= MaxCacheEntries) {
        m_cache.removeIf([now](const auto &it) { return it.value().expiresMs <= now; });
        if (m_cache.size() >= MaxCacheEntries)
            m_cache.clear();
    }
    m_cache.insert(user, CacheEntry{digest, stored, m_users.generation(),
                                    now + qint64(m_options.cacheTtl.count())});
}

const QByteArray &BasicAuthApp::dummySetting()
{
    if (m_dummySetting.isEmpty() || m_dummyCost != m_users.maxCost()) {
        m_dummyCost = m_users.maxCost();
        const int cost = m_dummyCost > 0 ? m_dummyCost : DefaultDummyCost;
        const QByteArray entropy = Crypto::randomBytes(16);
        char setting[CRYPT_GENSALT_OUTPUT_SIZE];
        if (crypt_gensalt_rn("$2b$", cost, entropy.constData(), int(entropy.size()), setting,
                             sizeof(setting)))
            m_dummySetting = setting;
    }
    return m_dummySetting;
}

Core::OffloadPool &BasicAuthApp::pool()
{
    if (m_pool)
        return *m_pool;
    if (!m_ownPool)
        m_ownPool = std::make_unique<Core::OffloadPool>();
    return *m_ownPool;
}

void BasicAuthApp::allow(Http::Exchange &exchange, const QString &user)
{
    if (m_server && m_server->stats)
        m_server->stats->add(m_allowedStat);
    exchange.request().attributes.getOrSet<Http::Identity>().user = user;
}

bool BasicAuthApp::bcryptMatches(const QByteArray &password, const QByteArray &stored)
{
    if (stored.isEmpty())
        return false;
    // crypt_data is large (tens of KiB): one per pool thread, reused.
    thread_local std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
    // Only the first 72 bytes of a password count (bcrypt's limit). QByteArray data is
    // NUL-terminated, as crypt reads it.
    const char *result =
        crypt_rn(password.constData(), stored.constData(), data.get(), int(sizeof(crypt_data)));
    if (!result || result[0] == '*')
        return false;
    // Compare the recomputed entry in constant time: a byte-by-byte early exit would let a
    // client time its way through the stored hash.
    return Crypto::constantTimeEquals(QByteArrayView(result), stored);
}

void BasicAuthApp::fail(Http::Exchange &exchange, const QString &user, const QString &reason)
{
    if (m_server && m_server->stats)
        m_server->stats->add(m_deniedStat);
    refuseAuthentication(exchange, m_challenge,
                         {QStringLiteral("berth.basic_auth"), m_options.realm, user, reason});
}

void registerBasicAuthApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.basic_auth"), [](const Pipeline::AppSetup &setup) {
        using Config::Diagnostic;
        const Config::Config &config = setup.config;
        const QString &section = setup.section;
        const QString authPathKey = QStringLiteral("auth_path");
        BasicAuthApp::Options options;
        options.authPath = config.getPath(section, authPathKey);
        options.realm = config.getString(section, QStringLiteral("realm"));
        options.allowInsecure = config.getBool(section, QStringLiteral("allow_insecure"));

        const Config::Section *own = config.section(section);
        const Config::Location where = own ? own->location : Config::Location();
        const QString tls = QStringLiteral("tls");
        // TLS here, or ended at a trusted proxy that says so (X-Forwarded-Proto, PROXY v2).
        const bool tlsConfigured =
            config.getBool(tls, QStringLiteral("enabled")) ||
            !config.getString(tls, QStringLiteral("port")).trimmed().isEmpty() ||
            !config.getList(QStringLiteral("server"), QStringLiteral("trusted_proxies"))
                 .isEmpty() ||
            config.getString(QStringLiteral("server"), QStringLiteral("listen"))
                .contains(QRegularExpression(QStringLiteral("\\b(tls|proxy_protocol)\\b")));
        if (!tlsConfigured && !options.allowInsecure) {
            config.addDiagnostic({Diagnostic::Severity::Error, where,
                                  QStringLiteral("berth.basic_auth needs TLS ([tls] enabled = yes) "
                                                 "or allow_insecure = yes")});
        } else if (!tlsConfigured) {
            config.addDiagnostic(
                {Diagnostic::Severity::Warning, where,
                 QStringLiteral("berth.basic_auth [%1]: allow_insecure = yes and no TLS: "
                                "passwords cross the network in the clear")
                     .arg(section)});
        }

        auto app = std::make_unique<BasicAuthApp>(options);
        app->setName(setup.name);
        app->declareStats(setup.server); // also takes the server's offload pool
        if (!options.authPath.isEmpty()) {
            QString error;
            QList<UserFileWarning> warnings;
            const Config::Location keyWhere = config.location(section, authPathKey);
            if (!app->load(&error, &warnings)) {
                config.addDiagnostic({Diagnostic::Severity::Error, keyWhere,
                                      QStringLiteral("[%1] %2").arg(section, error)});
            }
            for (const UserFileWarning &warning : std::as_const(warnings)) {
                config.addDiagnostic({Diagnostic::Severity::Warning,
                                      Config::Location{options.authPath, warning.line},
                                      warning.message});
            }
        }
        // A missing auth_path is reported by the schema validator (a required key); the app is
        // still built and, with no users, refuses everyone.
        return std::unique_ptr<Pipeline::App>(std::move(app));
    });
}

} // namespace Berth::Apps
