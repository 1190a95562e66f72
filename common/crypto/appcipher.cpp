#include "appcipher.h"

#include "cryptoutil.h"

#include <QDateTime>
#include <QLoggingCategory>
#include <QReadLocker>
#include <QWriteLocker>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <climits>
#include <memory>

namespace Berth::Crypto {

Q_LOGGING_CATEGORY(lcAppCipher, "berth.crypto.appcipher")

namespace {

// Every AEAD operation carries associated data naming what the blob is and which key made it.
// The keynum in "keynum:" is not secret and not encrypted, so without this an attacker could
// relabel a ciphertext; and without the purpose, a ciphertext of application data (which a
// database reader can see) could be planted in the key table as a "wrapped key". The version
// lets a later format coexist without ambiguity.
constexpr char Domain[] = "berth.appcipher.v1";

QByteArray dataAad(int keynum)
{
    return QByteArray(Domain) + " data " + QByteArray::number(keynum);
}

// The newest key's record: proves the configured secret is the one on record, and binds the
// activation time, so a database writer cannot postpone a rotation unnoticed.
QByteArray checkAad(int keynum, qint64 activeFromSecs)
{
    return QByteArray(Domain) + " check " + QByteArray::number(keynum) + ' ' +
           QByteArray::number(activeFromSecs);
}

// An older key's record: its secret wrapped under the newer key `by`.
QByteArray wrapAad(int keynum, qint64 activeFromSecs, int by)
{
    return QByteArray(Domain) + " wrap " + QByteArray::number(keynum) + ' ' +
           QByteArray::number(activeFromSecs) + " by " + QByteArray::number(by);
}

const unsigned char *uchars(QByteArrayView bytes)
{
    return reinterpret_cast<const unsigned char *>(bytes.data());
}

struct CipherCtxFree
{
    void operator()(EVP_CIPHER_CTX *ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// Inputs beyond this would overflow OpenSSL's int lengths; nothing Berth encrypts comes close.
constexpr qsizetype MaxInput = INT_MAX - 1024;

struct Tagged
{
    int keynum = 0;
    QByteArray payload;
};

// Parses "keynum:base64". Strict, because the input is untrusted: the keynum is plain decimal
// digits without sign, spaces or leading zeros (one spelling per key, so nothing can hide in
// alternative spellings), and the base64 must decode without errors.
std::optional<Tagged> parseTagged(QByteArrayView data)
{
    const qsizetype colon = data.indexOf(':');
    if (colon <= 0 || colon > 10)
        return std::nullopt;
    qint64 keynum = 0;
    for (qsizetype i = 0; i < colon; ++i) {
        const char c = data[i];
        if (c < '0' || c > '9')
            return std::nullopt;
        keynum = keynum * 10 + (c - '0');
    }
    if (keynum > INT_MAX || (colon > 1 && data[0] == '0'))
        return std::nullopt;
    const auto decoded = QByteArray::fromBase64Encoding(data.sliced(colon + 1).toByteArray(),
                                                        QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded)
        return std::nullopt;
    return Tagged{int(keynum), decoded.decoded};
}

QByteArray formatTagged(int keynum, const QByteArray &payload)
{
    return QByteArray::number(keynum) + ':' + payload.toBase64();
}

} // namespace

AppCipher::AppCipher(int keynum, QByteArray masterSecret, KeyStore *store, Clock clock)
    : m_keynum(keynum)
    , m_secret(std::move(masterSecret))
    , m_store(store)
    , m_clock(std::move(clock))
{}

AppCipher::~AppCipher() = default;

qint64 AppCipher::now() const
{
    return m_clock ? m_clock() : QDateTime::currentSecsSinceEpoch();
}

// --- primitives -------------------------------------------------------------------------------

QByteArray AppCipher::aesGcmEncrypt(QByteArrayView key, QByteArrayView nonce, QByteArrayView aad,
                                    QByteArrayView plaintext)
{
    if (key.size() != KeySize || nonce.size() != NonceSize || aad.size() > MaxInput ||
        plaintext.size() > MaxInput)
        return {};
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (!ctx)
        return {};
    // GCM's default IV length is 12 bytes, so key and nonce go in with the cipher.
    if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, uchars(key), uchars(nonce)) != 1)
        return {};
    int length = 0;
    if (!aad.isEmpty() &&
        EVP_EncryptUpdate(ctx.get(), nullptr, &length, uchars(aad), int(aad.size())) != 1)
        return {};
    QByteArray out(plaintext.size() + TagSize, Qt::Uninitialized);
    auto *cursor = reinterpret_cast<unsigned char *>(out.data());
    int written = 0;
    if (!plaintext.isEmpty()) {
        if (EVP_EncryptUpdate(ctx.get(), cursor, &length, uchars(plaintext),
                              int(plaintext.size())) != 1)
            return {};
        written = length;
    }
    if (EVP_EncryptFinal_ex(ctx.get(), cursor + written, &length) != 1)
        return {};
    written += length;
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, TagSize, cursor + written) != 1)
        return {};
    out.truncate(written + TagSize);
    return out;
}

