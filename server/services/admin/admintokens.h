#pragma once

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>

#include <functional>

namespace Berth::Admin {

// What a bearer token may do: read (every GET) or admin (everything).
enum class Scope { Read, Admin };

QString scopeName(Scope scope);

struct Token
{
    QByteArray digest; // SHA-256 of the token: the secret itself is not kept in memory
    Scope scope = Scope::Read;
    QString label; // the file's third field, else "line N": who, in audit lines
};

// The admin API's tokens, from [admin] token_file: one per line `TOKEN SCOPE [LABEL]`, `#`
// comments. Lookups compare SHA-256 digests in constant time, over every token.
class TokenStore
{
public:
    // Reads path; when it does not exist, creates it (mode 0600) holding one random admin token
    // and sets *created. False with *error on an unreadable or malformed file.
    bool load(const QString &path, bool *created, QString *error);
    // The token presented (the Authorization header's bearer value), or null.
    const Token *find(QByteArrayView presented) const;
    const QList<Token> &tokens() const { return m_tokens; }

    // Parses the file's text; false with *error naming the line.
    bool parse(const QByteArray &text, QString *error);

private:
    QList<Token> m_tokens;
};

// Counts authentication failures per client address over a sliding minute; a client over the
// limit is refused (429) until its failures age out. Clock injectable for tests.
class FailureLimiter
{
public:
    using Clock = std::function<qint64()>; // ms, monotonic
    explicit FailureLimiter(int perMinute, Clock clock = {});

    bool blocked(const QString &client);
    void recordFailure(const QString &client);

private:
    void prune(QList<qint64> &times, qint64 now) const;

    int m_limit;
    Clock m_clock;
    QHash<QString, QList<qint64>> m_failures;
};

} // namespace Berth::Admin
