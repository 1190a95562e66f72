#include "keyset.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace Berth::Gateway {

namespace {

constexpr int MinRsaBits = 2048;
constexpr qsizetype MaxJwksKeys = 64;

std::shared_ptr<EVP_PKEY> wrap(EVP_PKEY *key)
{
    return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

int base64UrlValue(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

// Fills *out from an EVP_PKEY of a supported type; false and *error otherwise.
bool describeKey(std::shared_ptr<EVP_PKEY> key, VerifyKey *out, QString *error)
{
    switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        if (EVP_PKEY_get_bits(key.get()) < MinRsaBits) {
            *error = QStringLiteral("RSA key of %1 bits (at least %2 needed)")
                         .arg(EVP_PKEY_get_bits(key.get()))
                         .arg(MinRsaBits);
            return false;
        }
        out->type = VerifyKey::Type::Rsa;
        break;
    case EVP_PKEY_EC: {
        char group[64] = {};
        size_t length = 0;
        if (!EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof(group), &length)) {
            *error = QStringLiteral("EC key without a named curve");
            return false;
        }
        const QByteArray name(group);
        if (name == "prime256v1" || name == "P-256")
            out->curve = QStringLiteral("P-256");
        else if (name == "secp384r1" || name == "P-384")
            out->curve = QStringLiteral("P-384");
        else if (name == "secp521r1" || name == "P-521")
            out->curve = QStringLiteral("P-521");
        else {
            *error = QStringLiteral("EC curve %1 is not supported (P-256, P-384, P-521)")
                         .arg(QString::fromLatin1(name));
            return false;
        }
        out->type = VerifyKey::Type::Ec;
        break;
    }
    case EVP_PKEY_ED25519:
        out->type = VerifyKey::Type::Ed25519;
        break;
    default:
        *error = QStringLiteral("unsupported key type (RSA, EC or Ed25519 expected)");
        return false;
    }
    out->pkey = std::move(key);
    return true;
}

QByteArray member(const QJsonObject &object, const QString &name, bool *ok)
{
    QByteArray bytes;
    const QJsonValue value = object.value(name);
    if (!value.isString() || !decodeBase64Url(value.toString().toLatin1(), &bytes))
        *ok = false;
    return bytes;
}

bool rsaFromJwk(const QJsonObject &jwk, VerifyKey *out, QString *error)
{
    bool ok = true;
    const QByteArray n = member(jwk, QStringLiteral("n"), &ok);
    const QByteArray e = member(jwk, QStringLiteral("e"), &ok);
    if (!ok || n.isEmpty() || e.isEmpty()) {
        *error = QStringLiteral("RSA key without valid n and e");
        return false;
    }
    BIGNUM *bn =
        BN_bin2bn(reinterpret_cast<const unsigned char *>(n.constData()), int(n.size()), nullptr);
    BIGNUM *be =
        BN_bin2bn(reinterpret_cast<const unsigned char *>(e.constData()), int(e.size()), nullptr);
    OSSL_PARAM_BLD *build = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = nullptr;
    EVP_PKEY *key = nullptr;
    if (bn && be && build && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, be) &&
        (params = OSSL_PARAM_BLD_to_param(build))) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
        if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
            EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
        EVP_PKEY_CTX_free(ctx);
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(build);
    BN_free(bn);
    BN_free(be);
    if (!key) {
        *error = QStringLiteral("RSA key rejected by OpenSSL");
        return false;
    }
    return describeKey(wrap(key), out, error);
}

bool ecFromJwk(const QJsonObject &jwk, VerifyKey *out, QString *error)
{
    const QString crv = jwk.value(QStringLiteral("crv")).toString();
    const char *group = crv == QLatin1String("P-256")   ? "prime256v1"
                        : crv == QLatin1String("P-384") ? "secp384r1"
                        : crv == QLatin1String("P-521") ? "secp521r1"
                                                        : nullptr;
    const int size = crv == QLatin1String("P-256") ? 32 : crv == QLatin1String("P-384") ? 48 : 66;
    bool ok = true;
    const QByteArray x = member(jwk, QStringLiteral("x"), &ok);
    const QByteArray y = member(jwk, QStringLiteral("y"), &ok);
    if (!group || !ok || x.size() != size || y.size() != size) {
        *error = QStringLiteral("EC key without a supported crv and valid x, y");
        return false;
    }
    QByteArray point = QByteArray(1, '\x04') + x + y;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char *>(group), 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                          size_t(point.size())),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *key = nullptr;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    if (!key) {
        *error = QStringLiteral("EC point not on the curve");
        return false;
    }
    return describeKey(wrap(key), out, error);
}

bool okpFromJwk(const QJsonObject &jwk, VerifyKey *out, QString *error)
{
    bool ok = true;
    const QByteArray x = member(jwk, QStringLiteral("x"), &ok);
    if (jwk.value(QStringLiteral("crv")).toString() != QLatin1String("Ed25519") || !ok ||
        x.size() != 32) {
        *error = QStringLiteral("OKP key that is not Ed25519 with a 32-byte x");
        return false;
    }
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char *>(x.constData()), 32);
    if (!key) {
        *error = QStringLiteral("Ed25519 key rejected by OpenSSL");
        return false;
    }
    return describeKey(wrap(key), out, error);
}

} // namespace

