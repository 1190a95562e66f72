#include "sessionresumption.h"

#include "runtime/ticketkeys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <cstring>

namespace Berth::Tls {

namespace {

using Core::TicketKeyRing;

bool setHmacKey(EVP_MAC_CTX *hmac, const TicketKeyRing::Key &key)
{
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(
            OSSL_MAC_PARAM_KEY, const_cast<std::uint8_t *>(key.hmacKey.data()), key.hmacKey.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hmac, params) == 1;
}

// OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb), for TLS 1.2 tickets
// and TLS 1.3 stateless tickets alike. Encrypting: the current key, a fresh IV. Decrypting: 1
// with the current key, 2 (decrypt, then issue a new ticket) with the previous or next one, 0
// for an unknown name: OpenSSL then ignores the ticket and does a full handshake, as it does
// for a ticket whose HMAC does not verify.
int ticketKeyCallback(SSL *, unsigned char *keyName, unsigned char *iv, EVP_CIPHER_CTX *cipher,
                      EVP_MAC_CTX *hmac, int encrypt)
{
    TicketKeyRing *ring = TicketKeyRing::instance();
    if (encrypt) {
        TicketKeyRing::Keys keys;
        if (!ring->read(&keys))
            return 0; // no ticket this time
        const TicketKeyRing::Key &key = keys.current;
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
            return -1;
        std::memcpy(keyName, key.name.data(), key.name.size());
        if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aesKey.data(), iv) != 1 ||
            !setHmacKey(hmac, key))
            return -1;
        return 1;
    }
    TicketKeyRing::Key key;
    const TicketKeyRing::Match match = ring->find(keyName, &key);
    if (match == TicketKeyRing::Match::None)
        return 0;
    if (!setHmacKey(hmac, key) ||
        EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aesKey.data(), iv) != 1)
        return -1;
    return match == TicketKeyRing::Match::Current ? 1 : 2;
}

} // namespace

bool configureResumption(SSL_CTX *ctx, const ResumptionSettings &settings)
{
    // A session resumes only where the same certificates and client verification would have
    // let it be made; OpenSSL refuses resumption on a verifying context without an id context.
    const QByteArray id = settings.sessionIdContext.left(SSL_MAX_SID_CTX_LENGTH);
    if (SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char *>(id.constData()),
                                       unsigned(id.size())) != 1)
        return false;
    SSL_CTX_set_timeout(ctx, long(settings.timeout.count()));
    if (settings.cacheSize > 0) {
        // Session ids (TLS 1.2) and TLS 1.3 tickets when stateless ones are off; per process.
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, settings.cacheSize);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    if (!settings.tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        // TLS 1.3 with SSL_OP_NO_TICKET issues stateful tickets from the cache; with no cache
        // there is nothing to resume from, so issue none at all.
        if (settings.cacheSize <= 0)
            SSL_CTX_set_num_tickets(ctx, 0);
        return true;
    }
    return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticketKeyCallback) == 1;
}

} // namespace Berth::Tls