std::optional<QByteArray> AppCipher::aesGcmDecrypt(QByteArrayView key, QByteArrayView nonce,
                                                   QByteArrayView aad,
                                                   QByteArrayView ciphertextAndTag)
{
    if (key.size() != KeySize || nonce.size() != NonceSize || aad.size() > MaxInput ||
        ciphertextAndTag.size() < TagSize || ciphertextAndTag.size() > MaxInput)
        return std::nullopt;
    const QByteArrayView ciphertext = ciphertextAndTag.first(ciphertextAndTag.size() - TagSize);
    unsigned char tag[TagSize];
    std::copy_n(uchars(ciphertextAndTag.last(TagSize)), TagSize, tag);

    CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (!ctx)
        return std::nullopt;
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, uchars(key), uchars(nonce)) != 1)
        return std::nullopt;
    int length = 0;
    if (!aad.isEmpty() &&
        EVP_DecryptUpdate(ctx.get(), nullptr, &length, uchars(aad), int(aad.size())) != 1)
        return std::nullopt;
    QByteArray out(ciphertext.size(), Qt::Uninitialized);
    auto *cursor = reinterpret_cast<unsigned char *>(out.data());
    int written = 0;
    if (!ciphertext.isEmpty()) {
        if (EVP_DecryptUpdate(ctx.get(), cursor, &length, uchars(ciphertext),
                              int(ciphertext.size())) != 1)
            return std::nullopt;
        written = length;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, TagSize, tag) != 1)
        return std::nullopt;
    // The tag is checked here, over the AAD and the whole ciphertext. Only after it passes is
    // any plaintext handed out: unauthenticated plaintext must never reach a caller.
    if (EVP_DecryptFinal_ex(ctx.get(), cursor + written, &length) != 1)
        return std::nullopt;
    out.truncate(written + length);
    return out;
}

QByteArray AppCipher::hkdfSha256(QByteArrayView salt, QByteArrayView secret, QByteArrayView info,
                                 int length)
{
    // RFC 5869 caps the output at 255 hash lengths.
    if (secret.isEmpty() || length <= 0 || length > 255 * 32)
        return {};
    EVP_KDF *kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    if (!kdf)
        return {};
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!ctx)
        return {};

    char digest[] = "SHA256";
    OSSL_PARAM params[5];
    OSSL_PARAM *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char *>(secret.data()),
                                             size_t(secret.size()));
    // An absent salt is HashLen zero bytes (RFC 5869 2.2), which is what OpenSSL does when the
    // parameter is left out; an absent info is the empty string.
    if (!salt.isEmpty())
        *p++ = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_SALT, const_cast<char *>(salt.data()), size_t(salt.size()));
    if (!info.isEmpty())
        *p++ = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, const_cast<char *>(info.data()), size_t(info.size()));
    *p = OSSL_PARAM_construct_end();

    QByteArray out(length, Qt::Uninitialized);
    const bool ok = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char *>(out.data()),
                                   size_t(length), params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok ? out : QByteArray();
}

// --- keys -------------------------------------------------------------------------------------

