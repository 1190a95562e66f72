// Berth::Client::AdminClient (common/adminclient/) against a real berthd started by the test:
// results as signals, the error shape, both event streams and their reconnection; SseParser
// and the back-off schedule on their own.
#include "adminclient/adminclient.h"
#include "adminclient/sseparser.h"
#include "berthdundertest.h"

#include <QSignalSpy>
#include <QTcpSocket>
#include <QTest>

#include <csignal>
#include <memory>
#include <unistd.h>

using namespace Berth::Client;
using namespace Berth::Tests;
using namespace Qt::StringLiterals;

namespace {

const QString AdminToken = u"admintoken-0123456789abcdef"_s;
const QString ReadToken = u"readtoken-0123456789abcdef"_s;

bool anyLine(const QSignalSpy &lines, const QString &text)
{
    for (const auto &l : lines) {
        if (l.at(1).toString().contains(text))
            return true;
    }
    return false;
}

// The stream dropped at least once and connected again after it.
bool reconnected(const QSignalSpy &state)
{
    int drops = 0;
    int connects = 0;
    for (const auto &s : state)
        (s.at(1).toBool() ? connects : drops) += 1;
    return drops >= 1 && connects >= 2;
}

} // namespace

class tst_AdminClient : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void sseParser_data();
    void sseParser();
    void sseParserKeepsTheLastIdAcrossPieces();
    void backoffDoublesUpToTheCap();
    void infoChildrenStats();
    void errorsArriveWithTheApiShape();
    void configReadValidateApply();
    void statsStreamTicks();
    void operationsListsAndRefusals();
    void logFollowSeesNewLinesAndReconnects();
    void socketPathOfAServerUrl();
    void unixSocketServer();

private:
    void request(const QByteArray &target);

    std::unique_ptr<BerthdUnderTest> m_berthd;
    quint16 m_port = 0;
    quint16 m_adminPort = 0;
    QString m_conf;
};

void tst_AdminClient::initTestCase()
{
    m_berthd = std::make_unique<BerthdUnderTest>(TestServerConfig{
        .name = u"client-test"_s,
        .tokens = AdminToken + u" admin tester\n"_s + ReadToken + u" read\n"_s,
    });
    QString error;
    QVERIFY2(m_berthd->start(QStringLiteral(BERTHD_PATH), &error), qPrintable(error));
    m_port = m_berthd->port();
    m_adminPort = m_berthd->adminPort();
    m_conf = m_berthd->configPath();
}

void tst_AdminClient::cleanupTestCase()
{
    m_berthd.reset();
}

void tst_AdminClient::request(const QByteArray &target)
{
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, m_port);
    QVERIFY(socket.waitForConnected(2000));
    socket.write("GET " + target + " HTTP/1.0\r\nHost: a\r\n\r\n");
    while (socket.waitForReadyRead(2000))
        socket.readAll();
}

void tst_AdminClient::sseParser_data()
{
    QTest::addColumn<QList<QByteArray>>("pieces");
    QTest::addColumn<QStringList>("expected"); // "event|id|data"
    QTest::newRow("one event") << QList<QByteArray>{"id: 5\nevent: stats\ndata: {}\n\n"}
                               << QStringList{u"stats|5|{}"_s};
    QTest::newRow("split anywhere")
        << QList<QByteArray>{"da", "ta: a\r", "\ndata:b\r\n", "\r", "\n"}
        << QStringList{u"message||a\nb"_s};
    QTest::newRow("comments and no data")
        << QList<QByteArray>{": hi\n\nid: 3\n\ndata: x\n\n"} << QStringList{u"message||x"_s};
    QTest::newRow("unfinished") << QList<QByteArray>{"data: x\n"} << QStringList();
}

void tst_AdminClient::sseParser()
{
    QFETCH(QList<QByteArray>, pieces);
    QFETCH(QStringList, expected);
    SseParser parser;
    QStringList got;
    for (const QByteArray &piece : pieces) {
        for (const SseEvent &e : parser.feed(piece))
            got.append(e.event + u'|' + e.id + u'|' + e.data);
    }
    QCOMPARE(got, expected);
}

