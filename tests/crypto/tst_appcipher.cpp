// AppCipher: AES-256-GCM and HMAC-SHA256 under a rotating chain of application keys. Pinned
// vectors for Berth's own format (computed independently, with Python's hmac and cryptography
// modules), tamper detection, key changes with an injected clock, and restarts over the same key
// store. The primitives' known answers are tst_cryptoprimitives'.
#include "crypto/appcipher.h"
#include "crypto/cryptoutil.h"

#include <QRegularExpression>
#include <QtTest>

#include <atomic>
#include <thread>
#include <vector>

using namespace Berth::Crypto;

namespace {

constexpr qint64 T0 = 1'700'000'000; // an arbitrary "now" for the injected clock

struct FakeClock
{
    qint64 now = T0;
    AppCipher::Clock function()
    {
        return [this] { return now; };
    }
};

// A store that can be told to fail, for the error paths.
class FlakyStore final : public KeyStore
{
public:
    MemoryKeyStore inner;
    bool failLoad = false;
    bool failSave = false;

    QList<Record> load(QString *error) override
    {
        if (failLoad) {
            *error = QStringLiteral("disk on fire");
            return {};
        }
        return inner.load(error);
    }
    bool save(const Record &record, QString *error) override
    {
        if (failSave) {
            *error = QStringLiteral("disk full");
            return false;
        }
        return inner.save(record, error);
    }
    bool saveAll(const QList<Record> &records, QString *error) override
    {
        if (failSave) {
            *error = QStringLiteral("disk full");
            return false;
        }
        return inner.saveAll(records, error);
    }
};

QByteArray payloadOf(const QByteArray &tagged)
{
    return QByteArray::fromBase64(tagged.mid(tagged.indexOf(':') + 1));
}

QByteArray relabel(const QByteArray &tagged, int keynum)
{
    return QByteArray::number(keynum) + tagged.mid(tagged.indexOf(':'));
}

} // namespace

class TestAppCipher : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void formatVectors_data();
    void formatVectors();

    void roundtrip_data();
    void roundtrip();
    void everyFlippedBitIsRejected();
    void malformedInputIsRejected_data();
    void malformedInputIsRejected();
    void relabelledCiphertextIsRejected();
    void unopenedCipherDoesNothing();

    void firstOpenRegistersKey();
    void openFailures_data();
    void openFailures();

    void changeKeyWithFutureActivation();
    void changeKeyRules_data();
    void changeKeyRules();
    void failedSaveLeavesCipherUnchanged();
    void staleProcessCannotForkTheChain();
    void rotationChainAcrossRestarts();
    void olderConfigurationKeepsWorking();
    void concurrentUseDuringRotation();

    void signaturesAcrossRotation();
    void badSignaturesAreRejected_data();
    void badSignaturesAreRejected();
};

// --- primitives -------------------------------------------------------------------------------

void TestAppCipher::formatVectors_data()
{
    // Berth's stored format, pinned: data and cookies written by one build must open in the
    // next. Computed outside Berth: keys = HKDF-SHA256(salt "berth.appcipher.v1", secret,
    // info "encrypt" / "sign"), nonce 00..0b, AAD "berth.appcipher.v1 data <keynum>".
    QTest::addColumn<int>("keynum");
    QTest::addColumn<QByteArray>("secret");
    QTest::addColumn<QByteArray>("ciphertext");
    QTest::addColumn<QByteArray>("signature");
    QTest::newRow("keynum 0") << 0 << QByteArray("secret")
                              << QByteArray(
                                     "0:AAECAwQFBgcICQoLR/wgHiOqT4yomwC3dj651FxUoGUDe8yv0Ruaiw==")
                              << QByteArray("0:I005uHxUCQ/KwGbeBJ77dHklzoKgII0rvMcY0Cvi6lY=");
    QTest::newRow("keynum 7") << 7 << QByteArray("correct horse battery staple")
                              << QByteArray(
                                     "7:AAECAwQFBgcICQoLYxISs//0EdrM+UGVjPgIq8bZkXFNCKRGKqK1WQ==")
                              << QByteArray("7:Bv7m1bCLSftvSrBstXkZNz5h/Mxf2SflhZhEjo90vDE=");
}

