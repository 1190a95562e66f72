#include "userfile.h"

#include <QFile>
#include <QLoggingCategory>

#include <sys/stat.h>

Q_LOGGING_CATEGORY(lcUserFile, "berth.basicauth")

namespace Berth::Apps {

namespace {

bool isBcryptChar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
}

bool isSpace(char c)
{
    return c == ' ' || c == '\t';
}

} // namespace

bool isBcryptHash(QByteArrayView hash)
{
    // $2x$NN$ + 22 salt + 31 hash characters = 60 bytes.
    if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || hash[6] != '$')
        return false;
    if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y')
        return false;
    if (bcryptCost(hash) == 0)
        return false;
    for (char c : hash.sliced(7)) {
        if (!isBcryptChar(c))
            return false;
    }
    return true;
}

int bcryptCost(QByteArrayView hash)
{
    if (hash.size() < 7 || hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9')
        return 0;
    const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
    return cost >= 4 && cost <= 31 ? cost : 0;
}

UserTable parseUserFile(QByteArrayView content)
{
    UserTable table;
    int lineNumber = 0;
    qsizetype pos = 0;
    while (pos < content.size()) {
        qsizetype end = content.indexOf('\n', pos);
        if (end < 0)
            end = content.size();
        QByteArrayView line = content.sliced(pos, end - pos).trimmed();
        pos = end + 1;
        ++lineNumber;
        if (line.isEmpty() || line.startsWith('#'))
            continue;
        auto warn = [&](const QString &message) { table.warnings.append({lineNumber, message}); };
        // The user name ends at the first ':' (htpasswd) or blank (brim), whichever is first.
        // RFC 7617 user-ids cannot contain ':', so nothing a client can send is lost.
        qsizetype sep = 0;
        while (sep < line.size() && line[sep] != ':' && !isSpace(line[sep]))
            ++sep;
        const QByteArrayView user = line.first(sep);
        QByteArrayView hash = sep < line.size() ? line.sliced(sep + 1).trimmed() : QByteArrayView();
        if (user.isEmpty() || hash.isEmpty()) {
            warn(QStringLiteral("expected 'user bcrypt-hash' or 'user:bcrypt-hash'; line ignored"));
            continue;
        }
        if (!isBcryptHash(hash)) {
            // MD5-crypt, SHA1 and DES entries are fast to brute-force from a leaked file; plain
            // text would be worse. Refuse them rather than guess.
            warn(QStringLiteral("user '%1': not a bcrypt entry ($2a$, $2b$ or $2y$); user "
                                "ignored")
                     .arg(QString::fromUtf8(user)));
            continue;
        }
        const QString name = QString::fromUtf8(user);
        if (table.hashes.contains(name))
            warn(QStringLiteral("user '%1' listed again; this entry wins").arg(name));
        table.hashes.insert(name, hash.toByteArray());
        table.maxCost = qMax(table.maxCost, bcryptCost(hash));
    }
    return table;
}

UserFile::UserFile(QString path)
    : m_path(std::move(path))
{}

UserFile::Stamp UserFile::stat() const
{
    Stamp stamp;
    struct stat st
    {};
    const QByteArray native = QFile::encodeName(m_path);
    if (::stat(native.constData(), &st) != 0)
        return stamp;
    stamp.exists = true;
    stamp.size = st.st_size;
    stamp.mtimeNs = qint64(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    stamp.inode = st.st_ino;
    return stamp;
}

bool UserFile::read(QString *error, QList<UserFileWarning> *warnings)
{
    const Stamp before = stat();
    QFile file(m_path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error =
                QStringLiteral("cannot read auth_path '%1': %2").arg(m_path, file.errorString());
        return false;
    }
    // Auth files are small; a huge one is a mistake (or /dev/zero), not a user list.
    constexpr qint64 MaxBytes = 16 * 1024 * 1024;
    const QByteArray content = file.read(MaxBytes + 1);
    if (content.size() > MaxBytes) {
        if (error)
            *error = QStringLiteral("auth_path '%1' is larger than 16 MiB").arg(m_path);
        return false;
    }
    UserTable table = parseUserFile(content);
    if (warnings)
        *warnings += table.warnings;
    m_table = std::move(table);
    m_stamp = before;
    ++m_generation;
    return true;
}

bool UserFile::load(QString *error, QList<UserFileWarning> *warnings)
{
    return read(error, warnings);
}

void UserFile::refreshIfChanged(qint64 nowMs)
{
    if (m_lastCheckMs != 0 && nowMs - m_lastCheckMs < m_checkIntervalMs)
        return;
    m_lastCheckMs = nowMs;
    const Stamp now = stat();
    if (now == m_stamp)
        return;
    QString error;
    QList<UserFileWarning> warnings;
    if (read(&error, &warnings)) {
        qCInfo(lcUserFile).noquote()
            << QStringLiteral("reloaded %1: %2 user(s)").arg(m_path).arg(m_table.hashes.size());
        for (const UserFileWarning &warning : std::as_const(warnings))
            qCWarning(lcUserFile).noquote()
                << QStringLiteral("%1:%2: %3").arg(m_path).arg(warning.line).arg(warning.message);
        return;
    }
    // Fail closed: an auth file that disappeared must not leave its old users able to log in.
    qCWarning(lcUserFile).noquote() << error
                                    << QStringLiteral("; refusing every user until it "
                                                      "can be read");
    m_table = UserTable();
    m_stamp = now;
    ++m_generation;
}

const QByteArray *UserFile::hashFor(const QString &user) const
{
    const auto it = m_table.hashes.constFind(user);
    return it == m_table.hashes.constEnd() ? nullptr : &it.value();
}

} // namespace Berth::Apps
