// Session cookie signing (with the AppCipher, across key rotations), Set-Cookie attributes,
// Cookie parsing, the CSRF helpers and the cookie test's open-redirect check.

#include "crypto/appcipher.h"
#include "crypto/keystore.h"
#include "http/requesthead.h"
#include "sessions/csrf.h"
#include "sessions/returnpath.h"
#include "sessions/sessioncookie.h"

#include <QTest>

using namespace Berth::Sessions;
using namespace Qt::StringLiterals;

class tst_SessionCookie : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void signAndVerify();
    void tampered_data();
    void tampered();
    void otherSecretRejected();
    void validAcrossRotation();
    void setCookieAttributes();
    void cookiePathEncoding_data();
    void cookiePathEncoding();
    void requestCookies();
    void safeMethods_data();
    void safeMethods();
    void formField_data();
    void formField();
    void tokenMatches();
    void returnPath_data();
    void returnPath();
};

namespace {
const QByteArray Secret = "0123456789abcdef0123456789abcdef";
const QByteArray Id = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd";

// An open cipher over its own in-memory key chain.
struct TestCipher
{
    explicit TestCipher(const QByteArray &secret, int keynum = 0,
                        Berth::Crypto::AppCipher::Clock clock = {})
        : cipher(keynum, secret, &store, std::move(clock))
    {
        QString error;
        if (!cipher.open(&error))
            qFatal("cipher: %s", qPrintable(error));
    }
    Berth::Crypto::MemoryKeyStore store;
    Berth::Crypto::AppCipher cipher;
};
} // namespace

void tst_SessionCookie::signAndVerify()
{
    const TestCipher test(Secret);
    const CookieSigner signer(&test.cipher);
    const QByteArray value = signer.sign(Id);
    QVERIFY(value.startsWith(Id + ".0."));
    QCOMPARE(value.size(), Id.size() + 3 + 43); // keynum 0, base64url of 32 bytes, unpadded
    QCOMPARE(signer.verify(value), Id);
    QCOMPARE(signer.sign(Id), value); // deterministic
    // No cipher (or one that is not open): nothing is signed or accepted.
    QVERIFY(CookieSigner(nullptr).sign(Id).isEmpty());
    QVERIFY(CookieSigner(nullptr).verify(value).isNull());
    Berth::Crypto::MemoryKeyStore store;
    const Berth::Crypto::AppCipher closed(0, Secret, &store);
    QVERIFY(CookieSigner(&closed).sign(Id).isEmpty());
    QVERIFY(CookieSigner(&closed).verify(value).isNull());
}

void tst_SessionCookie::tampered_data()
{
    const TestCipher test(Secret);
    const QByteArray good = CookieSigner(&test.cipher).sign(Id);
    const QByteArray mac = good.mid(Id.size() + 3);
    QTest::addColumn<QByteArray>("value");
    QByteArray flippedId = good;
    flippedId[0] = 'B';
    QByteArray flippedMac = good;
    flippedMac[flippedMac.size() - 1] = flippedMac.back() == 'A' ? 'B' : 'A';
    QTest::newRow("id changed") << flippedId;
    QTest::newRow("mac changed") << flippedMac;
    QTest::newRow("mac truncated") << good.chopped(1);
    QTest::newRow("mac missing") << Id + ".0.";
    QTest::newRow("keynum missing") << Id + ".." + mac;
    QTest::newRow("keynum unknown") << Id + ".1." + mac;
    QTest::newRow("keynum leading zero") << Id + ".00." + mac;
    QTest::newRow("keynum signed") << Id + ".+0." + mac;
    QTest::newRow("keynum colon") << Id + ".0:." + mac;
    QTest::newRow("no keynum segment") << Id + '.' + mac;
    QTest::newRow("no dot") << Id;
    QTest::newRow("only mac") << good.mid(Id.size());
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("extra segment") << Id + ".x.0." + mac;
    QTest::newRow("padding added") << good + '=';
    QTest::newRow("standard base64")
        << Id + ".0." + QByteArray::fromBase64(mac, QByteArray::Base64UrlEncoding).toBase64();
    QTest::newRow("huge") << QByteArray(300, 'a') + good.mid(Id.size());
}

void tst_SessionCookie::tampered()
{
    QFETCH(QByteArray, value);
    const TestCipher test(Secret);
    QVERIFY(CookieSigner(&test.cipher).verify(value).isNull());
}

void tst_SessionCookie::otherSecretRejected()
{
    const TestCipher other("another secret of enough length");
    const TestCipher test(Secret);
    const QByteArray value = CookieSigner(&other.cipher).sign(Id);
    QVERIFY(CookieSigner(&test.cipher).verify(value).isNull());
}

