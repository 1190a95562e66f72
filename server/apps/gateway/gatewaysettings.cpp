#include "gatewaysettings.h"

#include "plugin/pluginloader.h"

#include <config/config.h>
#include <config/diagnostic.h>

#include <QFile>

namespace Berth::Gateway {

namespace {

using Config::Diagnostic;

void reportError(const Config::Config &config, const QString &section, const QString &key,
                 const QString &message)
{
    config.addDiagnostic({Diagnostic::Severity::Error, config.location(section, key),
                          QStringLiteral("[%1] %2: %3").arg(section, key, message)});
}

} // namespace

AccessPolicy readPolicy(const Config::Config &config, const QString &section)
{
    AccessPolicy policy;
    policy.ips = Net::AddressList::fromConfig(config, section, QStringLiteral("ips"));
    policy.denyIps = Net::AddressList::fromConfig(config, section, QStringLiteral("deny_ips"));
    policy.roles = config.getList(section, QStringLiteral("roles"));
    policy.rolesAll = config.getList(section, QStringLiteral("roles_all"));
    for (const QString &method : config.getList(section, QStringLiteral("methods")))
        policy.methods.append(method.trimmed().toUpper().toLatin1());
    return policy;
}

std::shared_ptr<TokenSettings> readTokenSettings(const Config::Config &config,
                                                 const QString &section)
{
    auto settings = std::make_shared<TokenSettings>();
    const QString realm = config.getString(section, QStringLiteral("realm"));
    if (!realm.isEmpty())
        settings->realm = realm;
    settings->jwt.issuer = config.getString(section, QStringLiteral("issuer"));
    settings->jwt.audience = config.getString(section, QStringLiteral("audience"));
    settings->jwt.leewaySecs = config.getDuration(section, QStringLiteral("leeway")).count() / 1000;
    settings->tokensFile = config.getPath(section, QStringLiteral("tokens_file"));
    const QString handlerKey = QStringLiteral("auth_handler");
    if (!config.getString(section, handlerKey).trimmed().isEmpty()) {
        settings->authHandlerNamed = true;
        QString error;
        settings->authHandler = Plugins::authHandlerFor(config, section, handlerKey, &error);
        if (!settings->authHandler)
            reportError(config, section, handlerKey, error);
    }

    KeySet fixed;
    const QString secret = config.getSecret(section, QStringLiteral("secret_key"));
    if (!secret.isEmpty())
        fixed.keys.append(VerifyKey{VerifyKey::Type::Hmac, {}, {}, secret.toUtf8(), {}, {}});
    const QString secretFile = config.getPath(section, QStringLiteral("secret_file"));
    if (!secretFile.isEmpty()) {
        QFile file(secretFile);
        if (!file.open(QIODevice::ReadOnly)) {
            reportError(config, section, QStringLiteral("secret_file"),
                        QStringLiteral("can't read %1: %2").arg(secretFile, file.errorString()));
        } else {
            // One trailing newline is the editor's, not the key's.
            QByteArray bytes = file.read(1 << 16);
            if (bytes.endsWith('\n'))
                bytes.chop(1);
            if (bytes.endsWith('\r'))
                bytes.chop(1);
            if (bytes.isEmpty())
                reportError(config, section, QStringLiteral("secret_file"),
                            QStringLiteral("%1 is empty").arg(secretFile));
            else
                fixed.keys.append(VerifyKey{VerifyKey::Type::Hmac, {}, {}, bytes, {}, {}});
        }
    }
    if (const QString path = config.getPath(section, QStringLiteral("public_key"));
        !path.isEmpty()) {
        VerifyKey key;
        QString error;
        if (loadPublicKeyPem(path, &key, &error))
            fixed.keys.append(std::move(key));
        else
            reportError(config, section, QStringLiteral("public_key"), error);
    }
    for (const VerifyKey &key : std::as_const(fixed.keys)) {
        if (key.type == VerifyKey::Type::Hmac && key.secret.size() < 32) {
            config.addDiagnostic({Diagnostic::Severity::Warning,
                                  config.location(section, QStringLiteral("secret_key")),
                                  QStringLiteral("[%1] an HMAC key shorter than 32 bytes is "
                                                 "easy to brute-force from one token")
                                      .arg(section)});
        }
    }
    settings->fixedKeys = std::make_shared<const KeySet>(std::move(fixed));

    const QString jwks = config.getString(section, QStringLiteral("jwks")).trimmed();
    if (!jwks.isEmpty()) {
        const bool url =
            jwks.startsWith(QLatin1String("https://")) || jwks.startsWith(QLatin1String("http://"));
        const QString location = url ? jwks : config.getPath(section, QStringLiteral("jwks"));
        const qint64 interval =
            config.getDuration(section, QStringLiteral("jwks_interval")).count();
        settings->jwks = JwksSource::shared(location, interval,
                                            config.getPath(section, QStringLiteral("jwks_ca")));
        QString error;
        QStringList warnings;
        if (!url && !settings->jwks->keys() && !settings->jwks->loadFile(&error, &warnings))
            reportError(config, section, QStringLiteral("jwks"), error);
        for (const QString &warning : std::as_const(warnings)) {
            config.addDiagnostic({Diagnostic::Severity::Warning,
                                  config.location(section, QStringLiteral("jwks")), warning});
        }
    }
    return settings;
}

} // namespace Berth::Gateway