void TestAppCipher::formatVectors()
{
    QFETCH(int, keynum);
    QFETCH(QByteArray, secret);
    QFETCH(QByteArray, ciphertext);
    QFETCH(QByteArray, signature);

    MemoryKeyStore store;
    AppCipher cipher(keynum, secret, &store);
    QString error;
    QVERIFY2(cipher.open(&error), qPrintable(error));
    const std::optional<QByteArray> plaintext = cipher.decrypt(ciphertext);
    QVERIFY(plaintext.has_value());
    QCOMPARE(*plaintext, QByteArray("Hello, Berth"));
    QCOMPARE(cipher.sign("Hello, Berth"), signature);
    QVERIFY(cipher.checkSignature(signature, "Hello, Berth"));
}

// --- data -------------------------------------------------------------------------------------

void TestAppCipher::roundtrip_data()
{
    QTest::addColumn<QByteArray>("plaintext");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("one byte") << QByteArray("a");
    QTest::newRow("text") << QByteArray("user=alice; role=admin");
    QTest::newRow("binary with NULs") << QByteArray("\0\1\2\xff\0", 5);
    QTest::newRow("one block") << QByteArray(16, 'b');
    QTest::newRow("1 MB") << QByteArray(1 << 20, 'm');
}

void TestAppCipher::roundtrip()
{
    QFETCH(QByteArray, plaintext);
    MemoryKeyStore store;
    AppCipher cipher(0, "secret", &store);
    QString error;
    QVERIFY2(cipher.open(&error), qPrintable(error));

    const QByteArray a = cipher.encrypt(plaintext);
    const QByteArray b = cipher.encrypt(plaintext);
    static const QRegularExpression format(QStringLiteral("^0:[A-Za-z0-9+/]+=*$"));
    QVERIFY2(format.match(QString::fromLatin1(a)).hasMatch(), a.left(80).constData());
    QCOMPARE(payloadOf(a).size(), AppCipher::NonceSize + plaintext.size() + AppCipher::TagSize);
    // A fresh random nonce each time: equal plaintexts must not be recognisable as equal.
    QVERIFY(a != b);
    QVERIFY(payloadOf(a).first(AppCipher::NonceSize) != payloadOf(b).first(AppCipher::NonceSize));

    const std::optional<QByteArray> decrypted = cipher.decrypt(a);
    QVERIFY(decrypted.has_value());
    QCOMPARE(*decrypted, plaintext);
    QCOMPARE(*cipher.decrypt(b), plaintext);
}

void TestAppCipher::everyFlippedBitIsRejected()
{
    MemoryKeyStore store;
    AppCipher cipher(3, "secret", &store);
    QVERIFY(cipher.open(nullptr));
    const QByteArray encrypted = cipher.encrypt("attack at dawn");
    const QByteArray payload = payloadOf(encrypted);
    QVERIFY(cipher.decrypt(encrypted).has_value());

    // Nonce, ciphertext and tag alike: GCM authenticates all of it.
    for (qsizetype i = 0; i < payload.size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            QByteArray tampered = payload;
            tampered[i] = char(tampered[i] ^ (1 << bit));
            const QByteArray input = "3:" + tampered.toBase64();
            if (cipher.decrypt(input).has_value())
                QFAIL(qPrintable(QStringLiteral("byte %1 bit %2 accepted").arg(i).arg(bit)));
        }
    }
    // Truncated at every length, and extended.
    for (qsizetype n = 0; n < payload.size(); ++n)
        QVERIFY(!cipher.decrypt("3:" + payload.first(n).toBase64()).has_value());
    QVERIFY(!cipher.decrypt("3:" + (payload + 'x').toBase64()).has_value());
}