void tst_SessionCookie::validAcrossRotation()
{
    qint64 now = 1'800'000'000;
    TestCipher test(Secret, 0, [&now] { return now; });
    const QByteArray before = CookieSigner(&test.cipher).sign(Id);
    QString error;
    QVERIFY2(test.cipher.changeKey(1, "the next secret, also long enough", now + 60, &error),
             qPrintable(error));
    // Pending: still signed under key 0.
    QCOMPARE(CookieSigner(&test.cipher).sign(Id), before);
    now += 60;
    const QByteArray after = CookieSigner(&test.cipher).sign(Id);
    QVERIFY(after.startsWith(Id + ".1."));
    QVERIFY(after != before);
    // Both verify: cookies issued before the rotation survive it.
    QCOMPARE(CookieSigner(&test.cipher).verify(before), Id);
    QCOMPARE(CookieSigner(&test.cipher).verify(after), Id);

    // A process restarted with the new configuration (key 1) opens the same chain.
    Berth::Crypto::AppCipher restarted(1, "the next secret, also long enough", &test.store,
                                       [&now] { return now; });
    QVERIFY2(restarted.open(&error), qPrintable(error));
    QCOMPARE(CookieSigner(&restarted).verify(before), Id);
    QCOMPARE(CookieSigner(&restarted).verify(after), Id);
    // One left on the old configuration has no key 1: the new cookies are not its to accept.
    Berth::Crypto::AppCipher old(0, Secret, &test.store, [&now] { return now; });
    QVERIFY2(old.open(&error), qPrintable(error));
    QCOMPARE(CookieSigner(&old).verify(before), Id);
    QVERIFY(CookieSigner(&old).verify(after).isNull());
}

void tst_SessionCookie::setCookieAttributes()
{
    CookieAttributes attributes;
    QCOMPARE(setCookieValue("sid", "v", attributes),
             QByteArray("sid=v; Path=/; HttpOnly; SameSite=Lax"));
    attributes.path = "/demo";
    attributes.secure = true;
    QCOMPARE(setCookieValue("sid", "v", attributes),
             QByteArray("sid=v; Path=/demo; HttpOnly; SameSite=Lax; Secure"));
    attributes.maxAge = 0;
    QCOMPARE(setCookieValue("sid", "", attributes),
             QByteArray("sid=; Path=/demo; Max-Age=0; HttpOnly; SameSite=Lax; Secure"));
}

void tst_SessionCookie::cookiePathEncoding_data()
{
    QTest::addColumn<QByteArray>("scriptName");
    QTest::addColumn<QByteArray>("path");
    QTest::newRow("root") << QByteArray() << QByteArray("/");
    QTest::newRow("plain") << QByteArray("/demo") << QByteArray("/demo");
    QTest::newRow("semicolon") << QByteArray("/a;b") << QByteArray("/a%3Bb");
    QTest::newRow("crlf") << QByteArray("/a\r\nX: y") << QByteArray("/a%0D%0AX:%20y");
    QTest::newRow("utf8") << QByteArray("/\xc3\xa9") << QByteArray("/%C3%A9");
}

void tst_SessionCookie::cookiePathEncoding()
{
    QFETCH(QByteArray, scriptName);
    QFETCH(QByteArray, path);
    QCOMPARE(cookiePath(scriptName), path);
}

void tst_SessionCookie::requestCookies()
{
    Berth::Http::RequestHead head;
    head.fields.push_back({"Cookie", "a=1; sid=first;sid2=no ; SID=case"});
    head.fields.push_back({"Host", "x"});
    head.fields.push_back({"cookie", "sid=\"second\"; broken; =x; sid=third"});
    QCOMPARE(Berth::Sessions::requestCookies(head, "sid"),
             (QList<QByteArray>{"first", "second", "third"}));
    QCOMPARE(Berth::Sessions::requestCookies(head, "a"), (QList<QByteArray>{"1"}));
    QVERIFY(Berth::Sessions::requestCookies(head, "none").isEmpty());
}

void tst_SessionCookie::safeMethods_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<bool>("safe");
    for (const char *m : {"GET", "HEAD", "OPTIONS", "TRACE"})
        QTest::newRow(m) << QByteArray(m) << true;
    for (const char *m : {"POST", "PUT", "PATCH", "DELETE", "PROPPATCH", "get"})
        QTest::newRow(m) << QByteArray(m) << false;
}

void tst_SessionCookie::safeMethods()
{
    QFETCH(QByteArray, method);
    QFETCH(bool, safe);
    QCOMPARE(Csrf::isSafeMethod(method), safe);
}

void tst_SessionCookie::formField_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QByteArray>("value");
    QTest::newRow("only") << QByteArray("csrftoken=abc") << QByteArray("abc");
    QTest::newRow("among others") << QByteArray("name=x&csrftoken=a-b_c&z=1")
                                  << QByteArray("a-b_c");
    QTest::newRow("first wins") << QByteArray("csrftoken=1&csrftoken=2") << QByteArray("1");
    QTest::newRow("encoded") << QByteArray("csrftoken=a%2Bb+c") << QByteArray("a+b c");
    QTest::newRow("encoded name") << QByteArray("csrf%74oken=v") << QByteArray("v");
    QTest::newRow("empty value") << QByteArray("csrftoken=") << QByteArray("");
    QTest::newRow("no value") << QByteArray("csrftoken") << QByteArray("");
    QTest::newRow("absent") << QByteArray("name=csrftoken") << QByteArray();
    QTest::newRow("prefix") << QByteArray("xcsrftoken=1") << QByteArray();
    QTest::newRow("empty body") << QByteArray() << QByteArray();
}

