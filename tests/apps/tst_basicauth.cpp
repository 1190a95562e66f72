// berth.basic_auth: credential parsing, the auth file (brim and htpasswd lines), bcrypt
// verification, reload, the success cache, CEF events and the TLS rule.
#include "apps/basicauth/basicauthapp.h"
#include "apps/basicauth/userfile.h"
#include "fakeexchange.h"
#include "http/identity.h"
#include "log/logging.h"
#include "pipeline/appregistry.h"
#include "pipeline/pipeline.h"
#include "runtime/offloadpool.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <config/config.h>

#include <QFile>
#include <QSemaphore>
#include <QTemporaryDir>
#include <QtTest>

#include <crypt.h>

using namespace Berth;
using namespace Qt::StringLiterals;
using Apps::BasicAuthApp;
using Apps::CredentialsStatus;

namespace {

// bcrypt at cost 5 (libxcrypt's minimum is 4): fast enough for tests, same code path.
QByteArray bcrypt(const QByteArray &password, const char *prefix = "$2b$")
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$2b$", 5, nullptr, 0, setting, sizeof(setting)))
        return {};
    crypt_data data{};
    const char *hash = crypt_r(password.constData(), setting, &data);
    if (!hash || hash[0] == '*')
        return {};
    QByteArray out(hash);
    // $2y$ (PHP, htpasswd -B) and $2a$ are the same algorithm with another tag.
    out.replace(0, 4, prefix);
    return out;
}

QByteArray basic(const QByteArray &userColonPassword)
{
    return "Basic " + userColonPassword.toBase64();
}

// The app after berth.basic_auth in the pipeline: notes the exchanges that reach it and keeps
// them (no response), so a test can tell "passed on" from "answered".
class NextApp final : public Pipeline::App
{
public:
    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        reached.insert(&exchange);
        return Pipeline::Outcome::Answered;
    }
    QSet<const Http::Exchange *> reached;
};

} // namespace

class TestBasicAuth : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void parseCredentials_data();
    void parseCredentials();
    void parseUserFile_data();
    void parseUserFile();
    void handle_data();
    void handle();
    void htpasswdEntriesVerify_data();
    void htpasswdEntriesVerify();
    void authFailureIsCefLogged();
    void challengeOnlyIsNotCefLogged();
    void plainHttpRefusedWithoutAllowInsecure();
    void reloadAfterFileChange();
    void reloadCheckedAtMostOncePerInterval();
    void missingFileRefusesEveryone();
    void cacheAvoidsRepeatedBcrypt();
    void cacheNeverAcceptsAnotherPassword();
    void cacheInvalidatedByFileChange();
    void realmIsQuoted();
    void factoryDiagnostics_data();
    void factoryDiagnostics();
    void bcryptRunsOffTheEventLoop();
    void verdictForAGoneClientIsDropped();
    void fullOffloadQueueAnswers503();

private:
    QString writeAuthFile(const QByteArray &content, const QString &name = QStringLiteral("users"));
    QByteArray cefText();
    std::unique_ptr<BasicAuthApp> makeApp(const QString &path, qint64 *clock = nullptr,
                                          bool allowInsecure = true);
    Pipeline::Outcome run(BasicAuthApp &app, const QByteArray &authorization,
                          Tests::FakeExchange **out = nullptr, bool secure = false);

    QTemporaryDir m_dir;
    QTemporaryDir m_logDir;
    QByteArray m_aliceHash;
    QByteArray m_bobHash;
    std::vector<std::unique_ptr<Tests::FakeExchange>> m_exchanges;
    std::vector<std::unique_ptr<Pipeline::Pipeline>> m_pipelines;
    NextApp m_next;
};

void TestBasicAuth::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY(m_logDir.isValid());
    QString error;
    QVERIFY2(Log::Logging::setup(m_logDir.path(), &error), qPrintable(error));
    m_aliceHash = bcrypt("secret");
    m_bobHash = bcrypt("hunter2", "$2y$");
    QVERIFY(m_aliceHash.startsWith("$2b$05$"));
    QCOMPARE(m_aliceHash.size(), 60);
}

void TestBasicAuth::cleanupTestCase()
{
    Log::Logging::shutdown();
}

QString TestBasicAuth::writeAuthFile(const QByteArray &content, const QString &name)
{
    const QString path = m_dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return {};
    file.write(content);
    return path;
}

