// Token verification of berth.gateway: strict base64url, PEM and JWKS keys, the JWT vectors of
// tests/data/gateway (made by make-vectors.py with python3-jwt: every algorithm, time claims,
// iss/aud, alg none, HS/RS confusion, unknown kid, tampering) and the opaque tokens file.
#include "apps/gateway/jwkssource.h"
#include "apps/gateway/jwt.h"
#include "apps/gateway/keyset.h"
#include "apps/gateway/tokenfile.h"

#include <crypto/cryptoutil.h>

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

using namespace Berth;
using namespace Berth::Gateway;
using namespace Qt::StringLiterals;

namespace {

const QString Data = QStringLiteral(BERTH_TEST_DATA "/gateway/");

QByteArray readData(const QString &name)
{
    QFile file(Data + name);
    if (!file.open(QIODevice::ReadOnly))
        qFatal("can't read %s", qPrintable(file.fileName()));
    return file.readAll();
}

QJsonObject vectors()
{
    return QJsonDocument::fromJson(readData(u"vectors.json"_s)).object();
}

void writeFile(const QString &path, const QByteArray &contents)
{
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(contents);
}

} // namespace

class tst_Jwt : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void base64Url_data();
    void base64Url();
    void pemKeys();
    void jwks();
    void jwksRejects();
    void vectors_data();
    void vectors();
    void oversizedToken();
    void tokenIdIsAHashPrefix();
    void jwksFileReload();
    void tokenFileParse();
    void tokenFileReload();
};

void tst_Jwt::base64Url_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QByteArray>("decoded");
    QTest::newRow("empty") << QByteArray() << true << QByteArray();
    QTest::newRow("f") << "Zg"_ba << true << "f"_ba;
    QTest::newRow("fo") << "Zm8"_ba << true << "fo"_ba;
    QTest::newRow("foo") << "Zm9v"_ba << true << "foo"_ba;
    QTest::newRow("url alphabet") << "-_8"_ba << true << QByteArray::fromHex("fbff");
    QTest::newRow("padding") << "Zg=="_ba << false << QByteArray();
    QTest::newRow("standard alphabet") << "+/8"_ba << false << QByteArray();
    QTest::newRow("blank") << "Zm 9v"_ba << false << QByteArray();
    QTest::newRow("one char") << "Z"_ba << false << QByteArray();
    QTest::newRow("non-canonical") << "Zh"_ba << false << QByteArray();
}

void tst_Jwt::base64Url()
{
    QFETCH(QByteArray, text);
    QFETCH(bool, ok);
    QFETCH(QByteArray, decoded);
    QByteArray out;
    QCOMPARE(decodeBase64Url(text, &out), ok);
    if (ok)
        QCOMPARE(out, decoded);
}

void tst_Jwt::pemKeys()
{
    VerifyKey key;
    QString error;
    QVERIFY2(loadPublicKeyPem(Data + u"rsa.pem"_s, &key, &error), qPrintable(error));
    QCOMPARE(key.type, VerifyKey::Type::Rsa);
    QVERIFY(key.accepts(u"RS256") && key.accepts(u"PS512"));
    QVERIFY(!key.accepts(u"HS256") && !key.accepts(u"ES256") && !key.accepts(u"none"));
    QVERIFY(loadPublicKeyPem(Data + u"ec.pem"_s, &key, &error));
    QCOMPARE(key.type, VerifyKey::Type::Ec);
    QCOMPARE(key.curve, u"P-256"_s);
    QVERIFY(key.accepts(u"ES256") && !key.accepts(u"ES384"));
    QVERIFY(loadPublicKeyPem(Data + u"ed25519.pem"_s, &key, &error));
    QCOMPARE(key.type, VerifyKey::Type::Ed25519);
    QVERIFY(key.accepts(u"EdDSA"));

    QVERIFY(!loadPublicKeyPem(Data + u"rsa1024.pem"_s, &key, &error));
    QVERIFY2(error.contains(u"1024 bits"_s), qPrintable(error));
    QVERIFY(!loadPublicKeyPem(Data + u"jwks.json"_s, &key, &error));
    QVERIFY2(error.contains(u"no PEM public key"_s), qPrintable(error));
    QVERIFY(!loadPublicKeyPem(Data + u"missing.pem"_s, &key, &error));
    QVERIFY2(error.contains(u"can't read"_s), qPrintable(error));
}

