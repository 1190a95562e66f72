// The primitives under AppCipher and the session keys, against published known answers:
// AES-256-GCM (NIST/McGrew-Viega vectors, with tag and AAD tampering), HMAC-SHA256 (RFC 4231)
// and HKDF-SHA256 (RFC 5869).
#include "crypto/appcipher.h"
#include "crypto/cryptoutil.h"

#include <QtTest>

using namespace Berth::Crypto;

class TestCryptoPrimitives : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void aesGcmKnownAnswers_data();
    void aesGcmKnownAnswers();
    void aesGcmRejectsBadSizes();
    void hmacKnownAnswers_data();
    void hmacKnownAnswers();
    void hkdfKnownAnswers_data();
    void hkdfKnownAnswers();
};

void TestCryptoPrimitives::aesGcmKnownAnswers_data()
{
    // McGrew & Viega, "The Galois/Counter Mode of Operation", AES-256 test cases 13-16
    // (the vectors NIST SP 800-38D validation builds on).
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<QByteArray>("nonce");
    QTest::addColumn<QByteArray>("aad");
    QTest::addColumn<QByteArray>("plaintext");
    QTest::addColumn<QByteArray>("ciphertext");
    QTest::addColumn<QByteArray>("tag");

    const QByteArray zeroKey(32, '\0');
    const QByteArray zeroNonce(12, '\0');
    QTest::newRow("case 13: empty")
        << zeroKey << zeroNonce << QByteArray() << QByteArray() << QByteArray()
        << QByteArray::fromHex("530f8afbc74536b9a963b4f1c4cb738b");
    QTest::newRow("case 14: one zero block")
        << zeroKey << zeroNonce << QByteArray() << QByteArray(16, '\0')
        << QByteArray::fromHex("cea7403d4d606b6e074ec5d3baf39d18")
        << QByteArray::fromHex("d0d1c8a799996bf0265b98b5d48ab919");

    const QByteArray key = QByteArray::fromHex("feffe9928665731c6d6a8f9467308308"
                                               "feffe9928665731c6d6a8f9467308308");
    const QByteArray nonce = QByteArray::fromHex("cafebabefacedbaddecaf888");
    const QByteArray plaintext = QByteArray::fromHex("d9313225f88406e5a55909c5aff5269a"
                                                     "86a7a9531534f7da2e4c303d8a318a72"
                                                     "1c3c0c95956809532fcf0e2449a6b525"
                                                     "b16aedf5aa0de657ba637b391aafd255");
    const QByteArray ciphertext = QByteArray::fromHex("522dc1f099567d07f47f37a32a84427d"
                                                      "643a8cdcbfe5c0c97598a2bd2555d1aa"
                                                      "8cb08e48590dbb3da7b08b1056828838"
                                                      "c5f61e6393ba7a0abcc9f662898015ad");
    QTest::newRow("case 15: four blocks")
        << key << nonce << QByteArray() << plaintext << ciphertext
        << QByteArray::fromHex("b094dac5d93471bdec1a502270e3cc6c");
    QTest::newRow("case 16: partial block and AAD")
        << key << nonce << QByteArray::fromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        << plaintext.first(60) << ciphertext.first(60)
        << QByteArray::fromHex("76fc6ece0f4e1768cddf8853bb2d551b");
}

void TestCryptoPrimitives::aesGcmKnownAnswers()
{
    QFETCH(QByteArray, key);
    QFETCH(QByteArray, nonce);
    QFETCH(QByteArray, aad);
    QFETCH(QByteArray, plaintext);
    QFETCH(QByteArray, ciphertext);
    QFETCH(QByteArray, tag);

    const QByteArray sealed = AppCipher::aesGcmEncrypt(key, nonce, aad, plaintext);
    QCOMPARE(sealed.toHex(), (ciphertext + tag).toHex());
    const std::optional<QByteArray> opened = AppCipher::aesGcmDecrypt(key, nonce, aad, sealed);
    QVERIFY(opened.has_value());
    QCOMPARE(*opened, plaintext);

    QByteArray badTag = sealed;
    badTag[badTag.size() - 1] = char(badTag.back() ^ 1);
    QVERIFY(!AppCipher::aesGcmDecrypt(key, nonce, aad, badTag).has_value());
    QVERIFY(!AppCipher::aesGcmDecrypt(key, nonce, aad + 'x', sealed).has_value());
}

void TestCryptoPrimitives::aesGcmRejectsBadSizes()
{
    const QByteArray key(32, 'k');
    const QByteArray nonce(12, 'n');
    QVERIFY(AppCipher::aesGcmEncrypt(key.first(31), nonce, {}, "x").isEmpty());
    QVERIFY(AppCipher::aesGcmEncrypt(key + 'k', nonce, {}, "x").isEmpty());
    QVERIFY(AppCipher::aesGcmEncrypt(key, nonce.first(11), {}, "x").isEmpty());
    const QByteArray sealed = AppCipher::aesGcmEncrypt(key, nonce, {}, "x");
    QCOMPARE(sealed.size(), 1 + AppCipher::TagSize);
    QVERIFY(!AppCipher::aesGcmDecrypt(key, nonce, {}, sealed.first(AppCipher::TagSize - 1)));
    QVERIFY(!AppCipher::aesGcmDecrypt(key.first(16), nonce, {}, sealed));
}

void TestCryptoPrimitives::hmacKnownAnswers_data()
{
    // RFC 4231 test cases 1 and 2.
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<QByteArray>("data");
    QTest::addColumn<QByteArray>("mac");
    QTest::newRow("RFC 4231 case 1")
        << QByteArray(20, '\x0b') << QByteArray("Hi There")
        << QByteArray("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    QTest::newRow("RFC 4231 case 2")
        << QByteArray("Jefe") << QByteArray("what do ya want for nothing?")
        << QByteArray("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

void TestCryptoPrimitives::hmacKnownAnswers()
{
    QFETCH(QByteArray, key);
    QFETCH(QByteArray, data);
    QFETCH(QByteArray, mac);
    QCOMPARE(hmacSha256(key, data).toHex(), mac);
}

void TestCryptoPrimitives::hkdfKnownAnswers_data()
{
    // RFC 5869 test cases 1 and 3 (SHA-256; case 3 has no salt and no info).
    QTest::addColumn<QByteArray>("salt");
    QTest::addColumn<QByteArray>("secret");
    QTest::addColumn<QByteArray>("info");
    QTest::addColumn<QByteArray>("okm");
    QTest::newRow("RFC 5869 case 1")
        << QByteArray::fromHex("000102030405060708090a0b0c") << QByteArray(22, '\x0b')
        << QByteArray::fromHex("f0f1f2f3f4f5f6f7f8f9")
        << QByteArray("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf3400720"
                      "8d5b887185865");
    QTest::newRow("RFC 5869 case 3")
        << QByteArray() << QByteArray(22, '\x0b') << QByteArray()
        << QByteArray("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d20139"
                      "5faa4b61a96c8");
}

void TestCryptoPrimitives::hkdfKnownAnswers()
{
    QFETCH(QByteArray, salt);
    QFETCH(QByteArray, secret);
    QFETCH(QByteArray, info);
    QFETCH(QByteArray, okm);
    QCOMPARE(AppCipher::hkdfSha256(salt, secret, info, 42).toHex(), okm);
    QVERIFY(AppCipher::hkdfSha256(salt, QByteArray(), info, 42).isEmpty());
}

QTEST_GUILESS_MAIN(TestCryptoPrimitives)
#include "tst_cryptoprimitives.moc"