QByteArray TestBasicAuth::cefText()
{
    Log::Logging::flushAll();
    QFile file(m_logDir.filePath(QStringLiteral("cef.log")));
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

std::unique_ptr<BasicAuthApp> TestBasicAuth::makeApp(const QString &path, qint64 *clock,
                                                     bool allowInsecure)
{
    BasicAuthApp::Options options;
    options.authPath = path;
    options.allowInsecure = allowInsecure;
    options.reloadCheckMs = clock ? 1000 : 0;
    BasicAuthApp::Clock tick;
    if (clock)
        tick = [clock] { return *clock; };
    auto app = std::make_unique<BasicAuthApp>(options, tick);
    app->setName(QStringLiteral("auth"));
    QString error;
    if (!app->load(&error))
        qWarning("load failed: %s", qPrintable(error));
    return app;
}

Pipeline::Outcome TestBasicAuth::run(BasicAuthApp &app, const QByteArray &authorization,
                                     Tests::FakeExchange **out, bool secure)
{
    Tests::FakeExchange::Headers headers{{"Host", "example.com"}};
    if (!authorization.isNull())
        headers.append({"Authorization", authorization});
    m_exchanges.push_back(std::make_unique<Tests::FakeExchange>("GET", "/private", headers));
    Tests::FakeExchange *exchange = m_exchanges.back().get();
    exchange->request().secure = secure;
    exchange->request().peerAddress = QHostAddress(QStringLiteral("127.0.0.1"));
    exchange->request().peerPort = 40000;
    if (out)
        *out = exchange;
    m_pipelines.push_back(
        std::make_unique<Pipeline::Pipeline>(std::vector<Pipeline::App *>{&app, &m_next}));
    exchange->setPipelinePosition(m_pipelines.back().get(), 0);
    const Pipeline::Outcome outcome = app.handle(*exchange);
    if (outcome == Pipeline::Outcome::Pass)
        return outcome; // at once: a cache hit, or no bcrypt needed
    // A verdict that needs bcrypt comes back from the offload pool through the event loop: the
    // exchange is then either answered or passed on to the next app.
    if (!QTest::qWaitFor([&] { return exchange->started() || m_next.reached.contains(exchange); },
                         10000))
        qWarning("no verdict within 10 s");
    return m_next.reached.contains(exchange) ? Pipeline::Outcome::Pass
                                             : Pipeline::Outcome::Answered;
}

void TestBasicAuth::parseCredentials_data()
{
    QTest::addColumn<QByteArray>("field");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("user");
    QTest::addColumn<QByteArray>("password");
    const int ok = int(CredentialsStatus::Ok);
    const int bad = int(CredentialsStatus::Malformed);
    const int missing = int(CredentialsStatus::Missing);
    QTest::newRow("ok") << basic("alice:secret") << ok << "alice" << QByteArray("secret");
    QTest::newRow("scheme-lowercase")
        << QByteArray("basic YWxpY2U6c2VjcmV0") << ok << "alice" << QByteArray("secret");
    QTest::newRow("several-blanks")
        << QByteArray("BASIC \t YWxpY2U6c2VjcmV0") << ok << "alice" << QByteArray("secret");
    QTest::newRow("colon-in-password")
        << basic("alice:se:cr:et") << ok << "alice" << QByteArray("se:cr:et");
    QTest::newRow("empty-password") << basic("alice:") << ok << "alice" << QByteArray();
    QTest::newRow("utf8-user") << basic("j\xc3\xbcrgen:pw") << ok << QString::fromUtf8("jürgen")
                               << QByteArray("pw");
    QTest::newRow("empty") << QByteArray() << missing << QString() << QByteArray();
    QTest::newRow("other-scheme") << QByteArray("Bearer abc.def") << missing << QString()
                                  << QByteArray();
    QTest::newRow("scheme-prefix-only")
        << QByteArray("Basically x") << missing << QString() << QByteArray();
    QTest::newRow("no-token") << QByteArray("Basic") << bad << QString() << QByteArray();
    QTest::newRow("bad-chars") << QByteArray("Basic !!!!") << bad << QString() << QByteArray();
    QTest::newRow("unpadded") << QByteArray("Basic YWxpY2U6cHc") << bad << QString()
                              << QByteArray();
    QTest::newRow("inner-space") << QByteArray("Basic YWxp Y2U6c2VjcmV0") << bad << QString()
                                 << QByteArray();
    QTest::newRow("base64url") << QByteArray("Basic _-__") << bad << QString() << QByteArray();
    QTest::newRow("no-colon") << basic("alice") << bad << QString() << QByteArray();
    QTest::newRow("empty-user") << basic(":secret") << bad << QString() << QByteArray();
    QTest::newRow("nul-in-password")
        << basic(QByteArray("alice:sec\0ret", 13)) << bad << QString() << QByteArray();
    QTest::newRow("control-in-user") << basic("al\x01ice:x") << bad << QString() << QByteArray();
    QTest::newRow("invalid-utf8-user") << basic("\xff\xfe:x") << bad << QString() << QByteArray();
}

void TestBasicAuth::parseCredentials()
{
    QFETCH(QByteArray, field);
    QFETCH(int, status);
    QFETCH(QString, user);
    QFETCH(QByteArray, password);
    Apps::BasicCredentials credentials;
    QCOMPARE(int(Apps::parseBasicCredentials(field, &credentials)), status);
    if (status == int(CredentialsStatus::Ok)) {
        QCOMPARE(credentials.user, user);
        QCOMPARE(credentials.password, password);
    }
}

void TestBasicAuth::parseUserFile_data()
{
    const QByteArray hash = "$2b$05$abcdefghijklmnopqrstuu5UxHWf1iW/6rqvkyfZL.uJdo4MSQOBC";
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QStringList>("users");
    QTest::addColumn<QList<int>>("warningLines");
    QTest::newRow("brim") << "alice " + hash + "\n" << QStringList{u"alice"_s} << QList<int>{};
    QTest::newRow("brim-tab") << "alice\t\t" + hash << QStringList{u"alice"_s} << QList<int>{};
    QTest::newRow("htpasswd") << "alice:" + hash << QStringList{u"alice"_s} << QList<int>{};
    QTest::newRow("htpasswd-2y") << "bob:" + QByteArray(hash).replace(0, 4, "$2y$")
                                 << QStringList{u"bob"_s} << QList<int>{};
    QTest::newRow("2a") << "carol " + QByteArray(hash).replace(0, 4, "$2a$")
                        << QStringList{u"carol"_s} << QList<int>{};
    QTest::newRow("comments-blank-crlf")
        << "# users\r\n\r\n  # indented comment\r\nalice " + hash + "\r\nbob:" + hash + "\r\n"
        << QStringList{u"alice"_s, u"bob"_s} << QList<int>{};
    QTest::newRow("md5-apr1") << "alice:$apr1$abc$0123456789abcdefghijkl\nbob:" + hash
                              << QStringList{u"bob"_s} << QList<int>{1};
    QTest::newRow("md5-crypt") << QByteArray("alice $1$salt$hash") << QStringList{}
                               << QList<int>{1};
    QTest::newRow("sha1") << QByteArray("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=") << QStringList{}
                          << QList<int>{1};
    QTest::newRow("plain-text") << QByteArray("alice secret") << QStringList{} << QList<int>{1};
    QTest::newRow("des-crypt") << QByteArray("alice:rl0uE7uWGTxMs") << QStringList{}
                               << QList<int>{1};
    QTest::newRow("user-only") << "alice\n" + QByteArray("bob ") + hash << QStringList{u"bob"_s}
                               << QList<int>{1};
    QTest::newRow("truncated-hash") << "alice " + hash.left(59) << QStringList{} << QList<int>{1};
    QTest::newRow("bad-cost") << "alice " + QByteArray(hash).replace(4, 2, "99") << QStringList{}
                              << QList<int>{1};
    QTest::newRow("trailing-junk") << "alice " + hash + " extra" << QStringList{} << QList<int>{1};
    QTest::newRow("duplicate") << "alice " + hash + "\nalice:" + hash << QStringList{u"alice"_s}
                               << QList<int>{2};
    QTest::newRow("empty-file") << QByteArray() << QStringList{} << QList<int>{};
}

void TestBasicAuth::parseUserFile()
{
    QFETCH(QByteArray, content);
    QFETCH(QStringList, users);
    QFETCH(QList<int>, warningLines);
    const Apps::UserTable table = Apps::parseUserFile(content);
    QStringList names = table.hashes.keys();
    names.sort();
    QCOMPARE(names, users);
    QList<int> lines;
    for (const Apps::UserFileWarning &warning : table.warnings)
        lines.append(warning.line);
    QCOMPARE(lines, warningLines);
    QCOMPARE(table.maxCost, users.isEmpty() ? 0 : 5);
}

void TestBasicAuth::handle_data()
{
    QTest::addColumn<QByteArray>("authorization");
    QTest::addColumn<int>("status"); // 0: passed to the next app
    QTest::addColumn<QString>("user");
    QTest::newRow("good") << basic("alice:secret") << 0 << "alice";
    QTest::newRow("good-htpasswd-2y") << basic("bob:hunter2") << 0 << "bob";
    QTest::newRow("wrong-password") << basic("alice:Secret") << 401 << QString();
    QTest::newRow("password-prefix") << basic("alice:secre") << 401 << QString();
    QTest::newRow("other-users-password") << basic("alice:hunter2") << 401 << QString();
    QTest::newRow("unknown-user") << basic("mallory:secret") << 401 << QString();
    QTest::newRow("user-case-matters") << basic("Alice:secret") << 401 << QString();
    QTest::newRow("missing") << QByteArray() << 401 << QString();
    QTest::newRow("malformed") << QByteArray("Basic %%%") << 401 << QString();
    QTest::newRow("other-scheme") << QByteArray("Digest username=\"alice\"") << 401 << QString();
}

void TestBasicAuth::handle()
{
    QFETCH(QByteArray, authorization);
    QFETCH(int, status);
    QFETCH(QString, user);
    const QString path = writeAuthFile("alice " + m_aliceHash + "\nbob:" + m_bobHash + "\n");
    auto app = makeApp(path);
    Tests::FakeExchange *exchange = nullptr;
    const auto outcome = run(*app, authorization, &exchange);
    if (status == 0) {
        QCOMPARE(outcome, Pipeline::Outcome::Pass);
        QVERIFY(!exchange->started());
        QCOMPARE(Http::userOf(exchange->request()), user);
    } else {
        QCOMPARE(outcome, Pipeline::Outcome::Answered);
        QCOMPARE(exchange->status(), status);
        QCOMPARE(exchange->header("WWW-Authenticate"),
                 QByteArray("Basic realm=\"Berth\", charset=\"UTF-8\""));
        QVERIFY(Http::userOf(exchange->request()).isEmpty());
        QVERIFY(exchange->body().startsWith("401 Unauthorized"));
    }
    QVERIFY2(exchange->protocolErrors().isEmpty(),
             qPrintable(exchange->protocolErrors().join(u'\n')));
}

void TestBasicAuth::htpasswdEntriesVerify_data()
{
    QTest::addColumn<QByteArray>("prefix");
    QTest::newRow("2a") << QByteArray("$2a$");
    QTest::newRow("2b") << QByteArray("$2b$");
    QTest::newRow("2y") << QByteArray("$2y$");
}

void TestBasicAuth::htpasswdEntriesVerify()
{
    QFETCH(QByteArray, prefix);
    const QByteArray hash = bcrypt("pässwörd", prefix.constData());
    QVERIFY(hash.startsWith(prefix));
    auto app = makeApp(writeAuthFile("carol:" + hash + "\n"));
    QCOMPARE(run(*app, basic("carol:pässwörd")), Pipeline::Outcome::Pass);
    QCOMPARE(run(*app, basic("carol:passwort")), Pipeline::Outcome::Answered);
}

void TestBasicAuth::authFailureIsCefLogged()
{
    auto app = makeApp(writeAuthFile("alice " + m_aliceHash + "\n"));
    const qsizetype before = cefText().size();
    QCOMPARE(run(*app, basic("alice:wrong")), Pipeline::Outcome::Answered);
    QCOMPARE(run(*app, basic("eve:guess")), Pipeline::Outcome::Answered);
    QCOMPARE(run(*app, "Basic !"), Pipeline::Outcome::Answered);
    const QList<QByteArray> lines = cefText().mid(before).trimmed().split('\n');
    QCOMPARE(lines.size(), 3);
    for (const QByteArray &line : lines) {
        QVERIFY2(line.contains("|AuthFail|Authentication failure|5|"), line.constData());
        QVERIFY(line.contains(" src=127.0.0.1 spt=40000 requestMethod=GET request=/private "
                              "dhost=example.com "));
        QVERIFY(line.contains(" cs1Label=txn cs1=test-txn"));
    }
    QVERIFY(lines[0].contains(" suser=alice "));
    QVERIFY(lines[0].contains("msg=berth.basic_auth: wrong password"));
    QVERIFY(lines[1].contains(" suser=eve "));
    QVERIFY(lines[1].contains("msg=berth.basic_auth: unknown user"));
    QVERIFY(!lines[2].contains("suser="));
    QVERIFY(lines[2].contains("msg=berth.basic_auth: malformed Authorization header"));
}

void TestBasicAuth::challengeOnlyIsNotCefLogged()
{
    auto app = makeApp(writeAuthFile("alice " + m_aliceHash + "\n"));
    const qsizetype before = cefText().size();
    QCOMPARE(run(*app, QByteArray()), Pipeline::Outcome::Answered);
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
    QCOMPARE(cefText().size(), before);
}

void TestBasicAuth::plainHttpRefusedWithoutAllowInsecure()
{
    auto app = makeApp(writeAuthFile("alice " + m_aliceHash + "\n"), nullptr, false);
    Tests::FakeExchange *exchange = nullptr;
    QCOMPARE(run(*app, basic("alice:secret"), &exchange, false), Pipeline::Outcome::Answered);
    QCOMPARE(exchange->status(), 403);
    QVERIFY(exchange->header("WWW-Authenticate").isNull());
    QCOMPARE(run(*app, basic("alice:secret"), &exchange, true), Pipeline::Outcome::Pass);
    QCOMPARE(Http::userOf(exchange->request()), QStringLiteral("alice"));
}

void TestBasicAuth::reloadAfterFileChange()
{
    const QString path = writeAuthFile("alice " + m_aliceHash + "\n", QStringLiteral("reload"));
    auto app = makeApp(path);
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
    QCOMPARE(run(*app, basic("bob:hunter2")), Pipeline::Outcome::Answered);
    const quint64 generation = app->userFile().generation();

    writeAuthFile("# alice removed\nbob:" + m_bobHash + "\n", QStringLiteral("reload"));
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Answered);
    QCOMPARE(run(*app, basic("bob:hunter2")), Pipeline::Outcome::Pass);
    QCOMPARE(app->userFile().generation(), generation + 1);
}