void TestAppCipher::malformedInputIsRejected_data()
{
    MemoryKeyStore store;
    AppCipher cipher(0, "secret", &store);
    QVERIFY(cipher.open(nullptr));
    const QByteArray good = cipher.encrypt("hello");
    const QByteArray base64 = good.mid(2);

    QTest::addColumn<QByteArray>("input");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("colon only") << QByteArray(":");
    QTest::newRow("no colon") << QByteArray("0");
    QTest::newRow("no keynum") << (':' + base64);
    QTest::newRow("keynum only") << QByteArray("0:");
    QTest::newRow("garbage base64") << QByteArray("0:!!!!****");
    QTest::newRow("base64 with space") << ("0:" + base64.left(8) + ' ' + base64.mid(8));
    QTest::newRow("too short for nonce and tag") << QByteArray("0:AAAA");
    QTest::newRow("truncated base64") << good.left(good.size() - 4);
    QTest::newRow("truncated by one char") << good.left(good.size() - 1);
    QTest::newRow("unknown keynum") << ("5:" + base64);
    QTest::newRow("negative keynum") << ("-0:" + base64);
    QTest::newRow("plus sign") << ("+0:" + base64);
    QTest::newRow("leading space") << (" 0:" + base64);
    QTest::newRow("space before colon") << ("0 :" + base64);
    QTest::newRow("leading zero") << ("00:" + base64);
    QTest::newRow("hex keynum") << ("0x0:" + base64);
    QTest::newRow("keynum overflow") << ("4294967296:" + base64);
    QTest::newRow("keynum too long") << ("00000000000:" + base64);
    QTest::newRow("two colons") << ("0:0:" + base64);
    QTest::newRow("ciphertext of another secret") << [] {
        MemoryKeyStore other;
        AppCipher otherCipher(0, "other secret", &other);
        otherCipher.open(nullptr);
        return otherCipher.encrypt("hello");
    }();
}

void TestAppCipher::malformedInputIsRejected()
{
    QFETCH(QByteArray, input);
    MemoryKeyStore store;
    AppCipher cipher(0, "secret", &store);
    QVERIFY(cipher.open(nullptr));
    QVERIFY(!cipher.decrypt(input).has_value());
    QVERIFY(!cipher.checkSignature(input, "hello"));
}

void TestAppCipher::relabelledCiphertextIsRejected()
{
    // Keys 0 and 1 deliberately share a secret, so their AES keys are equal: only the keynum in
    // the associated data stops a ciphertext from being passed off under the other label.
    FakeClock clock;
    MemoryKeyStore store;
    AppCipher cipher(0, "same secret", &store, clock.function());
    QVERIFY(cipher.open(nullptr));
    const QByteArray underZero = cipher.encrypt("payload");
    QVERIFY(cipher.changeKey(1, "same secret", T0, nullptr));
    const QByteArray underOne = cipher.encrypt("payload");
    QVERIFY(underOne.startsWith("1:"));

    QCOMPARE(*cipher.decrypt(underZero), QByteArray("payload"));
    QCOMPARE(*cipher.decrypt(underOne), QByteArray("payload"));
    QVERIFY(!cipher.decrypt(relabel(underZero, 1)).has_value());
    QVERIFY(!cipher.decrypt(relabel(underOne, 0)).has_value());
}

void TestAppCipher::unopenedCipherDoesNothing()
{
    MemoryKeyStore store;
    AppCipher reference(0, "secret", &store);
    QVERIFY(reference.open(nullptr));
    const QByteArray encrypted = reference.encrypt("x");
    const QByteArray signature = reference.sign("x");

    AppCipher cipher(0, "secret", &store);
    QVERIFY(!cipher.isOpen());
    QTest::ignoreMessage(QtWarningMsg, "encrypt() on a cipher that is not open");
    QVERIFY(cipher.encrypt("x").isEmpty());
    QTest::ignoreMessage(QtWarningMsg, "sign() on a cipher that is not open");
    QVERIFY(cipher.sign("x").isEmpty());
    QVERIFY(!cipher.decrypt(encrypted).has_value());
    QVERIFY(!cipher.checkSignature(signature, "x"));
    QString error;
    QVERIFY(!cipher.changeKey(1, "new", 0, &error));
    QCOMPARE(error, QStringLiteral("the cipher is not open"));
}

