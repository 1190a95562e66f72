// berth.gateway through a fake exchange: the order of its checks (addresses, token, roles,
// methods), the RFC 6750 challenges, the identity handed on (request attribute, request.log
// fields, X-Berth-User/-Roles replacing the client's), the tokens file, and the diagnostics
// of its keys at file:line.
#include "apps/gateway/gatewayapp.h"
#include "fakeexchange.h"
#include "http/identity.h"
#include "log/logging.h"
#include "pipeline/appregistry.h"

#include <config/config.h>
#include <crypto/cryptoutil.h>

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

using namespace Berth;
using namespace Qt::StringLiterals;
using Gateway::GatewayApp;
using Outcome = Pipeline::Outcome;

namespace {

const QByteArray Secret = "0123456789abcdef0123456789abcdef";

QByteArray b64url(const QByteArray &bytes)
{
    return bytes.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
}

QByteArray hs256(const QJsonObject &claims, const QByteArray &secret = Secret)
{
    const QByteArray input = b64url(R"({"alg":"HS256","typ":"JWT"})") + '.' +
                             b64url(QJsonDocument(claims).toJson(QJsonDocument::Compact));
    return input + '.' + b64url(Crypto::hmacSha256(secret, input));
}

QByteArray fieldValues(const Http::Request &request, QByteArrayView name)
{
    QByteArray out;
    for (const Http::HeaderField &field : request.head.fields) {
        if (Http::equalsIgnoreCase(field.name, name))
            out += (out.isEmpty() ? "" : "|") + field.value.toByteArray();
    }
    return out;
}

} // namespace

class tst_GatewayApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void missingTokenChallengesWithoutError();
    void invalidTokens_data();
    void invalidTokens();
    void validTokenPassesIdentityOn();
    void clientIdentityFieldsAreDropped();
    void roles_data();
    void roles();
    void methods();
    void addresses_data();
    void addresses();
    void addressesBeforeTokens();
    void tokensFile();
    void denialsAreCefEvents();
    void realmIsQuoted();
    void diagnostics_data();
    void diagnostics();

private:
    std::unique_ptr<GatewayApp> build(const QString &keys, QStringList *diagnostics = nullptr);
    Outcome run(GatewayApp &app, const QByteArray &authorization, const char *peer = "10.1.2.3",
                const QByteArray &method = "GET", Tests::FakeExchange::Headers extra = {});
    QString write(const QString &name, const QByteArray &contents);

    QByteArray cefText();

    QTemporaryDir m_dir;
    QTemporaryDir m_logDir;
    std::unique_ptr<Tests::FakeExchange> m_last;
};

void tst_GatewayApp::initTestCase()
{
    QVERIFY(m_dir.isValid() && m_logDir.isValid());
    QString error;
    QVERIFY2(Log::Logging::setup(m_logDir.path(), &error), qPrintable(error));
}

void tst_GatewayApp::cleanupTestCase()
{
    Log::Logging::shutdown();
}