void tst_SessionCookie::formField()
{
    QFETCH(QByteArray, body);
    QFETCH(QByteArray, value);
    const QByteArray found = Csrf::formField(body, Csrf::FormField);
    QCOMPARE(found.isNull(), value.isNull());
    QCOMPARE(found, value);
}

void tst_SessionCookie::tokenMatches()
{
    QVERIFY(Csrf::tokenMatches("abc", "abc"));
    QVERIFY(!Csrf::tokenMatches("abc", "abd"));
    QVERIFY(!Csrf::tokenMatches("abc", "ab"));
    QVERIFY(!Csrf::tokenMatches("", ""));
    QVERIFY(!Csrf::tokenMatches("abc", ""));
    QVERIFY(Csrf::isUrlEncodedForm("application/x-www-form-urlencoded"));
    QVERIFY(Csrf::isUrlEncodedForm("Application/X-WWW-Form-Urlencoded ; charset=UTF-8"));
    QVERIFY(!Csrf::isUrlEncodedForm("multipart/form-data; boundary=x"));
    QVERIFY(!Csrf::isUrlEncodedForm(""));
}

void tst_SessionCookie::returnPath_data()
{
    QTest::addColumn<QByteArray>("value"); // already percent-decoded once, as from the query
    QTest::addColumn<QByteArray>("mount");
    QTest::addColumn<QByteArray>("location"); // null: refused

    const QByteArray none;
    QTest::newRow("root") << QByteArray("/") << QByteArray() << QByteArray("/");
    QTest::newRow("path and query")
        << QByteArray("/a/b?x=1&y=/z") << QByteArray() << QByteArray("/a/b?x=1&y=/z");
    QTest::newRow("in mount") << QByteArray("/demo/page") << QByteArray("/demo")
                              << QByteArray("/demo/page");
    QTest::newRow("mount itself") << QByteArray("/demo") << QByteArray("/demo")
                                  << QByteArray("/demo");
    QTest::newRow("mount query") << QByteArray("/demo?x") << QByteArray("/demo")
                                 << QByteArray("/demo?x");
    QTest::newRow("utf8 encoded") << QByteArray("/\xc3\xa9") << QByteArray()
                                  << QByteArray("/%C3%A9");
    QTest::newRow("single encoded slash kept")
        << QByteArray("/a%2Fb") << QByteArray() << QByteArray("/a%2Fb");

    QTest::newRow("protocol relative") << QByteArray("//evil.com") << QByteArray() << none;
    QTest::newRow("backslash") << QByteArray("/\\evil.com") << QByteArray() << none;
    QTest::newRow("backslash later") << QByteArray("/a\\b") << QByteArray() << none;
    QTest::newRow("http") << QByteArray("http://evil.com") << QByteArray() << none;
    QTest::newRow("https") << QByteArray("https://evil.com/") << QByteArray() << none;
    QTest::newRow("javascript") << QByteArray("javascript:alert(1)") << QByteArray() << none;
    QTest::newRow("data") << QByteArray("data:text/html,x") << QByteArray() << none;
    QTest::newRow("relative") << QByteArray("evil.com") << QByteArray() << none;
    QTest::newRow("empty") << QByteArray("") << QByteArray() << none;
    QTest::newRow("tab") << QByteArray("/\t/evil.com") << QByteArray() << none;
    QTest::newRow("newline") << QByteArray("/\n/evil.com") << QByteArray() << none;
    QTest::newRow("crlf header") << QByteArray("/x\r\nSet-Cookie: a=b") << QByteArray() << none;
    QTest::newRow("space") << QByteArray("/ /evil.com") << QByteArray() << none;
    QTest::newRow("double encoded slashes") << QByteArray("%2F%2Fevil.com") << QByteArray() << none;
    QTest::newRow("encoded second slash") << QByteArray("/%2Fevil.com") << QByteArray() << none;
    QTest::newRow("encoded backslash") << QByteArray("/%5Cevil.com") << QByteArray() << none;
    QTest::newRow("encoded tab") << QByteArray("/%09/evil.com") << QByteArray() << none;
    QTest::newRow("dotdot") << QByteArray("/demo/../admin") << QByteArray("/demo") << none;
    QTest::newRow("encoded dotdot")
        << QByteArray("/demo/%2e%2e/admin") << QByteArray("/demo") << none;
    QTest::newRow("outside mount") << QByteArray("/other") << QByteArray("/demo") << none;
    QTest::newRow("mount prefix only") << QByteArray("/demoevil") << QByteArray("/demo") << none;
    QTest::newRow("too long") << QByteArray("/") + QByteArray(5000, 'a') << QByteArray() << none;
}

void tst_SessionCookie::returnPath()
{
    QFETCH(QByteArray, value);
    QFETCH(QByteArray, mount);
    QFETCH(QByteArray, location);
    const QByteArray result = safeReturnPath(value, mount);
    QCOMPARE(result.isNull(), location.isNull());
    QCOMPARE(result, location);
}

QTEST_GUILESS_MAIN(tst_SessionCookie)
#include "tst_sessioncookie.moc"
