#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace Berth::Crypto {

// Bytes from the operating system's CSPRNG (OpenSSL RAND_bytes). Never returns fewer.
QByteArray randomBytes(int count);
// HMAC-SHA256 of data under key (32 bytes).
QByteArray hmacSha256(QByteArrayView key, QByteArrayView data);
// SHA-256 digest (32 bytes).
QByteArray sha256(QByteArrayView data);
// Compares in time that depends only on the lengths, so an attacker timing the comparison of a
// guessed secret learns nothing about how much of it was right (CRYPTO_memcmp).
bool constantTimeEquals(QByteArrayView a, QByteArrayView b);
// Random token for ids and CSRF tokens: `bytes` random bytes, base64url without padding.
QByteArray randomToken(int bytes = 32);

} // namespace Berth::Crypto
