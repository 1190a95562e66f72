#pragma once

#include "sqlsessionstore.h"

#include <QByteArray>
#include <QString>

namespace Berth::Config {
class Config;
}

namespace Berth::Sessions {

// The [sessions] section, shared by every berth.session app of a configuration.
struct SessionSettings
{
    StoreLocation store;
    qint64 timeoutMs = 600000;
    QByteArray cookieName = QByteArrayLiteral("sid");
    // The newest key of the AppCipher key chain that encrypts session data and signs cookies
    // (docs/cipher.md): keynum names it, secret is its master secret.
    QByteArray secret;
    int keynum = 0;
    qint64 purgeIntervalMs = 60000;
    bool cookieTest = false;

    // Reads [sessions] for the app in appSection ("app:demo"). Problems are recorded on the
    // config as `file:line: [sessions] key: ...` diagnostics; what is returned is then only
    // good enough to build an app that `berthd check` reports and never runs.
    static SessionSettings fromConfig(const Config::Config &config, const QString &appSection);
};

// The test cookie of the cookie-test flow (pyslet's `ctest`), and how long it lives: 100 days.
inline constexpr QByteArrayView TestCookieName = "ctest";
inline constexpr qint64 TestCookieMaxAge = 8640000;

} // namespace Berth::Sessions
