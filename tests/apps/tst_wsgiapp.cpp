// berth.wsgi through a fake exchange: the route target parser, the environ built from a
// request, and a real embedded interpreter running small apps (the response is posted back to
// this thread's event loop, so each case spins it until the exchange finishes).
#include "fakeexchange.h"
#include "wsgi/wsgiapp.h"
#include "wsgi/wsgicall.h"

#include "runtime/offloadpool.h"

#include <QCryptographicHash>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth;
using namespace Qt::StringLiterals;

class tst_WsgiApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void routeTarget_data();
    void routeTarget();
    void environ();
    void hello();
    void exceptionIs500WithTxn();
    void streamedBodyPausesAndResumes();
    void importErrorFailsStart();

private:
    std::unique_ptr<Wsgi::WsgiApp> appFor(const QString &name, const QString &callable,
                                          QString *error = nullptr);
    QTemporaryDir m_dir;
};

static const char AppSource[] = R"PY(
import hashlib, os, time

def hello(environ, start_response):
    start_response('201 Created', [('Content-Type', 'text/plain'), ('X-App', 'yes')])
    return [b'hi ', environ['PATH_INFO'].encode()]

def broken(environ, start_response):
    raise RuntimeError('kaput')

def digest(environ, start_response):
    # Reads only once the test has fed the whole body (the gate file), so the feed must pause.
    gate = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'gate')
    while not os.path.exists(gate):
        time.sleep(0.005)
    data = environ['wsgi.input'].read()
    start_response('200 OK', [])
    return [b'%d %s' % (len(data), hashlib.sha256(data).hexdigest().encode())]
)PY";

void tst_WsgiApp::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QFile file(m_dir.filePath(u"unitapp.py"_s));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(AppSource);
}

std::unique_ptr<Wsgi::WsgiApp> tst_WsgiApp::appFor(const QString &name, const QString &callable,
                                                   QString *error)
{
    Wsgi::WsgiOptions options;
    options.module = m_dir.filePath(u"unitapp.py"_s);
    options.callable = callable;
    options.threads = 2;
    auto app = std::make_unique<Wsgi::WsgiApp>(options);
    app->setName(name);
    QString failure;
    if (!app->start(&failure)) {
        if (error)
            *error = failure;
        return nullptr;
    }
    return app;
}

void tst_WsgiApp::routeTarget_data()
{
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("module");
    QTest::addColumn<QString>("callable");
    QTest::newRow("file") << u"/srv/app.py:app"_s << u"/srv/app.py"_s << u"app"_s;
    QTest::newRow("no .py") << u"/var/wsgi/flaskapp:application"_s << u"/var/wsgi/flaskapp"_s
                            << u"application"_s;
    QTest::newRow("default callable") << u"/srv/app.py"_s << u"/srv/app.py"_s << u"app"_s;
    QTest::newRow("dotted") << u"site.wsgi:make.app"_s << u"site.wsgi"_s << u"make.app"_s;
}

void tst_WsgiApp::routeTarget()
{
    QFETCH(QString, target);
    QString module;
    QString callable;
    QVERIFY(Wsgi::parseRouteTarget(target, &module, &callable));
    QTEST(module, "module");
    QTEST(callable, "callable");
}

void tst_WsgiApp::environ()
{
    Tests::FakeExchange exchange("POST", "/mount/rest?x=1",
                                 {{"Content-Type", "text/plain"},
                                  {"Content-Length", "3"},
                                  {"X-Real", "a"},
                                  {"X_Spoofed", "b"},
                                  {"Cookie", "a=1"},
                                  {"Cookie", "b=2"}},
                                 {"abc"});
    exchange.setPaths("/mount", "/rest");
    Wsgi::WsgiCall call(exchange, Core::ThreadMailbox::current());
    QHash<QByteArray, QByteArray> env;
    for (const auto &[name, value] : call.environ())
        env.insert(name, value);
    QCOMPARE(env.value("SCRIPT_NAME"), "/mount");
    QCOMPARE(env.value("PATH_INFO"), "/rest");
    QCOMPARE(env.value("QUERY_STRING"), "x=1");
    QCOMPARE(env.value("CONTENT_TYPE"), "text/plain");
    QCOMPARE(env.value("CONTENT_LENGTH"), "3");
    QCOMPARE(env.value("HTTP_X_REAL"), "a");
    QVERIFY(!env.contains("HTTP_X_SPOOFED"));
    QVERIFY(!env.contains("HTTP_CONTENT_LENGTH"));
    QCOMPARE(env.value("HTTP_COOKIE"), "a=1; b=2");
    QCOMPARE(env.value("wsgi.url_scheme"), "http");
}

void tst_WsgiApp::hello()
{
    auto app = appFor(u"hello"_s, u"hello"_s);
    QVERIFY(app);
    Tests::FakeExchange exchange("GET", "/w/x");
    exchange.setPaths("/w", "/x");
    QCOMPARE(app->handle(exchange), Pipeline::Outcome::Answered);
    QTRY_VERIFY(exchange.finished());
    QCOMPARE(exchange.status(), 201);
    QCOMPARE(exchange.body(), "hi /x");
    QCOMPARE(exchange.header("X-App"), "yes");
    QVERIFY(exchange.protocolErrors().isEmpty());
}

void tst_WsgiApp::exceptionIs500WithTxn()
{
    auto app = appFor(u"broken"_s, u"broken"_s);
    QVERIFY(app);
    Tests::FakeExchange exchange;
    exchange.request().txnId = "txn-unit-1";
    app->handle(exchange);
    QTRY_VERIFY(exchange.finished());
    QCOMPARE(exchange.status(), 500);
    QVERIFY(exchange.body().contains("txn-unit-1"));
}

void tst_WsgiApp::streamedBodyPausesAndResumes()
{
    auto app = appFor(u"digest"_s, u"digest"_s);
    QVERIFY(app);
    QList<QByteArray> chunks;
    QByteArray all;
    for (int i = 0; i < 64; ++i) {
        chunks.append(QByteArray(16 * 1024, char('a' + i % 26)));
        all += chunks.last();
    }
    Tests::FakeExchange exchange("POST", "/", {{"Content-Length", QByteArray::number(all.size())}},
                                 chunks);
    app->handle(exchange);
    // The fake fed the whole body inside handle(): over the high-water mark, so it was paused.
    QVERIFY(exchange.pauseCount() >= 1);
    QFile gate(m_dir.filePath(u"gate"_s));
    QVERIFY(gate.open(QIODevice::WriteOnly));
    gate.close();
    QTRY_VERIFY(exchange.finished());
    QCOMPARE(exchange.body(),
             QByteArray::number(all.size()) + ' ' +
                 QCryptographicHash::hash(all, QCryptographicHash::Sha256).toHex());
    // 1 MiB against a 256 KiB high-water mark: the body was let go again as the app read it.
    QVERIFY(exchange.resumeCount() >= 1);
}

void tst_WsgiApp::importErrorFailsStart()
{
    QString error;
    QVERIFY(!appFor(u"missing"_s, u"no_such_callable"_s, &error));
    QVERIFY2(error.contains(u"no_such_callable"_s) && error.contains(u"Traceback"_s),
             qPrintable(error));
}

QTEST_GUILESS_MAIN(tst_WsgiApp)
#include "tst_wsgiapp.moc"