AppCipher::Key AppCipher::deriveKey(int keynum, qint64 activeFromSecs, QByteArrayView secret)
{
    // The operator's secret may be a passphrase of any length and quality; HKDF turns it into
    // uniform keys. Encryption and signing get independent keys (different info), so a MAC
    // computed by sign() can never serve as, or reveal anything about, the AES key.
    Key key;
    key.keynum = keynum;
    key.activeFromSecs = activeFromSecs;
    key.encryptionKey = hkdfSha256(Domain, secret, "encrypt", KeySize);
    key.signingKey = hkdfSha256(Domain, secret, "sign", KeySize);
    return key;
}

QByteArray AppCipher::seal(const Key &key, QByteArrayView aad, QByteArrayView plaintext)
{
    // A random 96-bit nonce per message. GCM's safety rests on never repeating a nonce under one
    // key; at random that stays negligible below about 2^32 messages per key (NIST SP 800-38D
    // 8.3), and rotation resets the count.
    const QByteArray nonce = randomBytes(NonceSize);
    const QByteArray sealed = aesGcmEncrypt(key.encryptionKey, nonce, aad, plaintext);
    if (sealed.isEmpty())
        return {};
    return formatTagged(key.keynum, nonce + sealed);
}

std::optional<QByteArray> AppCipher::unseal(const Key &key, QByteArrayView aad,
                                            QByteArrayView payload)
{
    if (payload.size() < NonceSize + TagSize)
        return std::nullopt;
    return aesGcmDecrypt(key.encryptionKey, payload.first(NonceSize), aad,
                         payload.sliced(NonceSize));
}

const AppCipher::Key *AppCipher::activeKey() const
{
    if (m_keys.isEmpty())
        return nullptr;
    const qint64 t = now();
    for (auto it = m_keys.cend(); it != m_keys.cbegin();) {
        --it;
        if (it->activeFromSecs <= t)
            return &*it;
    }
    // Every key is scheduled for the future, which only a clock set far back can cause (the
    // first key is active from the epoch). The oldest key is the one that was in use before.
    return &m_keys.first();
}

// --- lifecycle --------------------------------------------------------------------------------

