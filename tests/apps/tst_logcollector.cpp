// berth.log_collector: urlencoded parsing, the JSON and text forms of a record, and the app
// (POST and GET as logging.handlers.HTTPHandler sends them, the size cap, other methods).
#include "apps/logcollector/logcollectorapp.h"
#include "apps/logcollector/logrecord.h"
#include "fakeexchange.h"
#include "log/logsink.h"
#include "pipeline/appregistry.h"

#include <config/config.h>

#include <QDateTime>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

using namespace Berth;
using namespace Qt::StringLiterals;
using Apps::LogRecordFields;
using FakeHeaders = Tests::FakeExchange::Headers;

namespace {

// What Python 3.11's HTTPHandler posts for logger.warning("disk %s at %d%%", "sda", 93)
// (urllib.parse.urlencode(record.__dict__)).
const QByteArray WarningRecord =
    "name=myapp.db&msg=disk+%25s+at+%25d%25%25&args=%28%27sda%27%2C+93%29&levelname=WARNING&"
    "levelno=30&pathname=%2Fsrv%2Fapp%2Fdb.py&filename=db.py&module=db&exc_info=None&"
    "exc_text=None&stack_info=None&lineno=42&funcName=check&created=1795293419.156068&"
    "msecs=156.0&relativeCreated=21.39115333557129&thread=140025627507584&"
    "threadName=MainThread&processName=MainProcess&process=3466";

// An exception record after a Formatter ran (exc_text and message filled in).
const QByteArray ErrorRecord =
    "name=x&msg=boom%0Asecond+line&args=%28%29&levelname=ERROR&levelno=40&pathname=%2Fp.py&"
    "filename=p.py&module=p&exc_info=%28%3Cclass+%27ZeroDivisionError%27%3E%2C+"
    "ZeroDivisionError%28%27division+by+zero%27%29%2C+%3Ctraceback+object+at+0x7f5a40fe9300%3E"
    "%29&exc_text=Traceback+%28most+recent+call+last%29%3A%0A++File+%22%3Cstring%3E%22%2C+line+6"
    "%2C+in+%3Cmodule%3E%0AZeroDivisionError%3A+division+by+zero&stack_info=None&lineno=7&"
    "funcName=None&created=1795293419.1562822&msecs=156.0&relativeCreated=21.605253219604492&"
    "thread=140025627507584&threadName=MainThread&processName=MainProcess&process=3466&"
    "message=boom%0Asecond+line";

QString localTime(double created)
{
    return QDateTime::fromMSecsSinceEpoch(qint64(created * 1000))
        .toString(u"yyyy-MM-dd HH:mm:ss,zzz"_s);
}

} // namespace

class TestLogCollector : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void parseUrlEncoded_data();
    void parseUrlEncoded();
    void jsonShape();
    void jsonValues_data();
    void jsonValues();
    void text_data();
    void text();
    void requests_data();
    void requests();
    void recordsAppendToBothFiles();
    void sinkSharedPerFile();
    void buildingCreatesNothingStartOpens();
    void missingDirectoryIsReportedWithoutCreatingIt();

private:
    std::unique_ptr<Apps::LogCollectorApp> makeApp(const QString &name,
                                                   qint64 maxBytes = 64 * 1024);
    QList<QByteArray> lines(const QString &path);

    QTemporaryDir m_dir;
};

void TestLogCollector::initTestCase()
{
    QVERIFY(m_dir.isValid());
}

std::unique_ptr<Apps::LogCollectorApp> TestLogCollector::makeApp(const QString &name,
                                                                 qint64 maxBytes)
{
    auto app = std::make_unique<Apps::LogCollectorApp>();
    app->setName(u"collector"_s);
    QString error;
    if (!app->open({m_dir.filePath(name), maxBytes}, &error))
        qWarning("open: %s", qPrintable(error));
    return app;
}

QList<QByteArray> TestLogCollector::lines(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    QList<QByteArray> out = file.readAll().split('\n');
    if (!out.isEmpty() && out.last().isEmpty())
        out.removeLast();
    return out;
}

