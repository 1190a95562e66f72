#include "ratelimitpolicy.h"

#include "http/exchange.h"
#include "http/identity.h"
#include "log/cef.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <config/config.h>

#include <QCryptographicHash>
#include <QHash>
#include <QMutex>
#include <QMutexLocker>

namespace Berth::Apps {

namespace {

const QString RateKeyName = QStringLiteral("rate");
const QString RateKeyKindName = QStringLiteral("rate_key");

QByteArray bearerToken(const Http::Request &request)
{
    const QByteArrayView value = request.header("Authorization").trimmed();
    if (value.size() < 7 || !Http::equalsIgnoreCase(value.first(7), "Bearer "))
        return {};
    return value.sliced(7).trimmed().toByteArray();
}

} // namespace

bool RateKey::parse(const QString &text, RateKey *out, QString *error)
{
    const QString t = text.trimmed();
    RateKey key;
    if (t.isEmpty() || t == u"ip") {
        key.kind = Kind::Ip;
    } else if (t == u"user") {
        key.kind = Kind::User;
    } else if (t == u"token") {
        key.kind = Kind::Token;
    } else if (t.startsWith(u"header:") && t.size() > 7) {
        key.kind = Kind::Header;
        key.header = t.sliced(7).trimmed().toLatin1();
    } else {
        if (error)
            *error =
                QStringLiteral("rate_key \"%1\": expected ip, user, token or header:NAME").arg(t);
        return false;
    }
    if (out)
        *out = key;
    return true;
}

QByteArray RateKey::of(const Http::Request &request) const
{
    switch (kind) {
    case Kind::Ip:
        break;
    case Kind::User:
        if (const QString user = Http::userOf(request); !user.isEmpty())
            return "u:" + user.toUtf8();
        break;
    case Kind::Token:
        // A hash, so the table (shared memory) never holds a credential.
        if (const QByteArray token = bearerToken(request); !token.isEmpty())
            return "t:" + QCryptographicHash::hash(token, QCryptographicHash::Sha256);
        break;
    case Kind::Header:
        if (const QByteArrayView value = request.header(header); !value.isEmpty())
            return "h:" + value.toByteArray();
        break;
    }
    if (request.unixPeer)
        return QByteArrayLiteral("ip:unix");
    return "ip:" + request.peerAddress.toString().toLatin1();
}

std::shared_ptr<RateLimitPolicy> RateLimitPolicy::fromConfig(const Config::Config &config,
                                                             const QString &section,
                                                             const QString &fallbackSection,
                                                             const QString &name,
                                                             Core::ServerContext *server)
{
    QString from = section;
    QString rateText = config.getString(section, RateKeyName).trimmed();
    if (rateText.isEmpty() && !fallbackSection.isEmpty() && config.hasSection(fallbackSection)) {
        from = fallbackSection;
        rateText = config.getString(fallbackSection, RateKeyName).trimmed();
    }
    if (rateText.isEmpty())
        return nullptr;
    Core::RateSpec spec;
    RateKey key;
    QString error;
    if (!Core::RateSpec::parse(rateText, &spec, &error)) {
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              config.location(from, RateKeyName),
                              QStringLiteral("[%1] %2").arg(from, error)});
        return nullptr;
    }
    if (!RateKey::parse(config.getString(from, RateKeyKindName), &key, &error)) {
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              config.location(from, RateKeyKindName),
                              QStringLiteral("[%1] %2").arg(from, error)});
        return nullptr;
    }
    // One policy per name, rate and key in a process, shared by its event-loop threads (the
    // limiter's table is shared with the other processes anyway, through its region).
    static QMutex mutex;
    static QHash<QString, std::weak_ptr<RateLimitPolicy>> policies;
    const QString id = name + u'\n' + spec.toString() + u'\n' + QString::number(int(key.kind)) +
                       u'\n' + QString::fromLatin1(key.header);
    QMutexLocker lock(&mutex);
    if (std::shared_ptr<RateLimitPolicy> existing = policies.value(id).lock())
        return existing;
    auto made = std::make_shared<RateLimitPolicy>(name, spec, key, server);
    policies.insert(id, made);
    return made;
}

RateLimitPolicy::RateLimitPolicy(const QString &name, Core::RateSpec spec, RateKey key,
                                 Core::ServerContext *server, Core::RateLimiter::Clock clock)
    : m_name(name)
    , m_key(std::move(key))
    , m_limiter(Core::RateLimiter::regionNameFor(name, Core::RateLimiter::DefaultBuckets), spec,
                std::move(clock))
    , m_server(server)
    , m_limitText(QByteArray::number(spec.burst))
{
    if (server && server->stats) {
        // Stat names live in shared memory and are short: "rl:NAME:limited".
        const QString prefix = QStringLiteral("rl:%1:").arg(name.left(36));
        m_allowedStat = server->stats->declare(prefix + u"allowed"_qs, Core::StatType::Sum);
        m_limitedStat = server->stats->declare(prefix + u"limited"_qs, Core::StatType::Sum);
    }
}

bool RateLimitPolicy::admit(Http::Exchange &exchange)
{
    Http::Request &request = exchange.request();
    const QByteArray key = m_key.of(request);
    const Core::RateLimiter::Decision d = m_limiter.check(key);
    Http::Response &response = exchange.response();
    response.setHeader("RateLimit-Limit", m_limitText);
    response.setHeader("RateLimit-Remaining", QByteArray::number(d.remaining));
    response.setHeader("RateLimit-Reset", QByteArray::number(d.resetSeconds));
    Core::StatsRegistry *stats = m_server ? m_server->stats : nullptr;
    if (d.allowed) {
        if (stats)
            stats->add(m_allowedStat);
        return true;
    }
    if (stats)
        stats->add(m_limitedStat);
    if (d.logEvent) {
        // At most one event per key and window across all workers (the bucket remembers).
        const QString shownKey = m_key.kind == RateKey::Kind::Token
                                     ? QStringLiteral("token sha256:") +
                                           QString::fromLatin1(key.sliced(2).toHex().left(16))
                                     : QString::fromUtf8(key);
        Log::logCef(
            QStringLiteral("Rate limit exceeded"), 4, &request, Http::userOf(request),
            QStringLiteral("RateLimited"),
            {{QStringLiteral("msg"), QStringLiteral("%1: %2 over %3")
                                         .arg(m_name, shownKey, m_limiter.spec().toString())}});
    }
    response.setHeader("Retry-After", QByteArray::number(d.retryAfterSeconds));
    Http::respondWithError(exchange, 429);
    return false;
}

} // namespace Berth::Apps
