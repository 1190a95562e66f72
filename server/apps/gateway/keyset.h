#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <memory>

typedef struct evp_pkey_st EVP_PKEY;

namespace Berth::Gateway {

// One key a JWT signature may be checked against. Its type fixes the algorithms it accepts, so
// a token can never pick how its own signature is checked (the HS/RS confusion attack: an
// HS256 token "signed" with the RSA public key as an HMAC secret).
struct VerifyKey
{
    enum class Type {
        Hmac,    // HS256/384/512
        Rsa,     // RS256/384/512, PS256/384/512
        Ec,      // ES256 (P-256), ES384 (P-384), ES512 (P-521)
        Ed25519, // EdDSA
    };
    Type type = Type::Hmac;
    QString kid;                    // empty: matches any token's kid (a PEM file or secret_key)
    QString alg;                    // the JWKS "alg", when given: only that algorithm
    QByteArray secret;              // Hmac
    QString curve;                  // Ec: "P-256", "P-384", "P-521"
    std::shared_ptr<EVP_PKEY> pkey; // Rsa, Ec, Ed25519

    // Whether this key may verify a token whose header says alg.
    bool accepts(QStringView alg) const;
};

// The keys of one verifier. Immutable once built; shared by every thread of a worker.
struct KeySet
{
    QList<VerifyKey> keys;
};

// A public key from a PEM file (SubjectPublicKeyInfo, or a certificate). False and *error
// when the file can't be read or holds no key of a supported type (RSA of at least 2048 bits,
// EC P-256/384/521, Ed25519).
bool loadPublicKeyPem(const QString &path, VerifyKey *out, QString *error);
bool parsePublicKeyPem(const QByteArray &pem, VerifyKey *out, QString *error);

// The keys of a JWKS document (RFC 7517 `{"keys": [...]}`): RSA (n, e), EC (crv, x, y), OKP
// Ed25519 (x) and oct (k). Keys meant for encryption (`use: enc`) and of unsupported types are
// skipped and named in *warnings; false and *error when the document is not a JWKS or yields
// no key at all.
bool parseJwks(const QByteArray &json, KeySet *out, QString *error,
               QStringList *warnings = nullptr);

// Strict base64url (RFC 7515 §2): the URL-safe alphabet, no padding, no blanks, and canonical
// (the unused low bits of the last character zero), so one value has one encoding. False when
// text is anything else.
bool decodeBase64Url(QByteArrayView text, QByteArray *out);

} // namespace Berth::Gateway