void TestLogCollector::parseUrlEncoded_data()
{
    QTest::addColumn<QByteArray>("data");
    QTest::addColumn<LogRecordFields>("expected");
    QTest::newRow("two") << QByteArray("a=1&b=2")
                         << LogRecordFields{{u"a"_s, u"1"_s}, {u"b"_s, u"2"_s}};
    QTest::newRow("plus-and-percent") << QByteArray("msg=hello+world%21+100%25")
                                      << LogRecordFields{{u"msg"_s, u"hello world! 100%"_s}};
    QTest::newRow("encoded-plus") << QByteArray("a=1%2B1") << LogRecordFields{{u"a"_s, u"1+1"_s}};
    QTest::newRow("utf8") << QByteArray("name=j%C3%BCrgen")
                          << LogRecordFields{{u"name"_s, QString::fromUtf8("jürgen")}};
    QTest::newRow("repeated-key-last-wins")
        << QByteArray("a=1&b=2&a=3") << LogRecordFields{{u"a"_s, u"3"_s}, {u"b"_s, u"2"_s}};
    QTest::newRow("empty-pieces") << QByteArray("&&a=1&&") << LogRecordFields{{u"a"_s, u"1"_s}};
    QTest::newRow("no-value") << QByteArray("flag&a=")
                              << LogRecordFields{{u"flag"_s, QString()}, {u"a"_s, QString()}};
    QTest::newRow("empty-name-dropped")
        << QByteArray("=x&a=1") << LogRecordFields{{u"a"_s, u"1"_s}};
    QTest::newRow("bad-escape-kept")
        << QByteArray("a=%zz%4") << LogRecordFields{{u"a"_s, u"%zz%4"_s}};
    QTest::newRow("escape-at-end") << QByteArray("a=x%41") << LogRecordFields{{u"a"_s, u"xA"_s}};
    QTest::newRow("equals-in-value") << QByteArray("a=b=c") << LogRecordFields{{u"a"_s, u"b=c"_s}};
    QTest::newRow("newline") << QByteArray("m=a%0Ab") << LogRecordFields{{u"m"_s, u"a\nb"_s}};
    QTest::newRow("empty") << QByteArray() << LogRecordFields{};
}

void TestLogCollector::parseUrlEncoded()
{
    QFETCH(QByteArray, data);
    QFETCH(LogRecordFields, expected);
    QCOMPARE(Apps::parseUrlEncoded(data), expected);
}

void TestLogCollector::jsonShape()
{
    const QByteArray json = Apps::logRecordJson(Apps::parseUrlEncoded(WarningRecord));
    QVERIFY(!json.contains('\n'));
    // Keys in the order HTTPHandler sent them.
    QVERIFY2(json.startsWith("{\"name\":\"myapp.db\",\"msg\":\"disk %s at %d%%\",\"args\":"
                             "\"('sda', 93)\",\"levelname\":\"WARNING\",\"levelno\":30,"),
             json.constData());
    QJsonParseError error;
    const QJsonObject o = QJsonDocument::fromJson(json, &error).object();
    QCOMPARE(error.error, QJsonParseError::NoError);
    QCOMPARE(o.size(), 20);
    QCOMPARE(o.value(u"created"_s).toDouble(), 1795293419.156068);
    QCOMPARE(o.value(u"lineno"_s).toInteger(), 42);
    QCOMPARE(o.value(u"process"_s).toInteger(), 3466);
    QCOMPARE(o.value(u"thread"_s).toInteger(), Q_INT64_C(140025627507584));
    QVERIFY(json.contains("\"thread\":140025627507584")); // exact, not 1.4e14
    QCOMPARE(o.value(u"msecs"_s).toDouble(), 156.0);
    QVERIFY(o.value(u"exc_info"_s).isNull());
    QVERIFY(o.value(u"exc_text"_s).isNull());
    QVERIFY(o.value(u"stack_info"_s).isNull());
    QCOMPARE(o.value(u"pathname"_s).toString(), u"/srv/app/db.py"_s);
    QCOMPARE(o.value(u"threadName"_s).toString(), u"MainThread"_s);
}

