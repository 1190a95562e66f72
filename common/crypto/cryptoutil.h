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

// Frees the calling thread's OpenSSL state (its random generators, its error queue) now, for a
// thread that is done with OpenSSL. OpenSSL frees it when the thread exits, but QThread::wait()
// returns before a Qt thread's exit handlers have run: a process that ends right after joining
// its threads can run OpenSSL's atexit cleanup first, and that state is then never freed
// (LeakSanitizer saw it under load). Safe to call more than once.
void releaseThreadState();

} // namespace Berth::Crypto