bool AppCipher::open(QString *error)
{
    QWriteLocker locker(&m_lock);
    m_open = false;
    m_keys.clear();
    auto fail = [error](const QString &message) {
        if (error)
            *error = message;
        return false;
    };

    if (!m_store)
        return fail(QStringLiteral("no key store"));
    if (m_keynum < 0)
        return fail(QStringLiteral("keynum %1 is negative").arg(m_keynum));
    if (m_secret.isEmpty())
        return fail(QStringLiteral("the secret for keynum %1 is empty").arg(m_keynum));

    QString loadError;
    const QList<KeyStore::Record> loaded = m_store->load(&loadError);
    if (!loadError.isEmpty())
        return fail(QStringLiteral("cannot load the key store: %1").arg(loadError));
    QMap<int, KeyStore::Record> records;
    for (const KeyStore::Record &record : loaded)
        records.insert(record.keynum, record);

    Key newest = deriveKey(m_keynum, 0, m_secret);
    if (!records.contains(m_keynum)) {
        if (!records.isEmpty()) {
            const int newestOnRecord = records.lastKey();
            if (newestOnRecord > m_keynum)
                return fail(QStringLiteral("keynum %1 is not in the key store, which holds the "
                                           "newer key %2: configure the newest key")
                                .arg(m_keynum)
                                .arg(newestOnRecord));
            // Editing keynum and secret in the configuration alone would orphan everything
            // encrypted under the old key, so it is refused rather than silently accepted.
            return fail(QStringLiteral("key %1 is the newest in the key store but keynum %2 is "
                                       "configured: rotate keys with change-key, giving key "
                                       "%1's secret, rather than by editing the configuration")
                            .arg(newestOnRecord)
                            .arg(m_keynum));
        }
        // First start on an empty store: this key has always been the key.
        const KeyStore::Record record{m_keynum, 0,
                                      seal(newest, checkAad(m_keynum, 0), QByteArrayView())};
        QString saveError;
        if (record.wrapped.isEmpty() || !m_store->save(record, &saveError))
            return fail(QStringLiteral("cannot register key %1: %2").arg(m_keynum).arg(saveError));
        m_keys.insert(m_keynum, newest);
        m_open = true;
        return true;
    }

    const KeyStore::Record own = records.value(m_keynum);
    const std::optional<Tagged> ownBlob = parseTagged(own.wrapped);
    if (!ownBlob || ownBlob->keynum < m_keynum)
        return fail(QStringLiteral("the key store's record for key %1 is malformed").arg(m_keynum));
    newest.activeFromSecs = own.activeFromSecs;
    if (ownBlob->keynum == m_keynum) {
        // The check fails both for a wrong secret and for a tampered record; either way this
        // process must not start encrypting under a key nobody else shares.
        if (!unseal(newest, checkAad(m_keynum, own.activeFromSecs), ownBlob->payload))
            return fail(QStringLiteral("the configured secret for keynum %1 does not match the "
                                       "key store (wrong secret, or the record was altered)")
                            .arg(m_keynum));
    } else {
        // Our key has been wrapped under a newer one: a change-key ran, and this process still
        // has the previous configuration. That is the normal state of a node during a rotation;
        // it keeps working with the keys it has.
        qCInfo(lcAppCipher, "key %d has been superseded by key %d in the key store", m_keynum,
               ownBlob->keynum);
    }
    m_keys.insert(m_keynum, newest);

    // Walk the chain from newest to oldest: each record was wrapped under a newer key, which the
    // previous steps have already unwrapped. Unwrapping everything here, once, keeps decrypt()
    // a map lookup; a link that fails stops the start, because data under that key (and every
    // older key) would otherwise be silently unreadable.
    for (auto it = records.lowerBound(m_keynum); it != records.begin();) {
        --it;
        const KeyStore::Record &record = *it;
        const std::optional<Tagged> blob = parseTagged(record.wrapped);
        if (!blob || record.keynum < 0)
            return fail(QStringLiteral("the key store's record for key %1 is malformed")
                            .arg(record.keynum));
        const auto by = m_keys.constFind(blob->keynum);
        if (blob->keynum <= record.keynum || by == m_keys.cend())
            return fail(QStringLiteral("key %1 in the key store is not wrapped under a newer key "
                                       "(it is under key %2): the chain to keynum %3 is broken")
                            .arg(record.keynum)
                            .arg(blob->keynum)
                            .arg(m_keynum));
        const std::optional<QByteArray> secret =
            unseal(*by, wrapAad(record.keynum, record.activeFromSecs, blob->keynum), blob->payload);
        if (!secret)
            return fail(QStringLiteral("key %1 in the key store does not unwrap under key %2 "
                                       "(the record was altered)")
                            .arg(record.keynum)
                            .arg(blob->keynum));
        m_keys.insert(record.keynum, deriveKey(record.keynum, record.activeFromSecs, *secret));
    }
    m_open = true;
    return true;
}

bool AppCipher::isOpen() const
{
    QReadLocker locker(&m_lock);
    return m_open;
}

int AppCipher::keynum() const
{
    QReadLocker locker(&m_lock);
    return m_keynum;
}

int AppCipher::activeKeynum() const
{
    QReadLocker locker(&m_lock);
    const Key *key = activeKey();
    return key ? key->keynum : -1;
}

QList<int> AppCipher::keynums() const
{
    QReadLocker locker(&m_lock);
    return m_keys.keys();
}