void TestLogCollector::jsonValues_data()
{
    QTest::addColumn<QByteArray>("data");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("int") << QByteArray("lineno=7") << QByteArray("{\"lineno\":7}");
    QTest::newRow("int-not-numeric")
        << QByteArray("lineno=seven") << QByteArray("{\"lineno\":\"seven\"}");
    QTest::newRow("int-none") << QByteArray("process=None") << QByteArray("{\"process\":null}");
    QTest::newRow("float") << QByteArray("created=1.5") << QByteArray("{\"created\":1.5}");
    QTest::newRow("float-nan-kept-as-text")
        << QByteArray("created=nan") << QByteArray("{\"created\":\"nan\"}");
    QTest::newRow("none-only-for-known-fields")
        << QByteArray("msg=None") << QByteArray("{\"msg\":\"None\"}");
    QTest::newRow("exc-text") << QByteArray("exc_text=Traceback%0A++x")
                              << QByteArray("{\"exc_text\":\"Traceback\\n  x\"}");
    QTest::newRow("escaping") << QByteArray("msg=%22q%22+%5C+%01")
                              << QByteArray("{\"msg\":\"\\\"q\\\" \\\\ \\u0001\"}");
    QTest::newRow("extra-fields-kept")
        << QByteArray("custom=1&user_id=42") << QByteArray("{\"custom\":\"1\",\"user_id\":\"42\"}");
}

void TestLogCollector::jsonValues()
{
    QFETCH(QByteArray, data);
    QFETCH(QByteArray, expected);
    QCOMPARE(Apps::logRecordJson(Apps::parseUrlEncoded(data)), expected);
}

void TestLogCollector::text_data()
{
    QTest::addColumn<QByteArray>("data");
    QTest::addColumn<QString>("expected");
    QTest::newRow("warning-with-args")
        << WarningRecord
        << localTime(1795293419.156068) +
               u" WARNING myapp.db [/srv/app/db.py:42] disk %s at %d%% % ('sda', 93)"_s;
    QTest::newRow("exception-formatted")
        << ErrorRecord
        << localTime(1795293419.1562822) +
               u" ERROR x [/p.py:7] boom\n    second line\n    Traceback (most recent call "
               u"last):\n      File \"<string>\", line 6, in <module>\n    ZeroDivisionError: "
               u"division by zero"_s;
    QTest::newRow("exc-info-without-text")
        << QByteArray("created=0&levelname=ERROR&name=n&pathname=p&lineno=1&msg=m&"
                      "exc_info=%28ValueError%29&exc_text=None")
        << localTime(0) + u" ERROR n [p:1] m\n    exc_info: (ValueError)"_s;
    QTest::newRow("missing-fields") << QByteArray("msg=hi") << u"- - - [-:-] hi"_s;
    QTest::newRow("control-chars")
        << QByteArray("msg=a%1B%5B2Jb%0D&name=n%07") << u"- - n? [-:-] a?[2Jb?"_s;
}

void TestLogCollector::text()
{
    QFETCH(QByteArray, data);
    QFETCH(QString, expected);
    QCOMPARE(QString::fromUtf8(Apps::logRecordText(Apps::parseUrlEncoded(data))), expected);
}

