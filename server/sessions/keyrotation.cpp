#include "keyrotation.h"

#include "sessionsettings.h"
#include "sqlsessionstore.h"

#include <config/config.h>
#include <crypto/appcipher.h>

#include <QDateTime>
#include <QFileInfo>

namespace Berth::Sessions {

using namespace Qt::StringLiterals;

namespace {

constexpr int MinSecretBytes = 16; // as [sessions] secret

} // namespace

// A time without a zone is refused: read in this machine's zone it could activate the key hours
// away from what the operator meant, on nodes configured on another assumption.
std::optional<qint64> parseKeyTime(const QString &text, qint64 now, const QString &what,
                                   QString *error)
{
    if (text.isEmpty())
        return now;
    if (text.startsWith(u'+')) {
        const auto duration = Config::Values::parseDuration(text.mid(1));
        if (!duration) {
            *error = u"%1: '%2' is not a duration such as +30m, +2h or +1d"_s.arg(what, text);
            return std::nullopt;
        }
        return now + duration->count() / 1000;
    }
    const QDateTime when = QDateTime::fromString(text, Qt::ISODateWithMs);
    if (!when.isValid()) {
        *error = u"%1: '%2' is not an ISO 8601 time such as 2026-03-01T09:00:00Z"_s.arg(what, text);
        return std::nullopt;
    }
    if (when.timeSpec() == Qt::LocalTime) {
        *error =
            u"%1: '%2' has no time zone: add Z (UTC) or an offset such as +01:00"_s.arg(what, text);
        return std::nullopt;
    }
    if (when.toSecsSinceEpoch() < 0) {
        *error = u"%1: '%2' is before 1970"_s.arg(what, text);
        return std::nullopt;
    }
    return when.toSecsSinceEpoch();
}

QString checkNewSecret(const QByteArray &secret, const QByteArray &current)
{
    if (secret.size() < MinSecretBytes)
        return u"too short: use at least %1 random characters (openssl rand -base64 32)"_s.arg(
            MinSecretBytes);
    for (const char c : secret) {
        const bool ok = c > 0x20 && c < 0x7f && c != ';' && c != '#' && c != '$' && c != '"' &&
                        c != '\'' && c != '\\';
        if (!ok)
            return u"it must be one line of printable ASCII without spaces, quotes, backslashes, "
                   u"';', '#' or '$' (so that it reads back unchanged from the configuration); "
                   u"openssl rand -base64 32 makes one"_s;
    }
    // The same secret under a new keynum would protect nothing new.
    if (secret == current)
        return u"it is the one configured now: a new key needs a new secret"_s;
    return QString();
}

bool rotateKey(const SessionSettings &settings, int keynum, const QByteArray &secret, qint64 when,
               KeyRotation *done, QString *error)
{
    // A SQLite store that does not exist yet has no keys; rotation does not create one (a typo
    // in the path must not quietly start a second key chain).
    if (settings.store.kind == StoreLocation::Kind::Sqlite &&
        !QFileInfo::exists(settings.store.path)) {
        *error = u"%1 does not exist: nothing to rotate yet (the first berthd run creates it "
                 u"with key %2)"_s.arg(settings.store.path, QString::number(settings.keynum));
        return false;
    }
    SqlSessionBackend store(settings.store, settings.keynum, settings.secret);
    if (!store.open(error))
        return false;
    if (!store.cipher()->changeKey(keynum, secret, when, error)) {
        *error = u"can't register key %1: %2"_s.arg(QString::number(keynum), *error);
        return false;
    }
    done->store = settings.store.describe();
    done->activates = QDateTime::fromSecsSinceEpoch(when, Qt::UTC).toString(Qt::ISODate);
    done->previousKeynum = settings.keynum;
    return true;
}

} // namespace Berth::Sessions