// --- opening ----------------------------------------------------------------------------------

void TestAppCipher::firstOpenRegistersKey()
{
    MemoryKeyStore store;
    AppCipher cipher(4, "secret", &store);
    QString error;
    QVERIFY2(cipher.open(&error), qPrintable(error));
    QVERIFY(cipher.isOpen());
    QCOMPARE(store.records().size(), 1);
    const KeyStore::Record record = store.records().value(4);
    QCOMPARE(record.keynum, 4);
    QCOMPARE(record.activeFromSecs, 0);
    // The record is a key check, never the secret or a derived key.
    QVERIFY(record.wrapped.startsWith("4:"));
    QVERIFY(!record.wrapped.contains("secret"));
    QCOMPARE(cipher.keynum(), 4);
    QCOMPARE(cipher.activeKeynum(), 4);
    QCOMPARE(cipher.keynums(), QList<int>{4});

    // A second open (a restart) checks the secret against that record.
    AppCipher again(4, "secret", &store);
    QVERIFY2(again.open(&error), qPrintable(error));
    QCOMPARE(store.records().size(), 1);
}

void TestAppCipher::openFailures_data()
{
    // Each row prepares a store with keys 0 -> 1 (rotated), then opens with a configuration.
    QTest::addColumn<int>("keynum");
    QTest::addColumn<QByteArray>("secret");
    QTest::addColumn<QString>("tamper");
    QTest::addColumn<QString>("errorContains");

    QTest::newRow("wrong secret") << 1 << QByteArray("not it") << QString()
                                  << QStringLiteral("does not match");
    QTest::newRow("keynum edited without change-key")
        << 2 << QByteArray("fresh") << QString() << QStringLiteral("rotate keys with change-key");
    QTest::newRow("keynum never registered, newer on record")
        << 0 << QByteArray("zero") << QStringLiteral("drop0")
        << QStringLiteral("not in the key store");
    QTest::newRow("empty secret") << 1 << QByteArray() << QString() << QStringLiteral("empty");
    QTest::newRow("negative keynum")
        << -1 << QByteArray("x") << QString() << QStringLiteral("negative");
    QTest::newRow("key check altered")
        << 1 << QByteArray("one") << QStringLiteral("flip1") << QStringLiteral("does not match");
    QTest::newRow("activation postponed in the store")
        << 1 << QByteArray("one") << QStringLiteral("postpone1")
        << QStringLiteral("does not match");
    QTest::newRow("wrapped old key altered")
        << 1 << QByteArray("one") << QStringLiteral("flip0") << QStringLiteral("does not unwrap");
    QTest::newRow("old key's activation altered")
        << 1 << QByteArray("one") << QStringLiteral("move0") << QStringLiteral("does not unwrap");
    QTest::newRow("data ciphertext planted as a wrapped key")
        << 1 << QByteArray("one") << QStringLiteral("plant0") << QStringLiteral("does not unwrap");
    QTest::newRow("old key claims to wrap itself")
        << 1 << QByteArray("one") << QStringLiteral("self0") << QStringLiteral("chain");
    QTest::newRow("malformed record")
        << 1 << QByteArray("one") << QStringLiteral("garble1") << QStringLiteral("malformed");
    QTest::newRow("store cannot be read")
        << 1 << QByteArray("one") << QStringLiteral("loadfail") << QStringLiteral("disk on fire");
}

