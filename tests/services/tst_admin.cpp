// The admin API's pieces that need no server: the token file, the failure limiter (with an
// injected clock), the handler table's routing, and docs/admin-api.md generated from the table.
#include "services/admin/adminapi.h"
#include "services/admin/adminhandlers.h"
#include "services/admin/admintokens.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

using namespace Berth::Admin;
using namespace Qt::StringLiterals;

namespace {
const QString DocsPath = QStringLiteral(BERTH_TEST_DATA "/../../docs/admin-api.md");
}

class tst_Admin : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void tokensParse();
    void tokensRefuseMalformedLines_data();
    void tokensRefuseMalformedLines();
    void missingTokenFileIsCreatedOwnerOnly();
    void limiterBlocksWithinAMinuteOnly();
    void routing_data();
    void routing();
    void errorShape();
    void openApiCoversTheTable();
    void docsAreCurrent();
};

void tst_Admin::tokensParse()
{
    TokenStore store;
    QString error;
    QVERIFY(store.parse("# comment\n\nadmintoken-0123456789 admin ops team\n"
                        "readtoken-0123456789ab read\n",
                        &error));
    QCOMPARE(store.tokens().size(), 2);
    const Token *admin = store.find("admintoken-0123456789");
    QVERIFY(admin);
    QCOMPARE(admin->scope, Scope::Admin);
    QCOMPARE(admin->label, u"ops team"_s);
    const Token *read = store.find("readtoken-0123456789ab");
    QVERIFY(read);
    QCOMPARE(read->scope, Scope::Read);
    QCOMPARE(read->label, u"line 4"_s);
    QVERIFY(!store.find("readtoken-0123456789a"));
    QVERIFY(!store.find(""));
    // The secret itself is not kept: only its digest.
    QVERIFY(!admin->digest.contains("admintoken"));
}

void tst_Admin::tokensRefuseMalformedLines_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("message");
    QTest::newRow("no scope") << QByteArray("tok-0123456789abcdef\n")
                              << u"line 1: expected TOKEN read|admin [LABEL]"_s;
    QTest::newRow("bad scope") << QByteArray("#\ntok-0123456789abcdef write\n")
                               << u"line 2: expected TOKEN read|admin [LABEL]"_s;
    QTest::newRow("short") << QByteArray("short admin\n")
                           << u"line 1: a token has at least 16 characters"_s;
}

void tst_Admin::tokensRefuseMalformedLines()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, message);
    TokenStore store;
    QString error;
    QVERIFY(!store.parse(text, &error));
    QCOMPARE(error, message);
}

void tst_Admin::missingTokenFileIsCreatedOwnerOnly()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(u"admin.tokens"_s);
    TokenStore store;
    bool created = false;
    QString error;
    QVERIFY2(store.load(path, &created, &error), qPrintable(error));
    QVERIFY(created);
    struct stat st
    {};
    QCOMPARE(::stat(QFile::encodeName(path).constData(), &st), 0);
    QCOMPARE(int(st.st_mode & 0777), 0600);
    QCOMPARE(store.tokens().size(), 1);
    QCOMPARE(store.tokens().front().scope, Scope::Admin);
    // A second load reads the same token, and creates nothing.
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray token = file.readAll().split('\n').value(1).split(' ').value(0);
    TokenStore again;
    QVERIFY(again.load(path, &created, &error));
    QVERIFY(!created);
    QVERIFY(again.find(token));
    QVERIFY(token.size() >= 32);
}

void tst_Admin::limiterBlocksWithinAMinuteOnly()
{
    qint64 now = 1'000'000;
    FailureLimiter limiter(3, [&now] { return now; });
    const QString a = u"10.0.0.1"_s;
    QVERIFY(!limiter.blocked(a));
    for (int i = 0; i < 3; ++i) {
        limiter.recordFailure(a);
        now += 1000;
    }
    QVERIFY(limiter.blocked(a));
    QVERIFY(!limiter.blocked(u"10.0.0.2"_s));
    now += 57'000; // the first failure is 60 s old now
    QVERIFY(!limiter.blocked(a));
}