void TestBasicAuth::reloadCheckedAtMostOncePerInterval()
{
    qint64 clock = 100000;
    const QString path = writeAuthFile("alice " + m_aliceHash + "\n", QStringLiteral("interval"));
    auto app = makeApp(path, &clock);
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
    writeAuthFile("bob " + m_bobHash + "\n", QStringLiteral("interval"));
    clock += 500; // within the interval: the file is not looked at
    QCOMPARE(run(*app, basic("bob:hunter2")), Pipeline::Outcome::Answered);
    clock += 600;
    QCOMPARE(run(*app, basic("bob:hunter2")), Pipeline::Outcome::Pass);
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Answered);
}

void TestBasicAuth::missingFileRefusesEveryone()
{
    const QString path = writeAuthFile("alice " + m_aliceHash + "\n", QStringLiteral("gone"));
    auto app = makeApp(path);
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
    QVERIFY(QFile::remove(path));
    Tests::FakeExchange *exchange = nullptr;
    QCOMPARE(run(*app, basic("alice:secret"), &exchange), Pipeline::Outcome::Answered);
    QCOMPARE(exchange->status(), 401);
    writeAuthFile("alice " + m_aliceHash + "\n", QStringLiteral("gone"));
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
}

void TestBasicAuth::cacheAvoidsRepeatedBcrypt()
{
    qint64 clock = 1000;
    auto app = makeApp(writeAuthFile("alice " + m_aliceHash + "\n"), &clock);
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
    QCOMPARE(app->hashComputations(), 1);
    for (int i = 0; i < 5; ++i)
        QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
    QCOMPARE(app->hashComputations(), 1);
    clock += 5 * 60 * 1000 + 1; // past the TTL: verified again
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
    QCOMPARE(app->hashComputations(), 2);
    // Unknown users cost a bcrypt too (no timing difference), and are never cached.
    QCOMPARE(run(*app, basic("nobody:x")), Pipeline::Outcome::Answered);
    QCOMPARE(run(*app, basic("nobody:x")), Pipeline::Outcome::Answered);
    QCOMPARE(app->hashComputations(), 4);
}