QByteArray tst_GatewayApp::cefText()
{
    Log::Logging::flushAll();
    QFile file(m_logDir.filePath(u"cef.log"_s));
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

QString tst_GatewayApp::write(const QString &name, const QByteArray &contents)
{
    const QString path = m_dir.filePath(name);
    QFile file(path);
    if (file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        file.write(contents);
    return path;
}

std::unique_ptr<GatewayApp> tst_GatewayApp::build(const QString &keys, QStringList *diagnostics)
{
    const QString text = u"[app:gw]\ncall = berth.gateway\n"_s + keys + u'\n';
    const Config::Config config = Config::Config::fromText(text, m_dir.filePath(u"berth.conf"_s));
    const Pipeline::AppSetup setup{config, u"app:gw"_s, u"gw"_s, nullptr};
    std::unique_ptr<GatewayApp> app = Gateway::buildGateway(setup);
    if (diagnostics) {
        for (const Config::Diagnostic &d : config.diagnostics())
            diagnostics->append(d.toString().replace(m_dir.path() + u'/', QString()));
    }
    return app;
}

Outcome tst_GatewayApp::run(GatewayApp &app, const QByteArray &authorization, const char *peer,
                            const QByteArray &method, Tests::FakeExchange::Headers extra)
{
    if (!authorization.isEmpty())
        extra.append({"Authorization", authorization});
    m_last = std::make_unique<Tests::FakeExchange>(method, "/api/x", extra);
    m_last->request().peerAddress = QHostAddress(QString::fromLatin1(peer));
    return app.handle(*m_last);
}

void tst_GatewayApp::missingTokenChallengesWithoutError()
{
    auto app = build(u"authenticate = yes\nsecret_key = "_s + QString::fromLatin1(Secret) +
                     u"\nrealm = API"_s);
    QCOMPARE(run(*app, {}), Outcome::Answered);
    QCOMPARE(m_last->status(), 401);
    QCOMPARE(m_last->header("WWW-Authenticate"), "Bearer realm=\"API\""_ba);
    // Another scheme is no bearer token either.
    QCOMPARE(run(*app, "Basic YTpi"), Outcome::Answered);
    QCOMPARE(m_last->header("WWW-Authenticate"), "Bearer realm=\"API\""_ba);
}

void tst_GatewayApp::invalidTokens_data()
{
    QTest::addColumn<QByteArray>("authorization");
    QTest::addColumn<QByteArray>("description");
    const QJsonObject ok{{u"sub"_s, u"alice"_s}};
    QTest::newRow("wrong key") << "Bearer " + hs256(ok, "another key of thirty-two bytes!!")
                               << "bad signature"_ba;
    QTest::newRow("expired") << "Bearer " + hs256({{u"sub"_s, u"a"_s}, {u"exp"_s, 1000}})
                             << "token expired"_ba;
    QTest::newRow("not a token") << "Bearer ab$c"_ba
                                 << "malformed Authorization header"_ba;
    QTest::newRow("empty") << "Bearer "_ba
                           << "malformed Authorization header"_ba;
    QTest::newRow("opaque, unknown") << "Bearer abcdef"_ba
                                     << "unknown token"_ba;
    QTest::newRow("garbage JWT") << "Bearer a.b.c"_ba
                                 << "malformed token"_ba;
}

void tst_GatewayApp::invalidTokens()
{
    QFETCH(QByteArray, authorization);
    QFETCH(QByteArray, description);
    auto app = build(u"authenticate = yes\nsecret_key = "_s + QString::fromLatin1(Secret));
    QCOMPARE(run(*app, authorization), Outcome::Answered);
    QCOMPARE(m_last->status(), 401);
    QCOMPARE(m_last->header("WWW-Authenticate"),
             "Bearer realm=\"Berth\", error=\"invalid_token\", error_description=\"" + description +
                 '"');
    QVERIFY(!m_last->request().attributes.get<Gateway::GatewayIdentity>());
}

void tst_GatewayApp::validTokenPassesIdentityOn()
{
    auto app = build(u"authenticate = yes\nsecret_key = "_s + QString::fromLatin1(Secret));
    const QByteArray token = hs256({{u"sub"_s, u"alice"_s},
                                    {u"roles"_s, u"user admin"_s},
                                    {u"jti"_s, u"id-42"_s},
                                    {u"exp"_s, qint64(4102444800)}});
    QCOMPARE(run(*app, "bearer  " + token), Outcome::Pass);
    const Http::Request &request = m_last->request();
    const auto *identity = request.attributes.get<Gateway::GatewayIdentity>();
    QVERIFY(identity);
    QCOMPARE(identity->user, u"alice"_s);
    QCOMPARE(identity->roles, (QStringList{u"user"_s, u"admin"_s}));
    const auto *logged = request.attributes.get<Http::Identity>();
    QVERIFY(logged);
    QCOMPARE(logged->user, u"alice"_s);
    QCOMPARE(logged->token, u"id-42"_s); // the jti, never the token
    QCOMPARE(fieldValues(request, "X-Berth-User"), "alice"_ba);
    QCOMPARE(fieldValues(request, "X-Berth-Roles"), "user,admin"_ba);
    QCOMPARE(m_last->status(), 0); // not answered
}

void tst_GatewayApp::clientIdentityFieldsAreDropped()
{
    // With no authentication configured the spoofed fields still never reach the next app.
    auto app = build(QString());
    QCOMPARE(run(*app, {}, "10.1.2.3", "GET",
                 {{"X-Berth-User", "root"}, {"x-berth-roles", "admin"}, {"X-Other", "1"}}),
             Outcome::Pass);
    QVERIFY(fieldValues(m_last->request(), "X-Berth-User").isEmpty());
    QVERIFY(fieldValues(m_last->request(), "X-Berth-Roles").isEmpty());
    QCOMPARE(fieldValues(m_last->request(), "X-Other"), "1"_ba);

    auto authenticating =
        build(u"authenticate = yes\nsecret_key = "_s + QString::fromLatin1(Secret));
    QCOMPARE(run(*authenticating, "Bearer " + hs256({{u"sub"_s, u"bob"_s}}), "10.1.2.3", "GET",
                 {{"X-Berth-User", "root"}, {"X-Berth-Roles", "admin"}}),
             Outcome::Pass);
    QCOMPARE(fieldValues(m_last->request(), "X-Berth-User"), "bob"_ba);
    QCOMPARE(fieldValues(m_last->request(), "X-Berth-Roles"), ""_ba);
}

void tst_GatewayApp::roles_data()
{
    QTest::addColumn<QString>("keys");
    QTest::addColumn<QString>("roles"); // the token's
    QTest::addColumn<int>("status");    // 0: passed
    QTest::newRow("any-of, one") << u"roles = admin, ops"_s << u"user ops"_s << 0;
    QTest::newRow("any-of, none") << u"roles = admin, ops"_s << u"user"_s << 403;
    QTest::newRow("all-of, all") << u"roles_all = a, b"_s << u"b a c"_s << 0;
    QTest::newRow("all-of, some") << u"roles_all = a, b"_s << u"a"_s << 403;
    QTest::newRow("no roles in token") << u"roles = a"_s << QString() << 403;
}

void tst_GatewayApp::roles()
{
    QFETCH(QString, keys);
    QFETCH(QString, roles);
    QFETCH(int, status);
    auto app =
        build(u"authenticate = yes\nsecret_key = "_s + QString::fromLatin1(Secret) + u'\n' + keys);
    QJsonObject claims{{u"sub"_s, u"alice"_s}};
    if (!roles.isEmpty())
        claims.insert(u"scope"_s, roles);
    const Outcome outcome = run(*app, "Bearer " + hs256(claims));
    QCOMPARE(outcome, status ? Outcome::Answered : Outcome::Pass);
    QCOMPARE(m_last->status(), status);
    if (status) {
        QCOMPARE(m_last->header("WWW-Authenticate"),
                 "Bearer realm=\"Berth\", error=\"insufficient_scope\""_ba);
        // request.log still says who was refused.
        QCOMPARE(Http::userOf(m_last->request()), u"alice"_s);
    }
}

void tst_GatewayApp::methods()
{
    auto app = build(u"methods = get, POST"_s);
    QCOMPARE(run(*app, {}, "10.1.2.3", "GET"), Outcome::Pass);
    QCOMPARE(run(*app, {}, "10.1.2.3", "POST"), Outcome::Pass);
    QCOMPARE(run(*app, {}, "10.1.2.3", "DELETE"), Outcome::Answered);
    QCOMPARE(m_last->status(), 403);
}

void tst_GatewayApp::addresses_data()
{
    QTest::addColumn<QString>("keys");
    QTest::addColumn<QString>("peer");
    QTest::addColumn<bool>("allowed");
    const QString allow = u"ips = 10.0.0.0/8, 2001:db8::/32, ::1"_s;
    QTest::newRow("v4 in") << allow << u"10.200.0.1"_s << true;
    QTest::newRow("v4 out") << allow << u"192.168.0.1"_s << false;
    QTest::newRow("v4-mapped in") << allow << u"::ffff:10.0.0.7"_s << true;
    QTest::newRow("v6 in") << allow << u"2001:db8:1::5"_s << true;
    QTest::newRow("v6 out") << allow << u"2001:db9::5"_s << false;
    QTest::newRow("v6 host") << allow << u"::1"_s << true;
    const QString deny = u"deny_ips = 10.9.0.0/16, fe80::/10"_s;
    QTest::newRow("deny v4") << deny << u"10.9.3.4"_s << false;
    QTest::newRow("deny v4, other") << deny << u"10.8.3.4"_s << true;
    QTest::newRow("deny v6") << deny << u"fe80::1"_s << false;
    QTest::newRow("deny wins over allow")
        << u"ips = 10.0.0.0/8\ndeny_ips = 10.9.0.0/16"_s << u"10.9.0.1"_s << false;
}

void tst_GatewayApp::addresses()
{
    QFETCH(QString, keys);
    QFETCH(QString, peer);
    QFETCH(bool, allowed);
    auto app = build(keys);
    QCOMPARE(run(*app, {}, qPrintable(peer)), allowed ? Outcome::Pass : Outcome::Answered);
    QCOMPARE(m_last->status(), allowed ? 0 : 403);
}

void tst_GatewayApp::addressesBeforeTokens()
{
    // A refused network is told 403 even with a valid token, and without one.
    auto app = build(u"authenticate = yes\nips = 10.0.0.0/8\nsecret_key = "_s +
                     QString::fromLatin1(Secret));
    QCOMPARE(run(*app, {}, "192.0.2.1"), Outcome::Answered);
    QCOMPARE(m_last->status(), 403);
    QCOMPARE(run(*app, "Bearer " + hs256({{u"sub"_s, u"a"_s}}), "192.0.2.1"), Outcome::Answered);
    QCOMPARE(m_last->status(), 403);
}

void tst_GatewayApp::tokensFile()
{
    const QString path = write(u"tokens"_s, "# opaque tokens\n"
                                            "tok-alice alice admin,user -\n"
                                            "sha256:" +
                                                Crypto::sha256("tok-bob").toHex() +
                                                " bob - -\n"
                                                "tok-old carol user 2001-01-01\n");
    auto app = build(u"authenticate = yes\nroles = admin, user\ntokens_file = "_s + path);
    QCOMPARE(run(*app, "Bearer tok-alice"), Outcome::Pass);
    QCOMPARE(Http::userOf(m_last->request()), u"alice"_s);
    QCOMPARE(m_last->request().attributes.get<Http::Identity>()->token,
             Gateway::tokenIdOf("tok-alice"));
    QCOMPARE(run(*app, "Bearer tok-bob"), Outcome::Answered); // known, but no role
    QCOMPARE(m_last->status(), 403);
    QCOMPARE(run(*app, "Bearer tok-old"), Outcome::Answered);
    QCOMPARE(m_last->status(), 401);
    QVERIFY(m_last->header("WWW-Authenticate").contains("token expired"));
    QCOMPARE(run(*app, "Bearer tok-eve"), Outcome::Answered);
    QCOMPARE(m_last->status(), 401);
}

void tst_GatewayApp::denialsAreCefEvents()
{
    auto app =
        build(u"authenticate = yes\nroles = admin\nsecret_key = "_s + QString::fromLatin1(Secret));
    const QByteArray expired = hs256({{u"sub"_s, u"a"_s}, {u"exp"_s, 1000}});
    const qsizetype before = cefText().size();
    QCOMPARE(run(*app, "Bearer " + expired), Outcome::Answered);
    QCOMPARE(run(*app, "Bearer " + hs256({{u"sub"_s, u"zed"_s}})), Outcome::Answered);
    const QByteArray added = cefText().mid(before);
    const QList<QByteArray> lines = added.trimmed().split('\n');
    QCOMPARE(lines.size(), 2);
    QVERIFY2(lines[0].contains("|AuthFail|") &&
                 lines[0].contains("msg=berth.gateway: token expired"),
             lines[0].constData());
    QVERIFY2(lines[1].contains("|RoleDenied|") && lines[1].contains("suser=zed"),
             lines[1].constData());
    QVERIFY(!added.contains(expired)); // the token itself is never logged
}

void tst_GatewayApp::realmIsQuoted()
{
    auto app = build(u"authenticate = yes\nrealm = a \"b\" \\c"_s);
    QCOMPARE(run(*app, {}), Outcome::Answered);
    QCOMPARE(m_last->header("WWW-Authenticate"), "Bearer realm=\"a \\\"b\\\" \\\\c\""_ba);
}

void tst_GatewayApp::diagnostics_data()
{
    QTest::addColumn<QString>("keys");
    QTest::addColumn<QString>("expected");
    QTest::newRow("bad CIDR") << u"ips = 10.0.0.0/8, 10.0.0.0/33"_s
                              << u"berth.conf:3: [app:gw] ips: '10.0.0.0/33' is not an IP"_s;
    QTest::newRow("bad deny") << u"deny_ips = nowhere"_s
                              << u"berth.conf:3: [app:gw] deny_ips: 'nowhere'"_s;
    QTest::newRow("bad PEM") << u"public_key = berth.conf"_s
                             << u"berth.conf:3: [app:gw] public_key: "_s;
    QTest::newRow("missing jwks") << u"jwks = nothere.json"_s
                                  << u"berth.conf:3: [app:gw] jwks: can't read"_s;
    QTest::newRow("missing tokens")
        << u"tokens_file = nothere"_s << u"berth.conf:3: [app:gw] can't read"_s;
    QTest::newRow("no way to verify")
        << u"authenticate = yes"_s << u"berth.conf:3: [app:gw] authenticate = yes needs"_s;
    QTest::newRow("short secret") << u"secret_key = short"_s
                                  << u"berth.conf:3: warning: [app:gw] an HMAC key shorter"_s;
}

void tst_GatewayApp::diagnostics()
{
    QFETCH(QString, keys);
    QFETCH(QString, expected);
    QStringList found;
    QVERIFY(build(keys, &found));
    QCOMPARE(found.size(), 1);
    QVERIFY2(found.at(0).startsWith(expected), qPrintable(found.at(0)));
}

QTEST_GUILESS_MAIN(tst_GatewayApp)
#include "tst_gatewayapp.moc"
