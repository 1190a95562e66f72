#include "tokenfile.h"

#include <crypto/cryptoutil.h>

#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

namespace Berth::Gateway {

namespace {

constexpr qint64 MaxFileBytes = 16 << 20;

// "2027-01-31", "2027-01-31T12:00:00Z", "2027-01-31T12:00:00+02:00"; a time without a zone is
// UTC, so the file means the same on every machine.
bool parseExpiry(const QString &text, qint64 *secs)
{
    if (text == QLatin1String("-")) {
        *secs = 0;
        return true;
    }
    QDateTime when;
    if (text.size() == 10) {
        const QDate date = QDate::fromString(text, Qt::ISODate);
        if (date.isValid())
            when = QDateTime(date, QTime(0, 0), Qt::UTC);
    } else {
        when = QDateTime::fromString(text, Qt::ISODateWithMs);
        if (when.isValid() && when.timeSpec() == Qt::LocalTime)
            when.setTimeSpec(Qt::UTC);
    }
    if (!when.isValid())
        return false;
    *secs = when.toSecsSinceEpoch();
    return true;
}

} // namespace

TokenFile::TokenFile(QString path)
    : m_path(std::move(path))
{}

QHash<QByteArray, TokenFile::Entry> TokenFile::parse(const QByteArray &contents,
                                                     QList<TokenFileWarning> *warnings)
{
    static const QRegularExpression blanks(QStringLiteral("[ \\t]+"));
    QHash<QByteArray, Entry> entries;
    const QList<QByteArray> lines = contents.split('\n');
    for (qsizetype i = 0; i < lines.size(); ++i) {
        const auto warn = [&](const QString &message) {
            if (warnings)
                warnings->append({int(i + 1), message});
        };
        QString line = QString::fromUtf8(lines.at(i)).trimmed();
        if (line.isEmpty() || line.startsWith(QLatin1Char('#')))
            continue;
        const QStringList fields = line.split(blanks, Qt::SkipEmptyParts);
        if (fields.size() != 4) {
            warn(QStringLiteral("expected TOKEN USER ROLES EXPIRY, found %1 fields")
                     .arg(fields.size()));
            continue;
        }
        QByteArray digest;
        const QString &token = fields.at(0);
        if (token.startsWith(QLatin1String("sha256:"))) {
            digest = QByteArray::fromHex(token.mid(7).toLatin1());
            if (digest.size() != 32 || token.size() != 7 + 64) {
                warn(QStringLiteral("sha256: needs 64 hex digits"));
                continue;
            }
        } else {
            digest = Crypto::sha256(token.toUtf8());
        }
        Entry entry;
        entry.user = fields.at(1);
        if (fields.at(2) != QLatin1String("-"))
            entry.roles = fields.at(2).split(QLatin1Char(','), Qt::SkipEmptyParts);
        if (!parseExpiry(fields.at(3), &entry.expiresSecs)) {
            warn(QStringLiteral("expiry \"%1\" is neither ISO 8601 nor -").arg(fields.at(3)));
            continue;
        }
        if (entries.contains(digest))
            warn(QStringLiteral("token listed twice; the last line wins"));
        entries.insert(digest, std::move(entry));
    }
    return entries;
}

bool TokenFile::load(QString *error, QList<TokenFileWarning> *warnings)
{
    QFile file(m_path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("can't read %1: %2").arg(m_path, file.errorString());
        return false;
    }
    const QFileInfo info(file);
    m_size = info.size();
    m_modified = info.lastModified();
    m_entries = parse(file.read(MaxFileBytes), warnings);
    return true;
}

void TokenFile::refreshIfChanged(qint64 nowMs)
{
    if (m_path.isEmpty() || (m_lastCheckMs >= 0 && nowMs - m_lastCheckMs < m_checkIntervalMs))
        return;
    m_lastCheckMs = nowMs;
    const QFileInfo info(m_path);
    if (!info.exists() || (info.size() == m_size && info.lastModified() == m_modified))
        return; // a file being replaced may be briefly absent: keep what we have
    load(nullptr);
}

const TokenFile::Entry *TokenFile::find(QByteArrayView token) const
{
    const QByteArray digest = Crypto::sha256(token);
    const auto it = m_entries.constFind(digest);
    // The lookup is by digest (an attacker can't steer a SHA-256); the final comparison is in
    // constant time anyway, so no code path depends on how much of a guess was right.
    if (it == m_entries.constEnd() || !Crypto::constantTimeEquals(it.key(), digest))
        return nullptr;
    return &it.value();
}

} // namespace Berth::Gateway