void TestBasicAuth::cacheNeverAcceptsAnotherPassword()
{
    qint64 clock = 1000;
    auto app = makeApp(writeAuthFile("alice " + m_aliceHash + "\n"), &clock);
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
    QCOMPARE(run(*app, basic("alice:wrong")), Pipeline::Outcome::Answered);
    QCOMPARE(run(*app, basic("alice:wrong")), Pipeline::Outcome::Answered);
    QCOMPARE(app->hashComputations(), 3); // failures are recomputed every time
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
    QCOMPARE(app->hashComputations(), 3);
}

void TestBasicAuth::cacheInvalidatedByFileChange()
{
    const QString path = writeAuthFile("alice " + m_aliceHash + "\n", QStringLiteral("cache"));
    auto app = makeApp(path);
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
    QCOMPARE(app->hashComputations(), 1);
    // alice's password changes: the cached "secret" must stop working at once.
    writeAuthFile("# new password\nalice " + bcrypt("changed") + "\n", QStringLiteral("cache"));
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Answered);
    QCOMPARE(run(*app, basic("alice:changed")), Pipeline::Outcome::Pass);
}

void TestBasicAuth::realmIsQuoted()
{
    BasicAuthApp::Options options;
    options.authPath = writeAuthFile("alice " + m_aliceHash + "\n");
    options.realm = QStringLiteral("Team \"A\" \\ ops");
    options.allowInsecure = true;
    BasicAuthApp app(options);
    QVERIFY(app.load(nullptr));
    Tests::FakeExchange *exchange = nullptr;
    run(app, QByteArray(), &exchange);
    QCOMPARE(exchange->header("WWW-Authenticate"),
             QByteArray("Basic realm=\"Team \\\"A\\\" \\\\ ops\", charset=\"UTF-8\""));
}