void TestAppCipher::openFailures()
{
    QFETCH(int, keynum);
    QFETCH(QByteArray, secret);
    QFETCH(QString, tamper);
    QFETCH(QString, errorContains);

    FakeClock clock;
    FlakyStore store;
    QByteArray dataUnderOne;
    {
        AppCipher setup(0, "zero", &store, clock.function());
        QVERIFY(setup.open(nullptr));
        QVERIFY(setup.changeKey(1, "one", T0 + 10, nullptr));
        clock.now = T0 + 20;
        dataUnderOne = setup.encrypt("data");
        QVERIFY(dataUnderOne.startsWith("1:"));
    }
    QMap<int, KeyStore::Record> &records = store.inner.records();
    auto flip = [](QByteArray &wrapped) {
        QByteArray payload = payloadOf(wrapped);
        payload[payload.size() / 2] = char(payload[payload.size() / 2] ^ 1);
        wrapped = wrapped.left(wrapped.indexOf(':') + 1) + payload.toBase64();
    };
    if (tamper == QLatin1String("drop0"))
        records.remove(0);
    else if (tamper == QLatin1String("flip1"))
        flip(records[1].wrapped);
    else if (tamper == QLatin1String("postpone1"))
        records[1].activeFromSecs += 86400;
    else if (tamper == QLatin1String("flip0"))
        flip(records[0].wrapped);
    else if (tamper == QLatin1String("move0"))
        records[0].activeFromSecs = 5;
    else if (tamper == QLatin1String("plant0"))
        records[0].wrapped = dataUnderOne;
    else if (tamper == QLatin1String("self0"))
        records[0].wrapped = relabel(records[0].wrapped, 0);
    else if (tamper == QLatin1String("garble1"))
        records[1].wrapped = "not a record";
    else if (tamper == QLatin1String("loadfail"))
        store.failLoad = true;

    const QMap<int, KeyStore::Record> before = records;
    AppCipher cipher(keynum, secret, &store, clock.function());
    QString error;
    QVERIFY(!cipher.open(&error));
    QVERIFY2(error.contains(errorContains), qPrintable(error));
    QVERIFY(!cipher.isOpen());
    QVERIFY(!cipher.decrypt(dataUnderOne).has_value());
    // A failed open writes nothing.
    QCOMPARE(records.keys(), before.keys());
}

// --- rotation ---------------------------------------------------------------------------------

void TestAppCipher::changeKeyWithFutureActivation()
{
    FakeClock clock;
    MemoryKeyStore store;
    AppCipher cipher(0, "zero", &store, clock.function());
    QVERIFY(cipher.open(nullptr));
    const QByteArray before = cipher.encrypt("before");

    QString error;
    QVERIFY2(cipher.changeKey(1, "one", T0 + 3600, &error), qPrintable(error));
    QCOMPARE(cipher.keynum(), 1);
    QCOMPARE(cipher.keynums(), (QList<int>{0, 1}));
    // Until the activation time, the old key is still the one in force: nodes that have not yet
    // been restarted with the new secret must be able to read what this one writes.
    clock.now = T0 + 3599;
    QCOMPARE(cipher.activeKeynum(), 0);
    const QByteArray during = cipher.encrypt("during");
    QVERIFY(during.startsWith("0:"));
    QVERIFY(cipher.sign("m").startsWith("0:"));

    clock.now = T0 + 3600;
    QCOMPARE(cipher.activeKeynum(), 1);
    const QByteArray after = cipher.encrypt("after");
    QVERIFY(after.startsWith("1:"));
    QVERIFY(cipher.sign("m").startsWith("1:"));

    QCOMPARE(*cipher.decrypt(before), QByteArray("before"));
    QCOMPARE(*cipher.decrypt(during), QByteArray("during"));
    QCOMPARE(*cipher.decrypt(after), QByteArray("after"));

    // A node restarted with the new configuration before the activation time behaves the same.
    clock.now = T0 + 60;
    AppCipher restarted(1, "one", &store, clock.function());
    QVERIFY2(restarted.open(&error), qPrintable(error));
    QCOMPARE(restarted.activeKeynum(), 0);
    QVERIFY(restarted.encrypt("x").startsWith("0:"));
    clock.now = T0 + 7200;
    QCOMPARE(restarted.activeKeynum(), 1);
    QVERIFY(restarted.encrypt("x").startsWith("1:"));
    QCOMPARE(*restarted.decrypt(before), QByteArray("before"));
    QCOMPARE(*restarted.decrypt(during), QByteArray("during"));
    QCOMPARE(*restarted.decrypt(after), QByteArray("after"));
}