void tst_AdminClient::sseParserKeepsTheLastIdAcrossPieces()
{
    SseParser parser;
    parser.feed("id: 10\ndata: a\n\nid: 20\n");
    QCOMPARE(parser.lastEventId(), u"10"_s);
    parser.feed("data: b\n\n");
    QCOMPARE(parser.lastEventId(), u"20"_s);
    parser.reset();
    QCOMPARE(parser.lastEventId(), u"20"_s); // a reconnect resumes from it
}

void tst_AdminClient::backoffDoublesUpToTheCap()
{
    QCOMPARE(AdminClient::backoffDelay(1, 250, 10'000), 250);
    QCOMPARE(AdminClient::backoffDelay(2, 250, 10'000), 500);
    QCOMPARE(AdminClient::backoffDelay(4, 250, 10'000), 2000);
    QCOMPARE(AdminClient::backoffDelay(20, 250, 10'000), 10'000);
}

void tst_AdminClient::operationsListsAndRefusals()
{
    AdminClient client(QUrl(u"http://127.0.0.1:%1"_s.arg(m_adminPort)), AdminToken);
    QSignalSpy logs(&client, &AdminConnection::logsListed);
    QSignalSpy history(&client, &AdminConnection::configHistoryReceived);
    QSignalSpy groups(&client, &AdminConnection::groupsReceived);
    QSignalSpy cron(&client, &AdminConnection::cronReceived);
    QSignalSpy failed(&client, &AdminConnection::failed);
    client.listLogs();
    client.fetchConfigHistory();
    client.fetchGroups();
    client.fetchCron();
    client.fetchMail(); // no [mailer] spool_dir: 404
    client.runCronJob(u"/no/such.conf:3"_s);
    client.daemonAction(u"nosuch"_s, u"restart"_s);
    QTRY_VERIFY_WITH_TIMEOUT(logs.size() == 1 && history.size() == 1 && groups.size() == 1 &&
                                 cron.size() == 1 && failed.size() == 3,
                             10'000);
    QStringList names;
    for (const QJsonValue &l : logs.front().front().toJsonArray())
        names.append(l.toObject().value(u"name"_s).toString());
    QVERIFY(names.contains(u"request"_s));
    QVERIFY(names.contains(u"server"_s));
    QCOMPARE(groups.front().front().toJsonArray().size(), 0); // no [@group] here
    QCOMPARE(cron.front().at(0).toJsonArray().size(), 0);     // nor [crontab:line]
    QVERIFY(!cron.front().at(1).toString().isEmpty());        // the zone times would be in
    QStringList operations;
    for (const auto &f : failed) {
        operations.append(f.at(0).toString());
        QVERIFY(f.at(1).value<AdminError>().status >= 400); // unknown job, unknown daemon
    }
    operations.sort();
    QCOMPARE(operations, (QStringList{u"cron"_s, u"daemon"_s, u"mailqueue"_s}));
}

void tst_AdminClient::infoChildrenStats()
{
    AdminClient client(QUrl(u"http://127.0.0.1:%1"_s.arg(m_adminPort)), ReadToken);
    QSignalSpy info(&client, &AdminConnection::infoReceived);
    QSignalSpy children(&client, &AdminConnection::childrenReceived);
    QSignalSpy stats(&client, &AdminConnection::statsReceived);
    client.fetchInfo();
    client.fetchChildren();
    client.fetchStats();
    QTRY_COMPARE_WITH_TIMEOUT(info.size() + children.size() + stats.size(), 3, 10'000);
    const QJsonObject i = info.front().front().toJsonObject();
    QCOMPARE(i.value(u"name"_s).toString(), u"client-test"_s);
    QCOMPARE(i.value(u"pid"_s).toInteger(), m_berthd->pid());
    auto runningKinds = [&] {
        QStringList kinds;
        for (const QJsonValue &c : children.back().front().toJsonArray()) {
            if (c.toObject().value(u"state"_s).toString() == u"running"_s)
                kinds.append(c.toObject().value(u"kind"_s).toString());
        }
        kinds.sort();
        return kinds;
    };
    // The server answers once its first child is ready; the other may still be starting on a
    // loaded machine, so ask again until both report running.
    for (int attempt = 0; attempt < 50 && runningKinds().size() < 2; ++attempt) {
        const qsizetype seen = children.size();
        QTest::qWait(100);
        client.fetchChildren();
        QTRY_VERIFY_WITH_TIMEOUT(children.size() > seen, 10'000);
    }
    QCOMPARE(runningKinds(), (QStringList{u"admin"_s, u"http"_s}));
    QVERIFY(stats.front().front().toJsonObject().contains(u"latency_p99_ms"_s));
}

void tst_AdminClient::errorsArriveWithTheApiShape()
{
    AdminClient reader(QUrl(u"http://127.0.0.1:%1"_s.arg(m_adminPort)), ReadToken);
    QSignalSpy failed(&reader, &AdminConnection::failed);
    reader.reload();
    QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 10'000);
    QCOMPARE(failed.front().at(0).toString(), u"reload"_s);
    const AdminError error = failed.front().at(1).value<AdminError>();
    QCOMPARE(error.status, 403);
    QCOMPARE(error.code, u"forbidden"_s);
    QVERIFY(error.message.contains(u"admin token"_s));

    AdminClient nowhere(QUrl(u"http://127.0.0.1:%1"_s.arg(freePort())), ReadToken);
    QSignalSpy unreachable(&nowhere, &AdminConnection::failed);
    nowhere.fetchInfo();
    QTRY_COMPARE_WITH_TIMEOUT(unreachable.size(), 1, 10'000);
    QCOMPARE(unreachable.front().at(1).value<AdminError>().status, 0);
}

void tst_AdminClient::configReadValidateApply()
{
    AdminClient client(QUrl(u"http://127.0.0.1:%1"_s.arg(m_adminPort)), AdminToken);
    QSignalSpy config(&client, &AdminConnection::configReceived);
    client.fetchConfig();
    QTRY_COMPARE_WITH_TIMEOUT(config.size(), 1, 10'000);
    auto files = config.front().at(0).value<QList<ConfigFile>>();
    const QString hash = config.front().at(1).toString();
    QCOMPARE(files.size(), 1);
    QCOMPARE(files.front().path, m_conf);

    QSignalSpy validated(&client, &AdminConnection::validated);
    QList<ConfigFile> bad = files;
    bad.front().text += u"\n[limits]\nheader_timeout = 3x\n"_s;
    client.validateConfig(bad);
    QTRY_COMPARE_WITH_TIMEOUT(validated.size(), 1, 10'000);
    QVERIFY(!validated.front().at(0).toBool());
    const QJsonObject first = validated.front().at(1).toJsonArray().first().toObject();
    QCOMPARE(first.value(u"file"_s).toString(), m_conf);
    QCOMPARE(first.value(u"line"_s).toInt(), int(bad.front().text.count(u'\n')) - 0);

    QSignalSpy applied(&client, &AdminConnection::applied);
    QSignalSpy failed(&client, &AdminConnection::failed);
    QList<ConfigFile> good = files;
    good.front().text += u"\n# applied by tst_adminclient\n"_s;
    client.applyConfig(good, u"0000"_s); // stale hash: 412
    QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 10'000);
    QCOMPARE(failed.front().at(1).value<AdminError>().status, 412);
    client.applyConfig(good, hash);
    QTRY_COMPARE_WITH_TIMEOUT(applied.size(), 1, 30'000);
    QCOMPARE(applied.front().front().toJsonObject().value(u"result"_s).toString(), u"ready"_s);
    QFile file(m_conf);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(file.readAll().contains("# applied by tst_adminclient"));
}

void tst_AdminClient::statsStreamTicks()
{
    AdminClient client(QUrl(u"http://127.0.0.1:%1"_s.arg(m_adminPort)), ReadToken);
    QSignalSpy events(&client, &AdminConnection::statsEvent);
    QSignalSpy state(&client, &AdminConnection::streamState);
    client.startStatsStream(200);
    QTRY_VERIFY_WITH_TIMEOUT(events.size() >= 3, 10'000);
    QVERIFY(!state.isEmpty() && state.front().at(1).toBool());
    QVERIFY(events.last().front().toJsonObject().contains(u"rates"_s));
    client.stopStatsStream();
}

void tst_AdminClient::logFollowSeesNewLinesAndReconnects()
{
    AdminClient client(QUrl(u"http://127.0.0.1:%1"_s.arg(m_adminPort)), ReadToken);
    client.setBackoff(50, 200);
    QSignalSpy lines(&client, &AdminConnection::logLine);
    QSignalSpy state(&client, &AdminConnection::streamState);
    client.followLog(u"request"_s);
    QTRY_VERIFY_WITH_TIMEOUT(!state.isEmpty(), 10'000);
    request("/hb?client-one");
    QTRY_VERIFY_WITH_TIMEOUT(anyLine(lines, u"client-one"_s), 10'000);
    QVERIFY(lines.last().at(2).toLongLong() > 0);
    // The admin child is restarted (a reload keeps it): the stream drops, reconnects with
    // back-off and resumes at its Last-Event-ID.
    QSignalSpy children(&client, &AdminConnection::childrenReceived);
    client.fetchChildren();
    QTRY_COMPARE_WITH_TIMEOUT(children.size(), 1, 10'000);
    qint64 adminPid = 0;
    for (const QJsonValue &c : children.front().front().toJsonArray()) {
        const QJsonObject child = c.toObject();
        if (child.value(u"kind"_s).toString() == u"admin"_s &&
            child.value(u"state"_s).toString() == u"running"_s)
            adminPid = child.value(u"pid"_s).toInteger();
    }
    QVERIFY(adminPid > 0);
    QCOMPARE(::kill(pid_t(adminPid), SIGTERM), 0);
    QTRY_VERIFY_WITH_TIMEOUT(reconnected(state), 15'000);
    request("/hb?client-two");
    QTRY_VERIFY_WITH_TIMEOUT(anyLine(lines, u"client-two"_s), 10'000);
    client.stopLogFollow();
}

void tst_AdminClient::socketPathOfAServerUrl()
{
    QCOMPARE(AdminClient::socketPathOf(QUrl(u"unix:/run/berth/admin.sock"_s)),
             u"/run/berth/admin.sock"_s);
    QCOMPARE(AdminClient::socketPathOf(QUrl(u"/tmp/a.sock"_s)), u"/tmp/a.sock"_s);
    QCOMPARE(AdminClient::socketPathOf(QUrl(u"http://127.0.0.1:8099"_s)), QString());
}

// The same calls and both streams against a second server whose admin API listens only on a
// unix socket (LocalHttpReply instead of QNetworkAccessManager).
void tst_AdminClient::unixSocketServer()
{
    BerthdUnderTest berthd(TestServerConfig{
        .name = u"unix-test"_s,
        .adminOnUnixSocket = true,
        .tokens = AdminToken + u" admin tester\n"_s + ReadToken + u" read\n"_s,
    });
    QString error;
    QVERIFY2(berthd.start(QStringLiteral(BERTHD_PATH), &error), qPrintable(error));

    AdminClient client(QUrl(berthd.adminUrl()), AdminToken);
    client.setBackoff(50, 200);
    QSignalSpy info(&client, &AdminConnection::infoReceived);
    QSignalSpy children(&client, &AdminConnection::childrenReceived);
    QSignalSpy config(&client, &AdminConnection::configReceived);
    QSignalSpy validated(&client, &AdminConnection::validated);
    QSignalSpy failed(&client, &AdminConnection::failed);
    client.fetchInfo();
    client.fetchChildren();
    client.fetchConfig();
    client.runCronJob(u"/no/such.conf:3"_s);
    QTRY_VERIFY_WITH_TIMEOUT(info.size() == 1 && children.size() == 1 && config.size() == 1 &&
                                 failed.size() == 1,
                             10'000);
    QCOMPARE(info.front().front().toJsonObject().value(u"name"_s).toString(), u"unix-test"_s);
    QVERIFY(!children.front().front().toJsonArray().isEmpty());
    auto files = config.front().at(0).value<QList<ConfigFile>>();
    QCOMPARE(files.size(), 1);
    QVERIFY(files.front().text.contains(u"unix = "_s));
    QCOMPARE(failed.front().at(0).toString(), u"cron"_s);
    const AdminError notFound = failed.front().at(1).value<AdminError>();
    QVERIFY(notFound.status >= 400 && !notFound.code.isEmpty()); // the API's error shape

    // A body (POST) and its JSON answer.
    files.front().text += u"\n[limits]\nheader_timeout = 3x\n"_s;
    client.validateConfig(files);
    QTRY_COMPARE_WITH_TIMEOUT(validated.size(), 1, 10'000);
    QVERIFY(!validated.front().at(0).toBool());
    QVERIFY(!validated.front().at(1).toJsonArray().isEmpty());

    // A read token is refused an admin call, with the status and the code.
    AdminClient reader(QUrl(berthd.adminSocket()), ReadToken);
    QSignalSpy refused(&reader, &AdminConnection::failed);
    reader.reload();
    QTRY_COMPARE_WITH_TIMEOUT(refused.size(), 1, 10'000);
    QCOMPARE(refused.front().at(1).value<AdminError>().status, 403);
    QCOMPARE(refused.front().at(1).value<AdminError>().code, u"forbidden"_s);

    // Both streams; the log follow survives a restart of the admin child.
    QSignalSpy events(&client, &AdminConnection::statsEvent);
    QSignalSpy lines(&client, &AdminConnection::logLine);
    QSignalSpy state(&client, &AdminConnection::streamState);
    client.startStatsStream(200);
    QTRY_VERIFY_WITH_TIMEOUT(events.size() >= 2, 10'000);
    QVERIFY(events.last().front().toJsonObject().contains(u"rates"_s));
    client.stopStatsStream();
    client.followLog(u"request"_s);
    QTRY_VERIFY_WITH_TIMEOUT(std::any_of(state.cbegin(), state.cend(),
                                         [](const auto &s) {
                                             return s.at(0).toString() == u"log:request"_s &&
                                                    s.at(1).toBool();
                                         }),
                             10'000);
    auto get = [port = berthd.port()](const QByteArray &target) {
        QTcpSocket s;
        s.connectToHost(QHostAddress::LocalHost, port);
        if (!s.waitForConnected(2000))
            return;
        s.write("GET " + target + " HTTP/1.0\r\nHost: a\r\n\r\n");
        while (s.waitForReadyRead(2000))
            s.readAll();
    };
    get("/hb?unix-one");
    QTRY_VERIFY_WITH_TIMEOUT(anyLine(lines, u"unix-one"_s), 10'000);
    qint64 adminPid = 0;
    for (const QJsonValue &c : children.front().front().toJsonArray()) {
        const QJsonObject child = c.toObject();
        if (child.value(u"kind"_s).toString() == u"admin"_s &&
            child.value(u"state"_s).toString() == u"running"_s)
            adminPid = child.value(u"pid"_s).toInteger();
    }
    QVERIFY(adminPid > 0);
    state.clear();
    QCOMPARE(::kill(pid_t(adminPid), SIGTERM), 0);
    // Dropped, then connected again (after the drop: the spy was cleared before the kill).
    QTRY_VERIFY_WITH_TIMEOUT(
        state.size() >= 2 && !state.front().at(1).toBool() && state.back().at(1).toBool(), 15'000);
    get("/hb?unix-two");
    QTRY_VERIFY_WITH_TIMEOUT(anyLine(lines, u"unix-two"_s), 10'000);
    client.stopLogFollow();

    AdminClient nowhere(QUrl(u"unix:"_s + berthd.dir() + u"/none.sock"_s), ReadToken);
    QSignalSpy unreachable(&nowhere, &AdminConnection::failed);
    nowhere.fetchInfo();
    QTRY_COMPARE_WITH_TIMEOUT(unreachable.size(), 1, 10'000);
    QCOMPARE(unreachable.front().at(1).value<AdminError>().status, 0);
}

QTEST_GUILESS_MAIN(tst_AdminClient)
#include "tst_adminclient.moc"