void TestBasicAuth::factoryDiagnostics_data()
{
    QTest::addColumn<QString>("appKeys");
    QTest::addColumn<QString>("tls");
    QTest::addColumn<QStringList>("expected"); // substrings of the diagnostics, in order

    QTest::newRow("no-tls-no-allow")
        << "auth_path = users" << QString()
        << QStringList{u"berth.conf:4: berth.basic_auth needs TLS ([tls] enabled = yes) or "
                       u"allow_insecure = yes"_s};
    QTest::newRow("allow-insecure")
        << "auth_path = users\nallow_insecure = yes" << QString()
        << QStringList{u"berth.conf:4: warning: berth.basic_auth [app:auth]: allow_insecure = "
                       u"yes and no TLS"_s};
    QTest::newRow("tls-enabled") << "auth_path = users"
                                 << "[tls]\nenabled = yes\n"
                                 << QStringList{};
    QTest::newRow("missing-file") << "auth_path = nothere\nallow_insecure = yes" << QString()
                                  << QStringList{
                                         u"warning: berth.basic_auth"_s,
                                         u"berth.conf:6: [app:auth] cannot read auth_path"_s};
    QTest::newRow("bad-line") << "auth_path = badusers\nallow_insecure = yes" << QString()
                              << QStringList{
                                     u"warning: berth.basic_auth"_s,
                                     u"badusers:2: warning: user 'eve': not a bcrypt entry"_s};
}

