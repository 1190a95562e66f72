#pragma once

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

#include <sys/types.h>

namespace Berth::Apps {

// The parsed contents of a berth.basic_auth auth_path file. Two line formats are accepted, so
// both brim's files and Apache's htpasswd files work unchanged:
//   alice $2b$12$...        brim: user, whitespace, bcrypt entry
//   alice:$2y$12$...        htpasswd: user, colon, bcrypt entry
// Blank lines and lines starting with '#' are ignored. Only bcrypt entries ($2a$, $2b$, $2y$)
// are accepted; others (MD5 $apr1$/$1$, {SHA}, crypt DES, plain text) are skipped with a
// warning naming file:line.
struct UserFileWarning
{
    int line = 0;
    QString message;
};

struct UserTable
{
    QHash<QString, QByteArray> hashes; // user -> bcrypt entry
    QList<UserFileWarning> warnings;
    int maxCost = 0; // highest bcrypt cost in the file (0 when empty)
};

UserTable parseUserFile(QByteArrayView content);
// "$2b$12$" + 53 characters of the bcrypt alphabet, with a cost in bcrypt's range.
bool isBcryptHash(QByteArrayView hash);
// The cost of a valid bcrypt entry ("$2b$12$..." -> 12), or 0.
int bcryptCost(QByteArrayView hash);

// The auth file as last read, re-read when it changes on disk. Not thread-safe: each
// event-loop thread's app instance has its own.
class UserFile
{
public:
    explicit UserFile(QString path);

    // First read. False (and *error) when the file can't be read; warnings about single lines
    // go to *warnings.
    bool load(QString *error, QList<UserFileWarning> *warnings);
    // Re-reads the file if its size, mtime or inode changed; looks at most once per
    // checkInterval ms. A file that went missing or unreadable empties the table: access is
    // refused until it is back, rather than granted from a stale copy.
    void refreshIfChanged(qint64 nowMs);
    void setCheckInterval(qint64 ms) { m_checkIntervalMs = ms; }

    // The bcrypt entry of a user, or nullptr.
    const QByteArray *hashFor(const QString &user) const;
    int maxCost() const { return m_table.maxCost; }
    // Increases on every successful re-read (caches key on it).
    quint64 generation() const { return m_generation; }
    const QString &path() const { return m_path; }

private:
    struct Stamp
    {
        bool exists = false;
        qint64 size = 0;
        qint64 mtimeNs = 0;
        ino_t inode = 0;
        bool operator==(const Stamp &) const = default;
    };
    Stamp stat() const;
    bool read(QString *error, QList<UserFileWarning> *warnings);

    QString m_path;
    UserTable m_table;
    Stamp m_stamp;
    quint64 m_generation = 0;
    qint64 m_checkIntervalMs = 1000;
    qint64 m_lastCheckMs = 0;
};

} // namespace Berth::Apps
