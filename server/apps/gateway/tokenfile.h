#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

namespace Berth::Gateway {

// A problem on one line of a tokens file (the line is skipped).
struct TokenFileWarning
{
    int line = 0;
    QString message;
};

// The opaque bearer tokens of `tokens_file`: one per line, `TOKEN USER ROLES EXPIRY` separated
// by blanks, where TOKEN is the token itself or `sha256:HEX` of it, ROLES is comma-separated or
// `-`, EXPIRY is ISO 8601 (a date, or a date and time; UTC unless it says otherwise) or `-`;
// `#` starts a comment. Only SHA-256 digests are kept in memory, and a presented token is
// looked up by its digest and compared in constant time.
//
// The file is re-read when it changes: refreshIfChanged() looks at its size and mtime at most
// once per check interval (1 s by default), so a change is seen within a second or two.
class TokenFile
{
public:
    struct Entry
    {
        QString user;
        QStringList roles;
        qint64 expiresSecs = 0; // seconds since the epoch; 0 = never
    };

    explicit TokenFile(QString path = {});
    void setCheckInterval(qint64 ms) { m_checkIntervalMs = ms; }

    // Reads the file now; false and *error when it can't be read (the old entries stay).
    bool load(QString *error, QList<TokenFileWarning> *warnings = nullptr);
    // Re-reads the file if its size or mtime changed since the last look; nowMs is monotonic.
    void refreshIfChanged(qint64 nowMs);

    // The entry of token, or null. Expiry is the caller's business (it knows the time).
    const Entry *find(QByteArrayView token) const;
    qsizetype size() const { return m_entries.size(); }
    const QString &path() const { return m_path; }

    // Parses file contents; exposed for tests.
    static QHash<QByteArray, Entry> parse(const QByteArray &contents,
                                          QList<TokenFileWarning> *warnings);

private:
    QString m_path;
    QHash<QByteArray, Entry> m_entries; // by SHA-256 of the token
    qint64 m_checkIntervalMs = 1000;
    qint64 m_lastCheckMs = -1;
    qint64 m_size = -1;
    QDateTime m_modified;
};

} // namespace Berth::Gateway