void TestLogCollector::requests_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QByteArray>("target");
    QTest::addColumn<FakeHeaders>("headers");
    QTest::addColumn<QList<QByteArray>>("chunks");
    QTest::addColumn<qint64>("maxBytes");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("records");
    const FakeHeaders form{{"Content-Type", "application/x-www-form-urlencoded"}};
    QTest::newRow("post") << QByteArray("POST") << QByteArray("/log") << form
                          << QList<QByteArray>{WarningRecord} << qint64(64 * 1024) << 200 << 1;
    QTest::newRow("post-in-pieces")
        << QByteArray("POST") << QByteArray("/log") << form
        << QList<QByteArray>{WarningRecord.left(10), WarningRecord.mid(10)} << qint64(64 * 1024)
        << 200 << 1;
    QTest::newRow("post-charset-param")
        << QByteArray("POST") << QByteArray("/log")
        << FakeHeaders{{"Content-Type", "Application/X-WWW-Form-Urlencoded; charset=utf-8"}}
        << QList<QByteArray>{"msg=x"} << qint64(1024) << 200 << 1;
    QTest::newRow("post-no-type") << QByteArray("POST") << QByteArray("/log") << FakeHeaders{}
                                  << QList<QByteArray>{"msg=x"} << qint64(1024) << 200 << 1;
    QTest::newRow("get-query") << QByteArray("GET") << QByteArray("/log?" + WarningRecord)
                               << FakeHeaders{} << QList<QByteArray>{} << qint64(64 * 1024) << 200
                               << 1;
    QTest::newRow("get-empty") << QByteArray("GET") << QByteArray("/log") << FakeHeaders{}
                               << QList<QByteArray>{} << qint64(1024) << 400 << 0;
    QTest::newRow("post-empty") << QByteArray("POST") << QByteArray("/log") << form
                                << QList<QByteArray>{} << qint64(1024) << 400 << 0;
    QTest::newRow("post-at-cap") << QByteArray("POST") << QByteArray("/log") << form
                                 << QList<QByteArray>{"msg=" + QByteArray(96, 'x')} << qint64(100)
                                 << 200 << 1;
    QTest::newRow("post-over-cap-length")
        << QByteArray("POST") << QByteArray("/log") << form
        << QList<QByteArray>{"msg=" + QByteArray(97, 'x')} << qint64(100) << 413 << 0;
    QTest::newRow("post-over-cap-chunked")
        << QByteArray("POST") << QByteArray("/log") << FakeHeaders{{"Transfer-Encoding", "chunked"}}
        << QList<QByteArray>{"msg=" + QByteArray(60, 'x'), QByteArray(60, 'y'), "z"} << qint64(100)
        << 413 << 0;
    QTest::newRow("get-over-cap") << QByteArray("GET")
                                  << QByteArray("/log?msg=" + QByteArray(200, 'x')) << FakeHeaders{}
                                  << QList<QByteArray>{} << qint64(100) << 413 << 0;
    QTest::newRow("json-body") << QByteArray("POST") << QByteArray("/log")
                               << FakeHeaders{{"Content-Type", "application/json"}}
                               << QList<QByteArray>{"{\"msg\":1}"} << qint64(1024) << 415 << 0;
    QTest::newRow("put") << QByteArray("PUT") << QByteArray("/log") << form
                         << QList<QByteArray>{"msg=x"} << qint64(1024) << 405 << 0;
    QTest::newRow("head") << QByteArray("HEAD") << QByteArray("/log?msg=x") << FakeHeaders{}
                          << QList<QByteArray>{} << qint64(1024) << 405 << 0;
}

void TestLogCollector::requests()
{
    QFETCH(QByteArray, method);
    QFETCH(QByteArray, target);
    QFETCH(FakeHeaders, headers);
    QFETCH(QList<QByteArray>, chunks);
    QFETCH(qint64, maxBytes);
    QFETCH(int, status);
    QFETCH(int, records);
    const QString name = u"req-"_s + QString::fromLatin1(QTest::currentDataTag());
    auto app = makeApp(name, maxBytes);
    Tests::FakeExchange exchange(method, target, headers, chunks);
    QCOMPARE(app->handle(exchange), Pipeline::Outcome::Answered);
    // A record is answered once the files' writers have it: later, from the event loop.
    QTRY_COMPARE(exchange.status(), status);
    QVERIFY(exchange.finished());
    QCOMPARE(exchange.respondCalls(), 1);
    QVERIFY2(exchange.protocolErrors().isEmpty(),
             qPrintable(exchange.protocolErrors().join(u'\n')));
    if (status == 405)
        QCOMPARE(exchange.header("Allow"), QByteArray("GET, POST"));
    const QString path = m_dir.filePath(name);
    // Answered: both files have the record.
    QCOMPARE(lines(path).size(), records);
    QCOMPARE(lines(path + u".txt"_s).size(), records);
}