void TestAppCipher::changeKeyRules_data()
{
    QTest::addColumn<int>("newKeynum");
    QTest::addColumn<QByteArray>("newSecret");
    QTest::addColumn<qint64>("when");
    QTest::addColumn<QString>("errorContains");
    QTest::newRow("same keynum") << 5 << QByteArray("new") << T0 << QStringLiteral("greater");
    QTest::newRow("older keynum") << 4 << QByteArray("new") << T0 << QStringLiteral("greater");
    QTest::newRow("empty secret") << 6 << QByteArray() << T0 << QStringLiteral("empty");
    QTest::newRow("negative time")
        << 6 << QByteArray("new") << qint64(-1) << QStringLiteral("negative");
}

void TestAppCipher::changeKeyRules()
{
    QFETCH(int, newKeynum);
    QFETCH(QByteArray, newSecret);
    QFETCH(qint64, when);
    QFETCH(QString, errorContains);
    MemoryKeyStore store;
    AppCipher cipher(5, "five", &store);
    QVERIFY(cipher.open(nullptr));
    QString error;
    QVERIFY(!cipher.changeKey(newKeynum, newSecret, when, &error));
    QVERIFY2(error.contains(errorContains), qPrintable(error));
    QCOMPARE(cipher.keynum(), 5);
    QCOMPARE(store.records().keys(), QList<int>{5});
}

void TestAppCipher::failedSaveLeavesCipherUnchanged()
{
    FakeClock clock;
    FlakyStore store;
    AppCipher cipher(0, "zero", &store, clock.function());
    QVERIFY(cipher.open(nullptr));
    store.failSave = true;
    QString error;
    QVERIFY(!cipher.changeKey(1, "one", T0, &error));
    QVERIFY2(error.contains(QLatin1String("disk full")), qPrintable(error));
    QCOMPARE(cipher.keynum(), 0);
    QCOMPARE(cipher.keynums(), QList<int>{0});
    QVERIFY(cipher.encrypt("x").startsWith("0:"));

    store.failSave = false;
    QVERIFY2(cipher.changeKey(1, "one", T0, &error), qPrintable(error));
    QCOMPARE(cipher.activeKeynum(), 1);
}

void TestAppCipher::staleProcessCannotForkTheChain()
{
    // Two processes started with key 0; one rotates to 1. The other must not rotate to 2 on its
    // own: that would wrap key 0 under 2 and leave key 1's data without a path from the newest.
    MemoryKeyStore store;
    AppCipher first(0, "zero", &store);
    AppCipher second(0, "zero", &store);
    QVERIFY(first.open(nullptr));
    QVERIFY(second.open(nullptr));
    QVERIFY(first.changeKey(1, "one", 0, nullptr));
    QString error;
    QVERIFY(!second.changeKey(2, "two", 0, &error));
    QVERIFY2(error.contains(QLatin1String("already holds key 1")), qPrintable(error));
    QCOMPARE(store.records().keys(), (QList<int>{0, 1}));
}