void tst_Admin::routing_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("path");
    QTest::addColumn<int>("endpoint"); // -1: none
    QTest::addColumn<bool>("known");
    QTest::addColumn<QStringList>("params");
    QTest::newRow("info") << QByteArray("GET") << u"/info"_s << int(Endpoint::Info) << true
                          << QStringList();
    QTest::newRow("history beats a parameter")
        << QByteArray("GET") << u"/config/history"_s << int(Endpoint::ConfigHistory) << true
        << QStringList();
    QTest::newRow("log name") << QByteArray("GET") << u"/logs/request"_s << int(Endpoint::Log)
                              << true << QStringList{u"request"_s};
    QTest::newRow("put config") << QByteArray("PUT") << u"/config"_s << int(Endpoint::ConfigPut)
                                << true << QStringList();
    QTest::newRow("daemon") << QByteArray("POST") << u"/daemons/web/restart"_s
                            << int(Endpoint::DaemonAction) << true
                            << QStringList{u"web"_s, u"restart"_s};
    // A cron job id is a path: "{job+}" takes every segment up to "/run".
    QTest::newRow("cron job with slashes")
        << QByteArray("POST") << u"/cron/etc/berth/berth.conf:14/run"_s << int(Endpoint::CronRun)
        << true << QStringList{u"etc/berth/berth.conf:14"_s};
    QTest::newRow("cron job one segment")
        << QByteArray("POST") << u"/cron/berth.conf:3/run"_s << int(Endpoint::CronRun) << true
        << QStringList{u"berth.conf:3"_s};
    QTest::newRow("cron without job")
        << QByteArray("POST") << u"/cron/run"_s << -1 << false << QStringList();
    QTest::newRow("drain unix member")
        << QByteArray("POST") << u"/groups/users/members/unix:/run/u.sock/drain"_s
        << int(Endpoint::GroupDrain) << true << QStringList{u"users"_s, u"unix:/run/u.sock"_s};
    QTest::newRow("group members")
        << QByteArray("PUT") << u"/groups/users/members"_s << int(Endpoint::GroupMembers) << true
        << QStringList{u"users"_s};
    QTest::newRow("wrong method") << QByteArray("DELETE") << u"/config"_s << -1 << true
                                  << QStringList();
    QTest::newRow("unknown") << QByteArray("GET") << u"/nope"_s << -1 << false << QStringList();
    QTest::newRow("empty segment")
        << QByteArray("GET") << u"/logs/"_s << -1 << false << QStringList();
}

void tst_Admin::routing()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, path);
    QFETCH(int, endpoint);
    QFETCH(bool, known);
    QFETCH(QStringList, params);
    QStringList found;
    bool pathKnown = false;
    const HandlerSpec *spec = findHandler(method, path, &found, &pathKnown);
    QCOMPARE(pathKnown, known);
    QCOMPARE(spec ? int(spec->endpoint) : -1, endpoint);
    if (spec)
        QCOMPARE(found, params);
}

void tst_Admin::errorShape()
{
    const QJsonObject body =
        QJsonDocument::fromJson(AdminApi::errorBody(u"conflict"_s, u"changed"_s)).object();
    const QJsonObject error = body.value(u"error"_s).toObject();
    QCOMPARE(body.keys(), QStringList{u"error"_s});
    QCOMPARE(error.keys(), (QStringList{u"code"_s, u"details"_s, u"message"_s}));
    QCOMPARE(error.value(u"code"_s).toString(), u"conflict"_s);
}

void tst_Admin::openApiCoversTheTable()
{
    const QJsonObject spec = QJsonDocument::fromJson(openApiJson()).object();
    const QJsonObject paths = spec.value(u"paths"_s).toObject();
    int operations = 0;
    for (const QString &path : paths.keys())
        operations += int(paths.value(path).toObject().size());
    QCOMPARE(operations, int(handlerSpecs().size()));
    const QJsonObject put = paths.value(u"/api/v1/config"_s).toObject().value(u"put"_s).toObject();
    QCOMPARE(put.value(u"x-berth-scope"_s).toString(), u"admin"_s);
    // A greedy "{job+}" is an ordinary path parameter to OpenAPI.
    QVERIFY(paths.contains(u"/api/v1/cron/{job}/run"_s));
    QVERIFY(put.value(u"x-berth-mutates"_s).toBool());
    // Every mutating call needs the admin scope.
    for (const HandlerSpec &h : handlerSpecs())
        QVERIFY2(!h.mutates || h.scope == Scope::Admin, qPrintable(h.path));
}

void tst_Admin::docsAreCurrent()
{
    // docs/admin-api.md is generated from the handler table; BERTH_UPDATE_DOCS=1 rewrites it.
    const QString generated = adminApiMarkdown();
    QFile file(DocsPath);
    const QString current =
        file.open(QIODevice::ReadOnly) ? QString::fromUtf8(file.readAll()) : QString();
    file.close();
    if (current != generated && qEnvironmentVariableIntValue("BERTH_UPDATE_DOCS") == 1) {
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        file.write(generated.toUtf8());
        return;
    }
    QVERIFY2(current == generated,
             "docs/admin-api.md is out of date: run tst_admin with BERTH_UPDATE_DOCS=1");
}

QTEST_GUILESS_MAIN(tst_Admin)
#include "tst_admin.moc"