void TestBasicAuth::factoryDiagnostics()
{
    QFETCH(QString, appKeys);
    QFETCH(QString, tls);
    QFETCH(QStringList, expected);
    writeAuthFile("alice " + m_aliceHash + "\n");
    writeAuthFile("alice " + m_aliceHash + "\neve $apr1$x$y\n", QStringLiteral("badusers"));
    const QString text =
        QStringLiteral("[server]\nport = 1\n\n[app:auth]\ncall = berth.basic_auth\n") + appKeys +
        u'\n' + tls;
    const Config::Config config =
        Config::Config::fromText(text, m_dir.filePath(QStringLiteral("berth.conf")));
    Pipeline::AppRegistry registry;
    Apps::registerBasicAuthApp(registry);
    const Pipeline::AppSetup setup{config, QStringLiteral("app:auth"), QStringLiteral("auth"),
                                   nullptr};
    QVERIFY(registry.create(QStringLiteral("berth.basic_auth"), setup));
    QStringList got;
    for (const Config::Diagnostic &d : config.diagnostics())
        got.append(d.toString().replace(m_dir.path() + u'/', QString()));
    QCOMPARE(got.size(), expected.size());
    for (qsizetype i = 0; i < expected.size(); ++i)
        QVERIFY2(got[i].contains(expected[i]), qPrintable(got[i]));
}