void tst_Jwt::jwks()
{
    KeySet set;
    QString error;
    QStringList warnings;
    QVERIFY2(parseJwks(readData(u"jwks.json"_s), &set, &error, &warnings), qPrintable(error));
    QCOMPARE(set.keys.size(), 3);
    QCOMPARE(set.keys.at(0).kid, u"rsa1"_s);
    QCOMPARE(set.keys.at(0).type, VerifyKey::Type::Rsa);
    QCOMPARE(set.keys.at(1).type, VerifyKey::Type::Ec);
    QCOMPARE(set.keys.at(2).type, VerifyKey::Type::Ed25519);
    QCOMPARE(warnings.size(), 1); // the encryption key
    QVERIFY2(warnings.at(0).contains(u"enc1"_s), qPrintable(warnings.at(0)));
}

void tst_Jwt::jwksRejects()
{
    KeySet set;
    QString error;
    QVERIFY(!parseJwks("[]", &set, &error));
    QVERIFY(!parseJwks("{\"keys\": 1}", &set, &error));
    QVERIFY(!parseJwks("{\"keys\": []}", &set, &error));
    QCOMPARE(error, u"the JWKS holds no usable key"_s);
    // An EC point off the curve, and an oct key too short to be a key.
    QVERIFY(!parseJwks(
        R"({"keys":[{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}]})",
        &set, &error));
    QVERIFY(!parseJwks(R"({"keys":[{"kty":"oct","k":"c2hvcnQ"}]})", &set, &error));
    QVERIFY(parseJwks(R"({"keys":[{"kty":"oct","kid":"h","k":"MDEyMzQ1Njc4OWFiY2RlZg"}]})", &set,
                      &error));
    QCOMPARE(set.keys.at(0).type, VerifyKey::Type::Hmac);
    QCOMPARE(set.keys.at(0).secret, "0123456789abcdef"_ba);
}

void tst_Jwt::vectors_data()
{
    QTest::addColumn<QJsonObject>("vector");
    const QJsonArray all = ::vectors().value(u"vectors"_s).toArray();
    QVERIFY(all.size() >= 30);
    for (const QJsonValue &v : all)
        QTest::newRow(qPrintable(v[u"name"_s].toString())) << v.toObject();
}

void tst_Jwt::vectors()
{
    QFETCH(QJsonObject, vector);
    const QJsonObject file = ::vectors();
    const qint64 now = file.value(u"now"_s).toInteger();
    const QByteArray secret = file.value(u"secret"_s).toString().toUtf8();

    KeySet keys;
    QString error;
    const QString which = vector.value(u"keys"_s).toString();
    JwtVerifier::Options options;
    if (which == u"pem"_s) {
        VerifyKey pem;
        QVERIFY(loadPublicKeyPem(Data + u"rsa.pem"_s, &pem, &error));
        keys.keys.append(pem);
    } else {
        if (which != u"jwks"_s)
            keys.keys.append(VerifyKey{VerifyKey::Type::Hmac, {}, {}, secret, {}, {}});
        KeySet jwks;
        QVERIFY(parseJwks(readData(u"jwks.json"_s), &jwks, &error));
        if (which != u"iss-aud"_s)
            keys.keys += jwks.keys;
    }
    if (which == u"iss-aud"_s) {
        options.issuer = u"https://idp"_s;
        options.audience = u"api"_s;
    }
    JwtVerifier verifier(options, [now] { return now; });
    TokenClaims claims;
    TokenError refusal;
    const QByteArray token = vector.value(u"token"_s).toString().toLatin1();
    const bool ok = verifier.verify(token, &keys, &claims, &refusal);
    QCOMPARE(refusal.description, vector.value(u"error"_s).toString());
    QCOMPARE(ok, vector.value(u"ok"_s).toBool());
    if (!ok)
        return;
    QCOMPARE(claims.user, vector.value(u"user"_s).toString());
    QStringList roles;
    for (const QJsonValue &role : vector.value(u"roles"_s).toArray())
        roles.append(role.toString());
    QCOMPARE(claims.roles, roles);
    QCOMPARE(claims.tokenId, tokenIdOf(token));
}