bool VerifyKey::accepts(QStringView name) const
{
    if (!alg.isEmpty() && alg != name)
        return false;
    switch (type) {
    case Type::Hmac:
        return name == u"HS256" || name == u"HS384" || name == u"HS512";
    case Type::Rsa:
        return name == u"RS256" || name == u"RS384" || name == u"RS512" || name == u"PS256" ||
               name == u"PS384" || name == u"PS512";
    case Type::Ec:
        return (name == u"ES256" && curve == u"P-256") || (name == u"ES384" && curve == u"P-384") ||
               (name == u"ES512" && curve == u"P-521");
    case Type::Ed25519:
        return name == u"EdDSA";
    }
    return false;
}

bool decodeBase64Url(QByteArrayView text, QByteArray *out)
{
    if (text.size() % 4 == 1)
        return false;
    QByteArray bytes;
    bytes.reserve(text.size() * 3 / 4 + 1);
    quint32 accumulator = 0;
    int bits = 0;
    for (char c : text) {
        const int value = base64UrlValue(c);
        if (value < 0)
            return false;
        accumulator = (accumulator << 6) | quint32(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes += char((accumulator >> bits) & 0xff);
        }
    }
    // Leftover bits must be zero: otherwise "AB" and "AC" would decode alike, and a signature
    // could be varied without changing what it decodes to.
    if (bits > 0 && (accumulator & ((1u << bits) - 1)) != 0)
        return false;
    *out = std::move(bytes);
    return true;
}

bool parsePublicKeyPem(const QByteArray &pem, VerifyKey *out, QString *error)
{
    BIO *bio = BIO_new_mem_buf(pem.constData(), int(pem.size()));
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    if (!key) {
        // A certificate carries the key too (what many identity providers publish).
        BIO_reset(bio);
        if (X509 *cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
            key = X509_get_pubkey(cert);
            X509_free(cert);
        }
    }
    BIO_free(bio);
    if (!key) {
        *error = QStringLiteral("no PEM public key or certificate found");
        return false;
    }
    return describeKey(wrap(key), out, error);
}

bool loadPublicKeyPem(const QString &path, VerifyKey *out, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("can't read %1: %2").arg(path, file.errorString());
        return false;
    }
    QString why;
    if (!parsePublicKeyPem(file.read(1 << 20), out, &why)) {
        *error = QStringLiteral("%1: %2").arg(path, why);
        return false;
    }
    return true;
}

bool parseJwks(const QByteArray &json, KeySet *out, QString *error, QStringList *warnings)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(json, &parseError);
    const QJsonValue keys = document.object().value(QStringLiteral("keys"));
    if (parseError.error != QJsonParseError::NoError || !document.isObject() || !keys.isArray()) {
        *error = QStringLiteral("not a JWKS document (a JSON object with a \"keys\" array)");
        return false;
    }
    KeySet set;
    const QJsonArray array = keys.toArray();
    for (qsizetype i = 0; i < array.size() && i < MaxJwksKeys; ++i) {
        const QJsonObject jwk = array.at(i).toObject();
        const QString kty = jwk.value(QStringLiteral("kty")).toString();
        VerifyKey key;
        key.kid = jwk.value(QStringLiteral("kid")).toString();
        key.alg = jwk.value(QStringLiteral("alg")).toString();
        QString why;
        bool ok = false;
        if (jwk.value(QStringLiteral("use")).toString() == QLatin1String("enc"))
            why = QStringLiteral("an encryption key (use: enc)");
        else if (kty == QLatin1String("RSA"))
            ok = rsaFromJwk(jwk, &key, &why);
        else if (kty == QLatin1String("EC"))
            ok = ecFromJwk(jwk, &key, &why);
        else if (kty == QLatin1String("OKP"))
            ok = okpFromJwk(jwk, &key, &why);
        else if (kty == QLatin1String("oct")) {
            bool decoded = true;
            key.type = VerifyKey::Type::Hmac;
            key.secret = member(jwk, QStringLiteral("k"), &decoded);
            ok = decoded && key.secret.size() >= 16;
            if (!ok)
                why = QStringLiteral("oct key without a k of at least 16 bytes");
        } else {
            why = QStringLiteral("unsupported kty \"%1\"").arg(kty);
        }
        if (ok)
            set.keys.append(std::move(key));
        else if (warnings)
            warnings->append(
                QStringLiteral("key %1 (kid \"%2\") skipped: %3").arg(i).arg(key.kid, why));
    }
    if (set.keys.isEmpty()) {
        *error = QStringLiteral("the JWKS holds no usable key");
        return false;
    }
    *out = std::move(set);
    return true;
}

} // namespace Berth::Gateway
