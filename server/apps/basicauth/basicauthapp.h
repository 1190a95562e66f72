#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"
#include "userfile.h"

#include <QByteArray>
#include <QHash>
#include <QString>

#include <chrono>
#include <functional>
#include <memory>

namespace Berth::Core {
class OffloadPool;
}

namespace Berth::Apps {

// The user name and password of an `Authorization: Basic ...` field.
struct BasicCredentials
{
    QString user;
    QByteArray password;
};

enum class CredentialsStatus {
    Missing,   // no Authorization field, or another scheme
    Malformed, // "Basic" with bad base64, no ':', an empty user, NUL or control bytes
    Ok,
};

// Parses an Authorization field value strictly (RFC 7617): "Basic" (any case), blanks, then
// canonical base64 of "user:password" with the user valid UTF-8.
CredentialsStatus parseBasicCredentials(QByteArrayView fieldValue, BasicCredentials *out);

// berth.basic_auth (brim's wsgi_basic_auth): middleware that lets a request through to the next
// app of the pipeline only with a user name and password from the auth_path file. It answers
// 401 with a Basic challenge otherwise, sets the user of the request's Http::Identity attribute
// (request.log's user field) on success and logs every failed attempt as a CEF "AuthFail"
// event. Refuses plain HTTP (403) unless allow_insecure: Basic auth sends the password in the
// clear.
//
// bcrypt is slow on purpose (tens of milliseconds at cost 10), so it runs in the offload pool:
// the exchange waits, the event loop serves others meanwhile, and the verdict comes back to the
// exchange's thread. A full offload queue is answered 503. A password that verified is cached
// (an HMAC of it, for cacheTtl) so an honest client costs one bcrypt per user per cacheTtl,
// answered without leaving the event loop.
class BasicAuthApp final : public Pipeline::App
{
public:
    struct Options
    {
        QString authPath;
        QString realm = QStringLiteral("Berth");
        bool allowInsecure = false;
        std::chrono::milliseconds cacheTtl = std::chrono::minutes(5);
        qint64 reloadCheckMs = 1000;
    };
    using Clock = std::function<qint64()>; // milliseconds, monotonic

    explicit BasicAuthApp(Options options, Clock clock = {});
    ~BasicAuthApp() override;

    // Reads the auth file; false (and *error) when it can't be read. Line warnings go to
    // *warnings.
    bool load(QString *error, QList<UserFileWarning> *warnings = nullptr);
    void declareStats(Core::ServerContext *server);
    // Where bcrypt runs; null (the default) gives the app a pool of its own, started on first
    // use. Not owned.
    void setOffloadPool(Core::OffloadPool *pool) { m_pool = pool; }

    Pipeline::Outcome handle(Http::Exchange &exchange) override;

    // For tests: how many bcrypt computations were started (cache hits don't count).
    int hashComputations() const { return m_hashComputations; }
    const UserFile &userFile() const { return m_users; }

private:
    // In a pool thread: whether password hashes to stored (a bcrypt entry or setting).
    static bool bcryptMatches(const QByteArray &password, const QByteArray &stored);
    bool cachedMatch(const QString &user, const QByteArray &stored, const QByteArray &digest,
                     qint64 now) const;
    void remember(const QString &user, const QByteArray &digest, const QByteArray &stored);
    const QByteArray &dummySetting();
    Core::OffloadPool &pool();
    void allow(Http::Exchange &exchange, const QString &user);
    void fail(Http::Exchange &exchange, const QString &user, const QString &reason);

    struct CacheEntry
    {
        QByteArray digest; // HMAC(cache key, password)
        QByteArray hash;   // the bcrypt entry it was verified against
        quint64 generation = 0;
        qint64 expiresMs = 0;
    };

    Options m_options;
    Clock m_clock;
    UserFile m_users;
    QByteArray m_cacheKey;
    QHash<QString, CacheEntry> m_cache;
    QByteArray m_dummySetting;
    int m_dummyCost = 0;
    QByteArray m_challenge;
    int m_hashComputations = 0;
    Core::ServerContext *m_server = nullptr;
    int m_allowedStat = -1;
    int m_deniedStat = -1;
    Core::OffloadPool *m_pool = nullptr;
    std::unique_ptr<Core::OffloadPool> m_ownPool;
    // Verdicts that come back after the app is gone (a reload replaced it) are dropped.
    std::shared_ptr<int> m_lifetime = std::make_shared<int>(0);
};

void registerBasicAuthApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
