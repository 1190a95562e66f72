#include "jwt.h"

#include <crypto/cryptoutil.h>

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cmath>

namespace Berth::Gateway {

namespace {

constexpr int MaxCandidateKeys = 8;

qint64 systemSeconds()
{
    return QDateTime::currentSecsSinceEpoch();
}

const EVP_MD *digestFor(QStringView alg)
{
    if (alg.endsWith(u"256"))
        return EVP_sha256();
    if (alg.endsWith(u"384"))
        return EVP_sha384();
    if (alg.endsWith(u"512"))
        return EVP_sha512();
    return nullptr;
}

bool verifyHmac(const VerifyKey &key, const EVP_MD *md, QByteArrayView input,
                QByteArrayView signature)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(md, key.secret.constData(), int(key.secret.size()),
              reinterpret_cast<const unsigned char *>(input.data()), size_t(input.size()), mac,
              &length))
        return false;
    return Crypto::constantTimeEquals(
        QByteArrayView(reinterpret_cast<const char *>(mac), qsizetype(length)), signature);
}

// JWS carries ECDSA signatures as R || S of fixed width; OpenSSL wants DER.
QByteArray ecdsaDer(QByteArrayView raw, int width)
{
    if (raw.size() != 2 * width)
        return {};
    const auto *bytes = reinterpret_cast<const unsigned char *>(raw.data());
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(bytes, width, nullptr);
    BIGNUM *s = BN_bin2bn(bytes + width, width, nullptr);
    QByteArray der;
    if (sig && r && s && ECDSA_SIG_set0(sig, r, s)) {
        r = s = nullptr; // owned by sig now
        unsigned char *out = nullptr;
        const int length = i2d_ECDSA_SIG(sig, &out);
        if (length > 0)
            der = QByteArray(reinterpret_cast<const char *>(out), length);
        OPENSSL_free(out);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return der;
}

bool verifyWithPkey(const VerifyKey &key, QStringView alg, QByteArrayView input,
                    QByteArrayView signature)
{
    QByteArray der;
    const EVP_MD *md = nullptr;
    if (key.type == VerifyKey::Type::Ec) {
        const int width = key.curve == QLatin1String("P-256")   ? 32
                          : key.curve == QLatin1String("P-384") ? 48
                                                                : 66;
        der = ecdsaDer(signature, width);
        if (der.isEmpty())
            return false;
        signature = der;
    }
    if (key.type != VerifyKey::Type::Ed25519)
        md = digestFor(alg);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = nullptr;
    bool ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key.pkey.get()) == 1;
    if (ok && alg.startsWith(u"PS")) {
        // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0;
    } else if (ok && alg.startsWith(u"RS")) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    }
    ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char *>(signature.data()),
                                size_t(signature.size()),
                                reinterpret_cast<const unsigned char *>(input.data()),
                                size_t(input.size())) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

bool decodeJsonObject(QByteArrayView encoded, QJsonObject *out)
{
    QByteArray bytes;
    if (!decodeBase64Url(encoded, &bytes))
        return false;
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(bytes, &error);
    if (error.error != QJsonParseError::NoError || !document.isObject())
        return false;
    *out = document.object();
    return true;
}

// A NumericDate claim: absent (true, *present false), a finite number (true), or wrong (false).
bool numericDate(const QJsonObject &payload, const QString &name, qint64 *value, bool *present)
{
    const QJsonValue v = payload.value(name);
    *present = !v.isUndefined();
    if (!*present)
        return true;
    if (!v.isDouble() || !std::isfinite(v.toDouble()))
        return false;
    *value = qint64(std::floor(v.toDouble()));
    return true;
}

QStringList rolesOf(const QJsonObject &payload)
{
    QStringList roles;
    const QJsonValue value = payload.value(QStringLiteral("roles"));
    if (value.isArray()) {
        for (const QJsonValue &role : value.toArray()) {
            if (role.isString() && !role.toString().isEmpty())
                roles.append(role.toString());
        }
        return roles;
    }
    const QString text =
        value.isString() ? value.toString() : payload.value(QStringLiteral("scope")).toString();
    return text.split(QLatin1Char(' '), Qt::SkipEmptyParts);
}

// A jti fit for a log field: printable ASCII without blanks, at most 64 characters.
QString sanitisedJti(const QJsonObject &payload)
{
    const QString jti = payload.value(QStringLiteral("jti")).toString();
    if (jti.isEmpty() || jti.size() > 64)
        return {};
    for (QChar c : jti) {
        if (c.unicode() <= 0x20 || c.unicode() >= 0x7f || c == QLatin1Char('"'))
            return {};
    }
    return jti;
}

// No control characters: the user and roles go into request.log and request headers.
bool isPlainText(const QString &text)
{
    for (QChar c : text) {
        if (c.unicode() < 0x20 || c.unicode() == 0x7f)
            return false;
    }
    return text.size() <= 256;
}

bool refuse(TokenError *error, const char *why)
{
    if (error)
        error->description = QString::fromLatin1(why);
    return false;
}

} // namespace

QString tokenIdOf(QByteArrayView token)
{
    return QString::fromLatin1(Crypto::sha256(token).toHex().left(8));
}

bool verifySignature(const VerifyKey &key, QStringView alg, QByteArrayView input,
                     QByteArrayView signature)
{
    if (!key.accepts(alg))
        return false;
    if (key.type == VerifyKey::Type::Hmac) {
        const EVP_MD *md = digestFor(alg);
        return md && verifyHmac(key, md, input, signature);
    }
    return key.pkey && verifyWithPkey(key, alg, input, signature);
}