void TestAppCipher::rotationChainAcrossRestarts()
{
    // Keys 0 -> 3 -> 10 (gaps are fine), each era's data and signatures written by a process
    // that is then thrown away; only the store and the newest configuration survive.
    FakeClock clock;
    MemoryKeyStore store;
    struct Era
    {
        int keynum;
        QByteArray secret;
        QByteArray data;
        QByteArray signature;
    };
    QList<Era> eras{{0, "zero", {}, {}}, {3, "three", {}, {}}, {10, "ten", {}, {}}};

    for (qsizetype i = 0; i < eras.size(); ++i) {
        clock.now = T0 + 1000 * i;
        // Each era starts in a process configured with the previous key, which runs change-key.
        if (i > 0) {
            AppCipher tool(eras[i - 1].keynum, eras[i - 1].secret, &store, clock.function());
            QString error;
            QVERIFY2(tool.open(&error), qPrintable(error));
            QVERIFY2(tool.changeKey(eras[i].keynum, eras[i].secret, clock.now, &error),
                     qPrintable(error));
        }
        AppCipher node(eras[i].keynum, eras[i].secret, &store, clock.function());
        QString error;
        QVERIFY2(node.open(&error), qPrintable(error));
        QCOMPARE(node.activeKeynum(), eras[i].keynum);
        const QByteArray text = "era " + QByteArray::number(i);
        eras[i].data = node.encrypt(text);
        eras[i].signature = node.sign(text);
        QVERIFY(eras[i].data.startsWith(QByteArray::number(eras[i].keynum) + ':'));
    }
    QCOMPARE(store.records().keys(), (QList<int>{0, 3, 10}));

    clock.now = T0 + 10000;
    AppCipher latest(10, "ten", &store, clock.function());
    QString error;
    QVERIFY2(latest.open(&error), qPrintable(error));
    QCOMPARE(latest.keynums(), (QList<int>{0, 3, 10}));
    for (qsizetype i = 0; i < eras.size(); ++i) {
        const QByteArray text = "era " + QByteArray::number(i);
        const std::optional<QByteArray> decrypted = latest.decrypt(eras[i].data);
        QVERIFY2(decrypted.has_value(), qPrintable(QStringLiteral("era %1").arg(i)));
        QCOMPARE(*decrypted, text);
        QVERIFY(latest.checkSignature(eras[i].signature, text));
    }
    // Re-encrypting old data moves it to the newest key.
    QVERIFY(latest.encrypt(*latest.decrypt(eras[0].data)).startsWith("10:"));
}

void TestAppCipher::olderConfigurationKeepsWorking()
{
    // A node still configured with key 0 after change-key to 1 (the rolling-restart window):
    // it starts, reads and writes under key 0, cannot read key 1 data, and cannot rotate.
    FakeClock clock;
    MemoryKeyStore store;
    AppCipher tool(0, "zero", &store, clock.function());
    QVERIFY(tool.open(nullptr));
    const QByteArray old = tool.encrypt("old");
    QVERIFY(tool.changeKey(1, "one", T0 + 100, nullptr));
    clock.now = T0 + 200;
    const QByteArray fresh = tool.encrypt("fresh");
    QVERIFY(fresh.startsWith("1:"));

    AppCipher stale(0, "zero", &store, clock.function());
    QString error;
    QVERIFY2(stale.open(&error), qPrintable(error));
    QCOMPARE(stale.keynums(), QList<int>{0});
    QCOMPARE(*stale.decrypt(old), QByteArray("old"));
    QVERIFY(!stale.decrypt(fresh).has_value());
    const QByteArray staleWrite = stale.encrypt("stale");
    QVERIFY(staleWrite.startsWith("0:"));
    QCOMPARE(*tool.decrypt(staleWrite), QByteArray("stale"));
    QVERIFY(!stale.changeKey(2, "two", 0, &error));
}

void TestAppCipher::concurrentUseDuringRotation()
{
    // Worker threads share one cipher while a key change happens; every value any thread wrote
    // must decrypt, whichever key was active at the time. (Most useful under TSan/ASan.)
    MemoryKeyStore store;
    AppCipher cipher(0, "zero", &store);
    QVERIFY(cipher.open(nullptr));
    std::atomic<int> failures{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t) {
        workers.emplace_back([&cipher, &failures, &stop, t] {
            for (int i = 0; i < 300 || !stop; ++i) {
                const QByteArray text = QByteArray::number(t) + '/' + QByteArray::number(i);
                const std::optional<QByteArray> back = cipher.decrypt(cipher.encrypt(text));
                if (!back || *back != text || !cipher.checkSignature(cipher.sign(text), text))
                    ++failures;
                if (i > 100000)
                    break;
            }
        });
    }
    QVERIFY(cipher.changeKey(1, "one", 0, nullptr));
    QVERIFY(cipher.changeKey(2, "two", 0, nullptr));
    stop = true;
    for (std::thread &worker : workers)
        worker.join();
    QCOMPARE(failures.load(), 0);
    QCOMPARE(cipher.activeKeynum(), 2);
}