QTEST_GUILESS_MAIN(TestBasicAuth)
void TestBasicAuth::bcryptRunsOffTheEventLoop()
{
    // While bcrypt runs, handle() has returned and the exchange waits: the event loop is free.
    auto app = makeApp(writeAuthFile("alice " + m_aliceHash + "\n"));
    Tests::FakeExchange exchange("GET", "/private", {{"Authorization", basic("alice:secret")}});
    Pipeline::Pipeline pipeline({app.get(), &m_next});
    exchange.setPipelinePosition(&pipeline, 0);
    QCOMPARE(app->handle(exchange), Pipeline::Outcome::Answered);
    QVERIFY(!exchange.started());
    QVERIFY(!m_next.reached.contains(&exchange));
    QVERIFY(Http::userOf(exchange.request()).isEmpty());
    QTRY_VERIFY(m_next.reached.contains(&exchange));
    QCOMPARE(Http::userOf(exchange.request()), u"alice"_s);
    QVERIFY(!exchange.started());
}

void TestBasicAuth::verdictForAGoneClientIsDropped()
{
    Core::StatsRegistry stats;
    Core::OffloadPool pool({1, 4}, &stats);
    auto app = makeApp(writeAuthFile("alice " + m_aliceHash + "\n"));
    app->setOffloadPool(&pool);
    auto exchange = std::make_unique<Tests::FakeExchange>(
        "GET", "/private", Tests::FakeExchange::Headers{{"Authorization", basic("alice:wrong")}});
    QCOMPARE(app->handle(*exchange), Pipeline::Outcome::Answered);
    exchange->simulateClientAbort();
    exchange.reset(); // the connection is gone with it
    QTRY_COMPARE(stats.value(Core::StatsRegistry::OffloadJobs), 1);
    QTRY_COMPARE(pool.running(), 0);
    // The verdict arrives for nobody and is dropped; the app goes on serving.
    QCoreApplication::processEvents();
    QCOMPARE(run(*app, basic("alice:secret")), Pipeline::Outcome::Pass);
}

void TestBasicAuth::fullOffloadQueueAnswers503()
{
    Core::StatsRegistry stats;
    Core::OffloadPool pool({1, 1}, &stats);
    // The only offload thread is held by a job that waits for the test to let it go.
    QSemaphore gate;
    bool released = false;
    QVERIFY(pool.submit([&gate] { gate.acquire(); }, [&released] { released = true; }));
    auto app = makeApp(writeAuthFile("alice " + m_aliceHash + "\n"));
    app->setOffloadPool(&pool);
    Tests::FakeExchange queued("GET", "/p", {{"Authorization", basic("alice:secret")}});
    Tests::FakeExchange refused("GET", "/p", {{"Authorization", basic("alice:secret")}});
    Pipeline::Pipeline pipeline({app.get(), &m_next});
    queued.setPipelinePosition(&pipeline, 0);
    refused.setPipelinePosition(&pipeline, 0);
    QTRY_COMPARE(pool.running(), 1); // the blocker has the thread, the queue is empty
    QCOMPARE(app->handle(queued), Pipeline::Outcome::Answered);
    QCOMPARE(pool.queued(), 1);
    QCOMPARE(app->handle(refused), Pipeline::Outcome::Answered);
    QCOMPARE(refused.status(), 503);
    QCOMPARE(stats.value(Core::StatsRegistry::OffloadRejected), 1);
    QVERIFY(!queued.started());
    gate.release();
    QTRY_VERIFY(released);
    QTRY_VERIFY(m_next.reached.contains(&queued));
    QCOMPARE(stats.value(Core::StatsRegistry::OffloadQueued), 0);
}

#include "tst_basicauth.moc"