void TestLogCollector::recordsAppendToBothFiles()
{
    auto app = makeApp(u"both"_s);
    const QString path = m_dir.filePath(u"both"_s);
    for (const QByteArray &record : {WarningRecord, ErrorRecord}) {
        Tests::FakeExchange exchange(
            "POST", "/log", {{"Content-Type", "application/x-www-form-urlencoded"}}, {record});
        app->handle(exchange);
        QTRY_COMPARE(exchange.status(), 200);
        QCOMPARE(exchange.body(), QByteArray("OK\n"));
    }
    const QList<QByteArray> json = lines(path);
    QCOMPARE(json.size(), 2);
    QCOMPARE(QJsonDocument::fromJson(json[0]).object().value(u"levelname"_s).toString(),
             u"WARNING"_s);
    QCOMPARE(QJsonDocument::fromJson(json[1]).object().value(u"exc_text"_s).toString(),
             u"Traceback (most recent call last):\n  File \"<string>\", line 6, in <module>\n"
             u"ZeroDivisionError: division by zero"_s);
    const QList<QByteArray> text = lines(path + u".txt"_s);
    QCOMPARE(text.size(), 1 + 5); // one line, then a record of five lines
    QVERIFY(text[0].contains(" WARNING myapp.db [/srv/app/db.py:42] "));
    QVERIFY(text[1].contains(" ERROR x [/p.py:7] boom"));
    QCOMPARE(text[5], QByteArray("    ZeroDivisionError: division by zero"));
}

void TestLogCollector::sinkSharedPerFile()
{
    QString error;
    const QString path = m_dir.filePath(u"shared"_s);
    auto a = Apps::LogCollectorApp::sharedSink(path, &error);
    auto b = Apps::LogCollectorApp::sharedSink(m_dir.path() + u"/./shared"_s, &error);
    QVERIFY(a);
    QCOMPARE(a.get(), b.get());
    QVERIFY(!Apps::LogCollectorApp::sharedSink(m_dir.filePath(u"no/such/dir/f"_s), &error));
    QVERIFY(error.contains(u"cannot open"_s));
}

namespace {

std::unique_ptr<Pipeline::App> buildCollector(const Config::Config &config)
{
    Pipeline::AppRegistry registry;
    Apps::registerLogCollectorApp(registry);
    const Pipeline::AppSetup setup{config, u"app:logs"_s, u"logs"_s, nullptr};
    return registry.create(u"berth.log_collector"_s, setup);
}

} // namespace

void TestLogCollector::buildingCreatesNothingStartOpens()
{
    // `berthd check` and the master's pre-flight build apps to validate them: that must not
    // create the files (as root, before the privilege drop). start() does, later.
    QVERIFY(QDir().mkpath(m_dir.filePath(u"built"_s)));
    const QString path = m_dir.filePath(u"built/records"_s);
    const Config::Config config = Config::Config::fromText(
        u"[app:logs]\ncall = berth.log_collector\nfile = "_s + path + u'\n', u"l.conf"_s);
    std::unique_ptr<Pipeline::App> app = buildCollector(config);
    QVERIFY(app);
    QVERIFY(config.diagnostics().isEmpty());
    QVERIFY(!QFile::exists(path));
    QVERIFY(!QFile::exists(path + u".txt"_s));
    QString error;
    QVERIFY2(app->start(&error), qPrintable(error));
    QVERIFY(QFile::exists(path));
    QVERIFY(QFile::exists(path + u".txt"_s));
}

void TestLogCollector::missingDirectoryIsReportedWithoutCreatingIt()
{
    const QString dir = m_dir.filePath(u"absent"_s);
    const Config::Config config = Config::Config::fromText(
        u"[app:logs]\ncall = berth.log_collector\nfile = "_s + dir + u"/records\n"_s, u"l.conf"_s);
    std::unique_ptr<Pipeline::App> app = buildCollector(config);
    QVERIFY(app);
    QCOMPARE(config.diagnostics().size(), 1);
    QCOMPARE(config.diagnostics().first().toString(),
             u"l.conf:3: [app:logs] file: directory "_s + dir + u" does not exist"_s);
    QVERIFY(!QFileInfo::exists(dir));
    QString error;
    QVERIFY(!app->start(&error));
    QVERIFY2(error.startsWith(u"[app:logs] file: "_s), qPrintable(error));
    QVERIFY(!QFileInfo::exists(dir));
}

QTEST_GUILESS_MAIN(TestLogCollector)
#include "tst_logcollector.moc"
