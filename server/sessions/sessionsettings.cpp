#include "sessionsettings.h"

#include "http/requesthead.h"

#include <config/config.h>

#include <QFileInfo>
#include <QSqlDatabase>

#include <limits>

namespace Berth::Sessions {

using namespace Qt::StringLiterals;

namespace {

// Shorter secrets are guessable offline from one cookie: the MAC is a perfect oracle.
constexpr int MinSecretBytes = 16;

} // namespace

SessionSettings SessionSettings::fromConfig(const Config::Config &config, const QString &appSection)
{
    const QString section = u"sessions"_s;
    auto report = [&](const QString &key, const QString &message) {
        Config::Diagnostic diagnostic;
        diagnostic.location = config.has(section, key)     ? config.location(section, key)
                              : config.section(section)    ? config.section(section)->location
                              : config.section(appSection) ? config.section(appSection)->location
                                                           : Config::Location{};
        diagnostic.message = u"[%1] %2: %3"_s.arg(section, key, message);
        config.addDiagnostic(diagnostic);
    };

    SessionSettings settings;
    const QString storeText = config.getString(section, u"store"_s).trimmed();
    // A relative SQLite file lives next to the file that names it (or the first config file
    // when the default applies).
    QString baseDir;
    if (config.has(section, u"store"_s))
        baseDir = QFileInfo(config.location(section, u"store"_s).file).absolutePath();
    else if (!config.files().isEmpty())
        baseDir = QFileInfo(config.files().first()).absolutePath();
    QString error;
    if (std::optional<StoreLocation> store = parseStoreLocation(storeText, baseDir, &error)) {
        settings.store = *store;
        const QString driver = SqlSessionBackend::driverName(settings.store);
        if (!QSqlDatabase::isDriverAvailable(driver))
            report(u"store"_s, u"the Qt SQL driver %1 is not installed (Debian: %2)"_s.arg(
                                   driver, driver == u"QPSQL"_s ? u"libqt6sql6-psql"_s
                                                                : u"libqt6sql6-sqlite"_s));
    } else {
        report(u"store"_s, error);
    }

    settings.timeoutMs = config.getDuration(section, u"timeout"_s).count();
    if (settings.timeoutMs < 1000)
        report(u"timeout"_s, u"must be at least 1s"_s);

    settings.purgeIntervalMs = config.getDuration(section, u"purge_interval"_s).count();
    if (settings.purgeIntervalMs < 1000)
        report(u"purge_interval"_s, u"must be at least 1s"_s);

    const QString cookie = config.getString(section, u"cookie"_s);
    settings.cookieName = cookie.toLatin1();
    if (cookie.isEmpty() || cookie.toLatin1() != cookie.toUtf8() ||
        !Http::isToken(settings.cookieName))
        report(u"cookie"_s, u"'%1' is not a cookie name (letters, digits and "
                            u"!#$%&'*+-.^_`|~ only)"_s.arg(cookie));
    else if (settings.cookieName == TestCookieName)
        report(u"cookie"_s, u"'%1' is the name of the cookie test's cookie"_s.arg(cookie));

    settings.secret = config.getSecret(section, u"secret"_s).toUtf8();
    // An unreadable or empty secret_file has been reported by getSecret.
    if (settings.secret.isEmpty() && !config.isSet(section, u"secret_file"_s))
        report(u"secret"_s,
               u"required by [%1] (berth.session): a long random string that signs session "
               u"cookies and encrypts session data, the same on every node sharing the store "
               u"(e.g. `openssl rand -base64 32`)"_s.arg(appSection));
    else if (settings.secret.size() < MinSecretBytes)
        report(u"secret"_s, u"too short: use at least %1 random characters"_s.arg(MinSecretBytes));

    // The cipher's keynum goes into every ciphertext and signature as "keynum:" (at most ten
    // digits, at most INT_MAX); a negative one can't be on record.
    const qint64 keynum = config.getInt(section, u"keynum"_s);
    if (keynum < 0 || keynum > std::numeric_limits<int>::max())
        report(u"keynum"_s, u"must be between 0 and %1"_s.arg(std::numeric_limits<int>::max()));
    else
        settings.keynum = int(keynum);

    settings.cookieTest = config.getBool(section, u"cookie_test"_s);
    return settings;
}

} // namespace Berth::Sessions