bool AppCipher::changeKey(int newKeynum, QByteArrayView newSecret, qint64 whenSecs, QString *error)
{
    QWriteLocker locker(&m_lock);
    auto fail = [error](const QString &message) {
        if (error)
            *error = message;
        return false;
    };
    if (!m_open)
        return fail(QStringLiteral("the cipher is not open"));
    if (newSecret.isEmpty())
        return fail(QStringLiteral("the new secret is empty"));
    if (whenSecs < 0)
        return fail(QStringLiteral("the activation time is negative"));
    if (newKeynum <= m_keynum)
        return fail(QStringLiteral("the new keynum %1 must be greater than the current keynum %2")
                        .arg(newKeynum)
                        .arg(m_keynum));

    // Re-read the store: another process may have rotated since open(). Wrapping our key under
    // a second "newest" key would fork the chain and strand one branch's data.
    QString loadError;
    const QList<KeyStore::Record> records = m_store->load(&loadError);
    if (!loadError.isEmpty())
        return fail(QStringLiteral("cannot load the key store: %1").arg(loadError));
    for (const KeyStore::Record &record : records) {
        if (record.keynum > m_keynum)
            return fail(QStringLiteral("the key store already holds key %1, newer than this "
                                       "process's key %2: run change-key with the newest key")
                            .arg(record.keynum)
                            .arg(m_keynum));
    }

    const Key current = m_keys.value(m_keynum);
    const Key next = deriveKey(newKeynum, whenSecs, newSecret);
    const KeyStore::Record nextRecord{newKeynum, whenSecs,
                                      seal(next, checkAad(newKeynum, whenSecs), QByteArrayView())};
    const KeyStore::Record currentRecord{
        m_keynum, current.activeFromSecs,
        seal(next, wrapAad(m_keynum, current.activeFromSecs, newKeynum), m_secret)};
    if (nextRecord.wrapped.isEmpty() || currentRecord.wrapped.isEmpty())
        return fail(QStringLiteral("cannot wrap key %1").arg(m_keynum));
    // Both records in one transaction. If a store cannot do that and stops half-way, the new
    // record goes first: the store then still has the old key's check and the old
    // configuration keeps working, rather than holding an old key wrapped under a key that
    // never got an activation time.
    QString saveError;
    if (!m_store->saveAll({nextRecord, currentRecord}, &saveError))
        return fail(QStringLiteral("cannot save key %1: %2").arg(newKeynum).arg(saveError));

    m_keys.insert(newKeynum, next);
    m_keynum = newKeynum;
    m_secret = newSecret.toByteArray();
    return true;
}

// --- data -------------------------------------------------------------------------------------

QByteArray AppCipher::encrypt(QByteArrayView plaintext) const
{
    QReadLocker locker(&m_lock);
    const Key *key = m_open ? activeKey() : nullptr;
    if (!key) {
        qCWarning(lcAppCipher, "encrypt() on a cipher that is not open");
        return {};
    }
    return seal(*key, dataAad(key->keynum), plaintext);
}

std::optional<QByteArray> AppCipher::decrypt(QByteArrayView data) const
{
    const std::optional<Tagged> tagged = parseTagged(data);
    if (!tagged)
        return std::nullopt;
    QReadLocker locker(&m_lock);
    const auto key = m_keys.constFind(tagged->keynum);
    if (!m_open || key == m_keys.cend())
        return std::nullopt;
    // The AAD names the keynum from the label, so a blob relabelled with another key's number
    // fails here even if an operator reused one secret for two keynums (equal AES keys).
    return unseal(*key, dataAad(tagged->keynum), tagged->payload);
}

QByteArray AppCipher::sign(QByteArrayView message) const
{
    QReadLocker locker(&m_lock);
    const Key *key = m_open ? activeKey() : nullptr;
    if (!key) {
        qCWarning(lcAppCipher, "sign() on a cipher that is not open");
        return {};
    }
    return formatTagged(key->keynum, hmacSha256(key->signingKey, message));
}

bool AppCipher::checkSignature(QByteArrayView signature, QByteArrayView message) const
{
    const std::optional<Tagged> tagged = parseTagged(signature);
    if (!tagged)
        return false;
    QReadLocker locker(&m_lock);
    const auto key = m_keys.constFind(tagged->keynum);
    if (!m_open || key == m_keys.cend())
        return false;
    // Constant time, so a forger timing the comparison learns nothing about how many leading
    // bytes of a guessed MAC were right. The keynum lookup before it is not secret.
    return constantTimeEquals(hmacSha256(key->signingKey, message), tagged->payload);
}

} // namespace Berth::Crypto
