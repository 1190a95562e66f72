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

struct crypt_data;

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
// 401 with a Basic challenge otherwise, sets request.user (request.log's user field) on success
// and logs every failed attempt as a CEF "AuthFail" event. Refuses plain HTTP (403) unless
// allow_insecure: Basic auth sends the password in the clear.
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

    Pipeline::Outcome handle(Http::Exchange &exchange) override;

    // For tests: how many bcrypt computations ran (cache hits don't count).
    int hashComputations() const { return m_hashComputations; }
    const UserFile &userFile() const { return m_users; }

private:
    enum class Verdict { Allowed, WrongPassword, UnknownUser };
    Verdict verify(const BasicCredentials &credentials);
    bool bcryptMatches(QByteArrayView password, const QByteArray &stored);
    void challenge(Http::Exchange &exchange);
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
    std::unique_ptr<crypt_data> m_crypt;
    QByteArray m_cacheKey;
    QHash<QString, CacheEntry> m_cache;
    QByteArray m_dummySetting;
    int m_dummyCost = 0;
    QByteArray m_challenge;
    int m_hashComputations = 0;
    Core::ServerContext *m_server = nullptr;
    int m_allowedStat = -1;
    int m_deniedStat = -1;
};

void registerBasicAuthApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
