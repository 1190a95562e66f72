#pragma once

#include "keyset.h"

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>

namespace Berth::Gateway {

// What a verified token says about its bearer.
struct TokenClaims
{
    QString user;      // sub, or user
    QStringList roles; // roles (a list or a space-separated string), else scope
    QString tokenId;   // jti (sanitised), else the first 8 hex digits of the token's SHA-256
};

// Why a token was refused: the RFC 6750 error_description sent to the client and written to
// cef.log. Never echoes the token.
struct TokenError
{
    QString description;
};

// Checks JWS compact tokens (RFC 7515/7519) against a key set: strict base64url, a JSON object
// header and payload, the algorithm allowed by the key (never by the token alone: `alg: none`
// and HS/RS confusion are refused), the signature with OpenSSL, then exp/nbf/iat within the
// leeway, iss and aud when configured.
class JwtVerifier
{
public:
    struct Options
    {
        QString issuer;         // required iss when not empty
        QString audience;       // required among aud when not empty
        qint64 leewaySecs = 30; // clock skew allowed on exp, nbf, iat
    };
    using WallClock = std::function<qint64()>; // seconds since the epoch

    explicit JwtVerifier(Options options, WallClock clock = {});

    // keys may be replaced at any time (a JWKS reload); a null set refuses every token.
    bool verify(QByteArrayView token, const KeySet *keys, TokenClaims *claims,
                TokenError *error) const;

    // The largest token looked at; longer ones are refused before any decoding.
    static constexpr qsizetype MaxTokenBytes = 8192;

private:
    Options m_options;
    WallClock m_clock;
};

// Whether signature is a valid `alg` signature of input under key (the key must accept alg).
bool verifySignature(const VerifyKey &key, QStringView alg, QByteArrayView input,
                     QByteArrayView signature);

// The id request.log shows for a token that has no jti: the first 8 hex digits of its SHA-256.
QString tokenIdOf(QByteArrayView token);

} // namespace Berth::Gateway