// --- signatures -------------------------------------------------------------------------------

void TestAppCipher::signaturesAcrossRotation()
{
    FakeClock clock;
    MemoryKeyStore store;
    AppCipher cipher(0, "zero", &store, clock.function());
    QVERIFY(cipher.open(nullptr));
    const QByteArray sig0 = cipher.sign("cookie");
    QVERIFY(sig0.startsWith("0:"));
    QCOMPARE(payloadOf(sig0).size(), 32);
    // Deterministic: the same message under the same key signs the same.
    QCOMPARE(cipher.sign("cookie"), sig0);
    QVERIFY(cipher.changeKey(1, "one", T0 + 10, nullptr));
    clock.now = T0 + 10;
    const QByteArray sig1 = cipher.sign("cookie");
    QVERIFY(sig1.startsWith("1:"));

    AppCipher restarted(1, "one", &store, clock.function());
    QVERIFY(restarted.open(nullptr));
    QVERIFY(restarted.checkSignature(sig0, "cookie"));
    QVERIFY(restarted.checkSignature(sig1, "cookie"));
    QVERIFY(!restarted.checkSignature(sig0, "cookie!"));
    QVERIFY(!restarted.checkSignature(sig1, "Cookie"));
    QVERIFY(!restarted.checkSignature(sig1, ""));
    QVERIFY(!restarted.checkSignature(relabel(sig0, 1), "cookie"));
    QVERIFY(!restarted.checkSignature(relabel(sig1, 0), "cookie"));
}

void TestAppCipher::badSignaturesAreRejected_data()
{
    MemoryKeyStore store;
    AppCipher cipher(0, "secret", &store);
    QVERIFY(cipher.open(nullptr));
    const QByteArray good = cipher.sign("message");
    const QByteArray mac = payloadOf(good);

    QTest::addColumn<QByteArray>("signature");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("no keynum") << good.mid(1);
    QTest::newRow("unknown keynum") << relabel(good, 9);
    QTest::newRow("truncated MAC") << ("0:" + mac.first(31).toBase64());
    QTest::newRow("extended MAC") << ("0:" + (mac + 'x').toBase64());
    QTest::newRow("empty MAC") << QByteArray("0:");
    QTest::newRow("garbage base64") << QByteArray("0:%%%%");
    for (int i = 0; i < mac.size(); i += 7) {
        QByteArray flipped = mac;
        flipped[i] = char(flipped[i] ^ 0x80);
        QTest::addRow("byte %d flipped", i) << ("0:" + flipped.toBase64());
    }
    // A MAC under the derived encryption key, or under the raw secret, is not a signature.
    QTest::newRow("raw secret as key") << ("0:" + hmacSha256("secret", "message").toBase64());
    QTest::newRow("encryption key as key")
        << ("0:" + hmacSha256(AppCipher::hkdfSha256("berth.appcipher.v1", "secret", "encrypt", 32),
                              "message")
                       .toBase64());
}

void TestAppCipher::badSignaturesAreRejected()
{
    QFETCH(QByteArray, signature);
    MemoryKeyStore store;
    AppCipher cipher(0, "secret", &store);
    QVERIFY(cipher.open(nullptr));
    QVERIFY(cipher.checkSignature(cipher.sign("message"), "message"));
    QVERIFY(!cipher.checkSignature(signature, "message"));
}

QTEST_GUILESS_MAIN(TestAppCipher)
#include "tst_appcipher.moc"
