#pragma once

#include "keystore.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QList>
#include <QMap>
#include <QReadWriteLock>
#include <QString>

#include <functional>
#include <optional>

namespace Berth::Crypto {

// Encrypts and signs application data (session cookies, secrets kept in a database) under a
// numbered application key that can be rotated without losing what older keys protected:
// pyslet's AppCipher, with AES-256-GCM instead of unauthenticated AES-CFB.
//
// Output is ASCII, "keynum:base64(nonce[12] || ciphertext || tag[16])" for encrypt() and
// "keynum:base64(HMAC-SHA256)" for sign(). The configured keynum/secret is the newest key; every
// older key is kept in the KeyStore wrapped under the next newer key, so the newest secret
// unlocks the whole chain. changeKey() registers a newer key that takes over at a given time.
// The format and the rotation procedure are described in docs/cipher.md.
//
// Thread safety: after open(), encrypt/decrypt/sign/checkSignature may be called from any
// thread, concurrently with each other and with changeKey(). The KeyStore is only used from
// open() and changeKey(), on the caller's thread.
class AppCipher final
{
public:
    using Clock = std::function<qint64()>; // Unix time in seconds

    static constexpr int KeySize = 32;   // AES-256
    static constexpr int NonceSize = 12; // GCM's native IV size: no GHASH of the IV needed
    static constexpr int TagSize = 16;   // full-length tag

    // The store is not owned and must outlive the cipher. masterSecret may have any length; the
    // AES and HMAC keys are derived from it (HKDF-SHA256), never used raw. A null clock means the
    // system clock.
    AppCipher(int keynum, QByteArray masterSecret, KeyStore *store, Clock clock = {});
    ~AppCipher();
    Q_DISABLE_COPY_MOVE(AppCipher)

    // Loads the key chain: checks the configured secret against the store's key check and unwraps
    // every older key. On an empty store registers the configured key (active from the epoch).
    // Fails, with a message for the operator, on a store error, a secret that does not match
    // the one on record, a tampered record, or a configuration that names a key the chain
    // does not lead to (the keynum/secret edited without changeKey). Until it succeeds the
    // cipher encrypts and signs nothing and decrypts nothing.
    bool open(QString *error);
    bool isOpen() const;

    // The newest key this cipher holds: the configured one, or the last changeKey().
    int keynum() const;
    // The key encrypt() and sign() use now: the newest one whose activation time has passed.
    int activeKeynum() const;
    // Every key this cipher can decrypt and check signatures with, ascending.
    QList<int> keynums() const;

    // "keynum:base64(...)" under the active key with a fresh random nonce, so equal plaintexts
    // give different outputs. Empty only if the cipher is not open (or the input exceeds 2 GB).
    QByteArray encrypt(QByteArrayView plaintext) const;
    // The plaintext, or nullopt for anything that is not an intact output of encrypt() under a
    // key on record: wrong keynum label, unknown key, truncation, bad base64, any flipped bit.
    std::optional<QByteArray> decrypt(QByteArrayView data) const;

    // "keynum:base64(HMAC-SHA256(signing key, message))" under the active key. The signing key
    // is derived separately from the encryption key. Empty only if the cipher is not open.
    QByteArray sign(QByteArrayView message) const;
    // True if signature is sign(message) under any key on record. Constant time in the MAC.
    bool checkSignature(QByteArrayView signature, QByteArrayView message) const;

    // Registers newKeynum/newSecret as the newest key, active from whenSecs (may be in the
    // future: until then encrypt() and sign() keep using the current key). The current newest
    // key is wrapped under the new one and both records are saved together. newKeynum must be
    // greater than every keynum on record, and this cipher must hold the newest key on record
    // (a process started with an older configuration cannot fork the chain).
    bool changeKey(int newKeynum, QByteArrayView newSecret, qint64 whenSecs, QString *error);

    // The primitives, public so tests can check them against published vectors.
    // AES-256-GCM: returns ciphertext || tag, or empty on a wrong key or nonce size.
    static QByteArray aesGcmEncrypt(QByteArrayView key, QByteArrayView nonce, QByteArrayView aad,
                                    QByteArrayView plaintext);
    // Inverse of aesGcmEncrypt: nullopt if the tag does not authenticate.
    static std::optional<QByteArray> aesGcmDecrypt(QByteArrayView key, QByteArrayView nonce,
                                                   QByteArrayView aad,
                                                   QByteArrayView ciphertextAndTag);
    // HKDF-SHA256 (RFC 5869). Empty if secret is empty or length is out of range.
    static QByteArray hkdfSha256(QByteArrayView salt, QByteArrayView secret, QByteArrayView info,
                                 int length);

private:
    struct Key
    {
        int keynum = 0;
        qint64 activeFromSecs = 0;
        QByteArray encryptionKey;
        QByteArray signingKey;
    };

    static Key deriveKey(int keynum, qint64 activeFromSecs, QByteArrayView secret);
    static QByteArray seal(const Key &key, QByteArrayView aad, QByteArrayView plaintext);
    static std::optional<QByteArray> unseal(const Key &key, QByteArrayView aad,
                                            QByteArrayView payload);
    const Key *activeKey() const; // caller holds m_lock
    qint64 now() const;

    int m_keynum;
    QByteArray m_secret; // of the newest key only: changeKey() wraps it under the next one
    KeyStore *m_store;
    Clock m_clock;

    mutable QReadWriteLock m_lock;
    bool m_open = false;
    QMap<int, Key> m_keys;
};

} // namespace Berth::Crypto