JwtVerifier::JwtVerifier(Options options, WallClock clock)
    : m_options(std::move(options))
    , m_clock(clock ? std::move(clock) : WallClock(systemSeconds))
{}

bool JwtVerifier::verify(QByteArrayView token, const KeySet *keys, TokenClaims *claims,
                         TokenError *error) const
{
    if (token.size() > MaxTokenBytes)
        return refuse(error, "token too long");
    const qsizetype first = token.indexOf('.');
    const qsizetype second = first < 0 ? -1 : token.sliced(first + 1).indexOf('.');
    if (first <= 0 || second <= 0)
        return refuse(error, "malformed token");
    const qsizetype dot = first + 1 + second;
    const QByteArrayView signingInput = token.first(dot);
    const QByteArrayView encodedSignature = token.sliced(dot + 1);
    if (encodedSignature.contains('.'))
        return refuse(error, "malformed token"); // five parts: JWE, not supported
    QJsonObject header;
    QJsonObject payload;
    QByteArray signature;
    if (!decodeJsonObject(token.first(first), &header) ||
        !decodeJsonObject(token.sliced(first + 1, second), &payload) ||
        !decodeBase64Url(encodedSignature, &signature))
        return refuse(error, "malformed token");
    const QJsonValue algValue = header.value(QStringLiteral("alg"));
    if (!algValue.isString())
        return refuse(error, "malformed token");
    const QString alg = algValue.toString();
    if (alg.compare(QLatin1String("none"), Qt::CaseInsensitive) == 0 || signature.isEmpty())
        return refuse(error, "unsigned token");
    // An extension the token says we must understand, and we don't (RFC 7515 §4.1.11).
    if (header.contains(QStringLiteral("crit")))
        return refuse(error, "unsupported critical header");

    // A token's kid names its key: when a key has that kid, only it is tried. Otherwise the keys
    // without a kid (secret_key, public_key) are, and a lone named key for a token without kid.
    const QJsonValue kidValue = header.value(QStringLiteral("kid"));
    const bool hasKid = !kidValue.isUndefined();
    const QString kid = kidValue.toString();
    const bool kidKnown = hasKid && keys &&
                          std::any_of(keys->keys.cbegin(), keys->keys.cend(),
                                      [&](const VerifyKey &key) { return key.kid == kid; });
    bool sawAlg = false;
    bool verified = false;
    int tried = 0;
    if (keys) {
        for (const VerifyKey &key : keys->keys) {
            const bool candidate = kidKnown
                                       ? key.kid == kid
                                       : key.kid.isEmpty() || (!hasKid && keys->keys.size() == 1);
            if (!candidate || !key.accepts(alg))
                continue;
            sawAlg = true;
            if (++tried > MaxCandidateKeys)
                break;
            if (verifySignature(key, alg, signingInput, signature)) {
                verified = true;
                break;
            }
        }
    }
    if (!sawAlg) {
        return refuse(error, (hasKid && !kidKnown) || !keys || keys->keys.isEmpty()
                                 ? "unknown key id"
                                 : "algorithm not allowed for this key");
    }
    if (!verified)
        return refuse(error, "bad signature");

    const qint64 now = m_clock();
    const qint64 leeway = m_options.leewaySecs;
    qint64 exp = 0, nbf = 0, iat = 0;
    bool hasExp = false, hasNbf = false, hasIat = false;
    if (!numericDate(payload, QStringLiteral("exp"), &exp, &hasExp) ||
        !numericDate(payload, QStringLiteral("nbf"), &nbf, &hasNbf) ||
        !numericDate(payload, QStringLiteral("iat"), &iat, &hasIat))
        return refuse(error, "malformed time claim");
    if (hasExp && now >= exp + leeway)
        return refuse(error, "token expired");
    if (hasNbf && now + leeway < nbf)
        return refuse(error, "token not yet valid");
    if (hasIat && now + leeway < iat)
        return refuse(error, "token issued in the future");
    if (!m_options.issuer.isEmpty() &&
        payload.value(QStringLiteral("iss")).toString() != m_options.issuer)
        return refuse(error, "wrong issuer");
    if (!m_options.audience.isEmpty()) {
        const QJsonValue aud = payload.value(QStringLiteral("aud"));
        bool match = aud.isString() && aud.toString() == m_options.audience;
        if (aud.isArray()) {
            for (const QJsonValue &one : aud.toArray())
                match = match || (one.isString() && one.toString() == m_options.audience);
        }
        if (!match)
            return refuse(error, "wrong audience");
    }
    QString user = payload.value(QStringLiteral("sub")).toString();
    if (user.isEmpty())
        user = payload.value(QStringLiteral("user")).toString();
    if (user.isEmpty())
        return refuse(error, "token names no user (sub)");
    if (!isPlainText(user))
        return refuse(error, "malformed user claim"); // would break a log line or a header
    if (claims) {
        claims->user = user;
        claims->roles = rolesOf(payload);
        claims->roles.removeIf([](const QString &role) {
            return !isPlainText(role) || role.contains(QLatin1Char(','));
        });
        claims->tokenId = sanitisedJti(payload);
        if (claims->tokenId.isEmpty())
            claims->tokenId = tokenIdOf(token);
    }
    return true;
}

} // namespace Berth::Gateway