void tst_Jwt::oversizedToken()
{
    JwtVerifier verifier({}, [] { return qint64(0); });
    TokenError error;
    const QByteArray token(64 * 1024, 'a');
    KeySet none;
    QVERIFY(!verifier.verify(token, &none, nullptr, &error));
    QCOMPARE(error.description, u"token too long"_s);
    // No keys at all: every token is refused, whoever it claims to be signed by.
    const QJsonArray all = ::vectors().value(u"vectors"_s).toArray();
    QVERIFY(
        !verifier.verify(all.at(0)[u"token"_s].toString().toLatin1(), nullptr, nullptr, &error));
    QCOMPARE(error.description, u"unknown key id"_s);
}

void tst_Jwt::tokenIdIsAHashPrefix()
{
    QCOMPARE(tokenIdOf("abc"), u"ba7816bf"_s); // SHA-256("abc") = ba7816bf 8f01cfea ...
}

void tst_Jwt::jwksFileReload()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(u"jwks.json"_s);
    writeFile(path, R"({"keys":[{"kty":"oct","kid":"one","k":"MDEyMzQ1Njc4OWFiY2RlZg"}]})");
    qint64 now = 0;
    JwksSource source(path, 0, {}, [&now] { return now; });
    QString error;
    QVERIFY(source.loadFile(&error));
    QCOMPARE(source.keys()->keys.at(0).kid, u"one"_s);
    // Rotated: seen once a second has passed since the last look.
    writeFile(path, R"({"keys":[{"kty":"oct","kid":"two","k":"MDEyMzQ1Njc4OWFiY2RlZmdo"}]})");
    now = 500;
    QCOMPARE(source.keys()->keys.at(0).kid, u"one"_s);
    now = 1500;
    QCOMPARE(source.keys()->keys.at(0).kid, u"two"_s);
    // A broken rewrite keeps the last good keys.
    writeFile(path, "{ not json");
    now = 3000;
    QCOMPARE(source.keys()->keys.at(0).kid, u"two"_s);
    QCOMPARE(source.failedLoads(), 1);
}

void tst_Jwt::tokenFileParse()
{
    QList<TokenFileWarning> warnings;
    const QByteArray hashed = "sha256:" + Crypto::sha256("hashed-token").toHex();
    const auto entries = TokenFile::parse("# comment\n"
                                          "plain-token alice admin,user -\n"
                                          "\n" +
                                              hashed +
                                              " bob - 2030-01-02\n"
                                              "dated carol r 2030-01-02T03:04:05+01:00\n"
                                              "short line\n"
                                              "bad dave r yesterday\n"
                                              "sha256:abcd eve - -\n",
                                          &warnings);
    QCOMPARE(entries.size(), 3);
    const auto alice = entries.value(Crypto::sha256("plain-token"));
    QCOMPARE(alice.user, u"alice"_s);
    QCOMPARE(alice.roles, (QStringList{u"admin"_s, u"user"_s}));
    QCOMPARE(alice.expiresSecs, 0);
    const auto bob = entries.value(Crypto::sha256("hashed-token"));
    QCOMPARE(bob.user, u"bob"_s);
    QVERIFY(bob.roles.isEmpty());
    QCOMPARE(bob.expiresSecs, 1893542400); // 2030-01-02T00:00:00Z
    QCOMPARE(entries.value(Crypto::sha256("dated")).expiresSecs,
             1893542400 + 3 * 3600 + 245 - 3600);
    QCOMPARE(warnings.size(), 3);
    QCOMPARE(warnings.at(0).line, 6);
    QCOMPARE(warnings.at(1).line, 7);
    QCOMPARE(warnings.at(2).line, 8);
}

void tst_Jwt::tokenFileReload()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(u"tokens"_s);
    writeFile(path, "t1 alice - -\n");
    TokenFile file(path);
    QString error;
    QVERIFY(file.load(&error));
    QVERIFY(file.find("t1"));
    QVERIFY(!file.find("t2"));
    QVERIFY(!file.find("t"));
    file.refreshIfChanged(0);
    writeFile(path, "t2 bob admin -\n");
    file.refreshIfChanged(999); // looked at most once a second
    QVERIFY(file.find("t1"));
    file.refreshIfChanged(1000);
    QVERIFY(!file.find("t1"));
    QCOMPARE(file.find("t2")->user, u"bob"_s);
    // A file briefly gone (replaced by rename) keeps the tokens.
    QFile::remove(path);
    file.refreshIfChanged(2000);
    QVERIFY(file.find("t2"));
}

QTEST_GUILESS_MAIN(tst_Jwt)
#include "tst_jwt.moc"
