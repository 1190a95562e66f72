#include "apps/builtinapps.h"
#include "staticfixture.h"

#include "config/config.h"
#include "pipeline/appregistry.h"

#include <QElapsedTimer>
#include <QRegularExpression>

using namespace Berth;
using namespace Berth::Tests;

// berth.static: path resolution and its security checks, directories and index files, methods,
// MIME types, configuration. Validators and ranges are in tst_staticfileranges.
class tst_StaticFileApp : public QObject, protected StaticFixture
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void serve_data();
    void serve();
    void traversal_data();
    void traversal();
    void dotfiles_data();
    void dotfiles();
    void symlinks_data();
    void symlinks();
    void directoryRedirect_data();
    void directoryRedirect();
    void methods_data();
    void methods();
    void fifoDoesNotBlock();
    void unreadableIs403();
    void rootProblems();
    void configOptions();
    void registry();
    void noFdLeaks();
    void replacedRootIsFollowed();
};

void tst_StaticFileApp::initTestCase()
{
    setUpFixture();
}

void tst_StaticFileApp::serve_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<qint64>("contentLength");
    QTest::addColumn<QByteArray>("contentType");

    const QByteArray text = QByteArrayLiteral("text/plain; charset=utf-8");
    const QByteArray html = QByteArrayLiteral("text/html; charset=utf-8");
    const QByteArray get = QByteArrayLiteral("GET");
    const QByteArray head = QByteArrayLiteral("HEAD");
    QTest::newRow("file") << get << QByteArrayLiteral("/hello.txt") << 200
                          << QByteArrayLiteral("hello world\n") << qint64(12) << text;
    QTest::newRow("HEAD file") << head << QByteArrayLiteral("/hello.txt") << 200 << QByteArray()
                               << qint64(12) << text;
    QTest::newRow("root index") << get << QByteArrayLiteral("/") << 200
                                << QByteArrayLiteral("<h1>home</h1>\n") << qint64(14) << html;
    QTest::newRow("HEAD root index")
        << head << QByteArrayLiteral("/") << 200 << QByteArray() << qint64(14) << html;
    QTest::newRow("subdir index") << get << QByteArrayLiteral("/docs/") << 200
                                  << QByteArrayLiteral("docs index") << qint64(10) << html;
    QTest::newRow("index named like a dir")
        << get << QByteArrayLiteral("/indexdir/") << 404 << QByteArrayLiteral("404 Not Found\n")
        << qint64(14) << text;
    QTest::newRow("no listing") << get << QByteArrayLiteral("/sub/") << 404
                                << QByteArrayLiteral("404 Not Found\n") << qint64(14) << text;
    QTest::newRow("missing") << get << QByteArrayLiteral("/missing.txt") << 404
                             << QByteArrayLiteral("404 Not Found\n") << qint64(14) << text;
    QTest::newRow("file with slash") << get << QByteArrayLiteral("/hello.txt/") << 404
                                     << QByteArrayLiteral("404 Not Found\n") << qint64(14) << text;
    QTest::newRow("missing dir") << get << QByteArrayLiteral("/nope/x.html") << 404
                                 << QByteArrayLiteral("404 Not Found\n") << qint64(14) << text;
    QTest::newRow("empty file") << get << QByteArrayLiteral("/empty.txt") << 200 << QByteArray()
                                << qint64(0) << text;
    QTest::newRow("upper-case extension")
        << get << QByteArrayLiteral("/style.CSS") << 200 << QByteArrayLiteral("body{}") << qint64(6)
        << QByteArrayLiteral("text/css; charset=utf-8");
    QTest::newRow("javascript") << get << QByteArrayLiteral("/sub/file.js") << 200
                                << QByteArrayLiteral("let x;") << qint64(6)
                                << QByteArrayLiteral("text/javascript; charset=utf-8");
    QTest::newRow("no extension") << get << QByteArrayLiteral("/noext") << 200
                                  << QByteArrayLiteral("raw") << qint64(3)
                                  << QByteArrayLiteral("application/octet-stream");
    QTest::newRow("odd characters") << get << QByteArrayLiteral("/odd #?%dir/a.txt") << 200
                                    << QByteArrayLiteral("odd") << qint64(3) << text;
    // The type follows the name the client asked for, as in nginx.
    QTest::newRow("symlink inside root")
        << get << QByteArrayLiteral("/link-in") << 200 << QByteArrayLiteral("hello world\n")
        << qint64(12) << QByteArrayLiteral("application/octet-stream");
    QTest::newRow("symlink loop") << get << QByteArrayLiteral("/link-loop") << 404
                                  << QByteArrayLiteral("404 Not Found\n") << qint64(14) << text;
}

void tst_StaticFileApp::serve()
{
    QFETCH(QByteArray, method);
    QFETCH(QByteArray, path);
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    QFETCH(qint64, contentLength);
    QFETCH(QByteArray, contentType);

    StaticFileApp app(options());
    const auto ex = get(app, path, {}, method);
    QCOMPARE(ex->status(), status);
    QVERIFY(ex->finished());
    QCOMPARE(ex->body(), body);
    QCOMPARE(ex->contentLength(), contentLength);
    QCOMPARE(ex->header("Content-Type"), contentType);
    QCOMPARE(ex->protocolErrors(), QStringList());
    if (status == 200) {
        QCOMPARE(ex->header("Accept-Ranges"), QByteArrayLiteral("bytes"));
        QVERIFY(!ex->header("ETag").isEmpty());
        QVERIFY(ex->header("Cache-Control").isNull()); // not configured
    }
}

void tst_StaticFileApp::traversal_data()
{
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<bool>("follow");
    QTest::addColumn<bool>("dotfiles");

    // pathInfo values the engine's normaliser never produces; the app must hold on its own.
    const QList<QByteArray> paths = {
        "/../outside/secret.txt",
        "/a/../../outside/secret.txt",
        "/sub/../../outside/secret.txt",
        "/..",
        "/../",
        "/./hello.txt",
        "/sub/./file.js",
        "//outside/secret.txt",
        "/sub//file.js",
        "//docs",
        "../outside/secret.txt",
        "outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/..%2f..%2foutside/secret.txt",
        "/..\\..\\outside\\secret.txt",
        "/%c0%ae%c0%ae/outside/secret.txt",
        QByteArray("/hello.txt\0.png", 15),
        QByteArray("/\0/../outside/secret.txt", 24),
        "/.",
        "/../www-secret/leak.txt",
    };
    for (const QByteArray &path : paths) {
        const QByteArray name = QByteArray(path).replace('\0', "\\0");
        QTest::addRow("%s", name.constData()) << path << false << false;
        // With both switches on, only the segment check stands between ".." and the disk.
        QTest::addRow("%s (dotfiles, follow_symlinks)", name.constData()) << path << true << true;
    }
    // Symlinks that leave the root, without follow_symlinks.
    for (const char *path : {"/link-out", "/link-abs-out", "/linkdir-out/secret.txt",
                             "/link-prefix", "/link-etc/passwd", "/index-escape/"})
        QTest::addRow("%s", path) << QByteArray(path) << false << true;
}

void tst_StaticFileApp::traversal()
{
    QFETCH(QByteArray, path);
    QFETCH(bool, follow);
    QFETCH(bool, dotfiles);
    StaticFileApp app(options(dotfiles, follow));
    for (const QByteArray &method : {QByteArrayLiteral("GET"), QByteArrayLiteral("HEAD")}) {
        const auto ex = get(app, path, {}, method);
        QVERIFY2(ex->status() == 400 || ex->status() == 404, QByteArray::number(ex->status()));
        QVERIFY(!ex->body().contains("SECRET"));
        QVERIFY(!ex->body().contains("root:"));
        QCOMPARE(ex->sendFileCalls(), 0);
        QVERIFY(ex->finished());
    }
}

void tst_StaticFileApp::dotfiles_data()
{
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<bool>("allow");
    QTest::addColumn<int>("status");

    QTest::newRow("dotfile hidden") << QByteArrayLiteral("/.secret") << false << 404;
    QTest::newRow("dotfile allowed") << QByteArrayLiteral("/.secret") << true << 200;
    QTest::newRow("dot dir hidden") << QByteArrayLiteral("/.hidden/file.txt") << false << 404;
    QTest::newRow("dot dir allowed") << QByteArrayLiteral("/.hidden/file.txt") << true << 200;
    QTest::newRow("nested dotfile hidden") << QByteArrayLiteral("/sub/.env") << false << 404;
    QTest::newRow("nested dotfile allowed") << QByteArrayLiteral("/sub/.env") << true << 200;
    QTest::newRow("missing dotfile") << QByteArrayLiteral("/.git/config") << true << 404;
    QTest::newRow("well-known is public")
        << QByteArrayLiteral("/.well-known/security.txt") << false << 200;
    QTest::newRow("dotfile under well-known")
        << QByteArrayLiteral("/.well-known/.htpasswd") << false << 404;
    // Still never "." or ".." themselves.
    QTest::newRow("dotdot with dotfiles on")
        << QByteArrayLiteral("/../outside/secret.txt") << true << 404;
}

void tst_StaticFileApp::dotfiles()
{
    QFETCH(QByteArray, path);
    QFETCH(bool, allow);
    QFETCH(int, status);
    StaticFileApp app(options(allow));
    const auto ex = get(app, path);
    QCOMPARE(ex->status(), status);
    if (status == 404)
        QCOMPARE(ex->sendFileCalls(), 0);
}

void tst_StaticFileApp::symlinks_data()
{
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<bool>("follow");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");

    const QByteArray notFound = QByteArrayLiteral("404 Not Found\n");
    QTest::newRow("inside") << QByteArrayLiteral("/link-in") << false << 200
                            << QByteArrayLiteral("hello world\n");
    QTest::newRow("inside, follow")
        << QByteArrayLiteral("/link-in") << true << 200 << QByteArrayLiteral("hello world\n");
    QTest::newRow("escaping") << QByteArrayLiteral("/link-out") << false << 404 << notFound;
    QTest::newRow("escaping, follow") << QByteArrayLiteral("/link-out") << true << 200 << secret;
    // Absolute, but landing inside the root: allowed like a relative one (openat2 refuses it
    // below the root, realpath then decides).
    QTest::newRow("absolute inside")
        << QByteArrayLiteral("/link-abs-in") << false << 200 << QByteArrayLiteral("hello world\n");
    QTest::newRow("absolute escaping")
        << QByteArrayLiteral("/link-abs-out") << false << 404 << notFound;
    QTest::newRow("absolute escaping, follow")
        << QByteArrayLiteral("/link-abs-out") << true << 200 << secret;
    QTest::newRow("dir escaping") << QByteArrayLiteral("/linkdir-out/secret.txt") << false << 404
                                  << notFound;
    QTest::newRow("dir escaping, follow")
        << QByteArrayLiteral("/linkdir-out/secret.txt") << true << 200 << secret;
    QTest::newRow("sibling sharing the prefix")
        << QByteArrayLiteral("/link-prefix") << false << 404 << notFound;
    QTest::newRow("index escaping")
        << QByteArrayLiteral("/index-escape/") << false << 404 << notFound;
    QTest::newRow("index escaping, follow")
        << QByteArrayLiteral("/index-escape/") << true << 200 << secret;
    QTest::newRow("loop, follow") << QByteArrayLiteral("/link-loop") << true << 404 << notFound;
}

void tst_StaticFileApp::symlinks()
{
    QFETCH(QByteArray, path);
    QFETCH(bool, follow);
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    StaticFileApp app(options(false, follow));
    const auto ex = get(app, path);
    QCOMPARE(ex->status(), status);
    QCOMPARE(ex->body(), body);
}

void tst_StaticFileApp::directoryRedirect_data()
{
    QTest::addColumn<QByteArray>("scriptName");
    QTest::addColumn<QByteArray>("pathInfo");
    QTest::addColumn<QByteArray>("query");
    QTest::addColumn<QByteArray>("location");

    QTest::newRow("plain") << QByteArray() << QByteArrayLiteral("/docs") << QByteArray()
                           << QByteArrayLiteral("/docs/");
    QTest::newRow("mounted, with query")
        << QByteArrayLiteral("/static") << QByteArrayLiteral("/docs")
        << QByteArrayLiteral("a=1&b=%20") << QByteArrayLiteral("/static/docs/?a=1&b=%20");
    QTest::newRow("mount point itself") << QByteArrayLiteral("/static") << QByteArray()
                                        << QByteArray() << QByteArrayLiteral("/static/");
    QTest::newRow("escaped name") << QByteArray() << QByteArrayLiteral("/odd #?%dir")
                                  << QByteArray() << QByteArrayLiteral("/odd%20%23%3F%25dir/");
    QTest::newRow("escaped query")
        << QByteArray() << QByteArrayLiteral("/docs") << QByteArrayLiteral("q=\"<x>\"")
        << QByteArrayLiteral("/docs/?q=%22%3Cx%3E%22");
    QTest::newRow("subdirectory") << QByteArray() << QByteArrayLiteral("/sub") << QByteArray()
                                  << QByteArrayLiteral("/sub/");
}

void tst_StaticFileApp::directoryRedirect()
{
    QFETCH(QByteArray, scriptName);
    QFETCH(QByteArray, pathInfo);
    QFETCH(QByteArray, query);
    QFETCH(QByteArray, location);
    StaticFileApp app(options());
    for (const QByteArray &method : {QByteArrayLiteral("GET"), QByteArrayLiteral("HEAD")}) {
        const auto ex = get(app, pathInfo, {}, method, scriptName, query);
        QCOMPARE(ex->status(), 301);
        QCOMPARE(ex->header("Location"), location);
        QCOMPARE(ex->protocolErrors(), QStringList());
        if (method == "HEAD")
            QVERIFY(ex->body().isEmpty());
    }
}

void tst_StaticFileApp::methods_data()
{
    QTest::addColumn<QByteArray>("method");
    for (const char *method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "get", "BREW"})
        QTest::newRow(method) << QByteArray(method);
}

void tst_StaticFileApp::methods()
{
    QFETCH(QByteArray, method);
    StaticFileApp app(options());
    for (const QByteArray &path :
         {QByteArrayLiteral("/hello.txt"), QByteArrayLiteral("/missing")}) {
        const auto ex = get(app, path, {}, method);
        QCOMPARE(ex->status(), 405);
        QCOMPARE(ex->header("Allow"), QByteArrayLiteral("GET, HEAD"));
        QCOMPARE(ex->sendFileCalls(), 0);
    }
}

void tst_StaticFileApp::fifoDoesNotBlock()
{
    // open() on a FIFO blocks until a writer appears, unless O_NONBLOCK: this would hang.
    StaticFileApp app(options());
    QElapsedTimer timer;
    timer.start();
    const auto ex = get(app, "/fifo");
    QCOMPARE(ex->status(), 404);
    QVERIFY(timer.elapsed() < 1000);
}

void tst_StaticFileApp::unreadableIs403()
{
    if (::geteuid() == 0)
        QSKIP("root reads every file; EACCES cannot be provoked");
    const QString path = m_root + QStringLiteral("/locked.txt");
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("no");
    file.close();
    QVERIFY(file.setPermissions(QFileDevice::Permissions()));
    StaticFileApp app(options());
    QCOMPARE(get(app, "/locked.txt")->status(), 403);
    file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    file.remove();
}

void tst_StaticFileApp::rootProblems()
{
    // No root: never fall back to "/" or the working directory.
    StaticFileApp unconfigured({});
    const auto ex = get(unconfigured, "/etc/passwd");
    QCOMPARE(ex->status(), 500);
    QVERIFY(!ex->body().contains("root:"));

    // A root that appears after startup is picked up.
    const QString later = m_dir.path() + QStringLiteral("/later");
    StaticFileApp::Options o;
    o.root = later;
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("root .*later: No such file")));
    StaticFileApp app(o);
    QCOMPARE(get(app, "/a.txt")->status(), 404);
    QVERIFY(QDir().mkpath(later));
    QFile file(later + QStringLiteral("/a.txt"));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("late");
    file.close();
    const auto served = get(app, "/a.txt");
    QCOMPARE(served->status(), 200);
    QCOMPARE(served->body(), QByteArrayLiteral("late"));

    // A root reached through a symlink serves its target.
    const QString linked = m_dir.path() + QStringLiteral("/www-link");
    QVERIFY(QFile::link(m_root, linked));
    o.root = linked;
    StaticFileApp viaLink(o);
    QCOMPARE(get(viaLink, "/hello.txt")->body(), QByteArrayLiteral("hello world\n"));
    QCOMPARE(get(viaLink, "/link-out")->status(), 404);
}

void tst_StaticFileApp::configOptions()
{
    const QString file = m_dir.path() + QStringLiteral("/berth.conf");
    const Config::Config config = Config::Config::fromText(
        QStringLiteral("[app:files]\ncall = berth.static\nroot = www\n"
                       "index = default.htm, index.html\nallow_dotfiles = yes\n"
                       "follow_symlinks = true\ncache_control = public, max-age=60\n"
                       "[app:bad]\ncall = berth.static\nindex = ../x.html ok.html\n"
                       "[app:missing]\ncall = berth.static\nroot = nowhere\n"),
        file);
    QVERIFY(!Config::hasErrors(config.diagnostics()));

    const StaticFileApp::Options o = StaticFileApp::optionsFromConfig(
        {config, QStringLiteral("app:files"), QStringLiteral("files"), nullptr});
    QCOMPARE(o.root, m_root); // relative to the config file
    QCOMPARE(o.index, QStringList({QStringLiteral("default.htm"), QStringLiteral("index.html")}));
    QVERIFY(o.allowDotfiles);
    QVERIFY(o.followSymlinks);
    QCOMPARE(o.cacheControl, QByteArrayLiteral("public, max-age=60"));
    QVERIFY(!Config::hasErrors(config.diagnostics()));

    // With index = default.htm first, /alt/ has an index.
    StaticFileApp app(o);
    QCOMPARE(get(app, "/alt/")->body(), QByteArrayLiteral("alt"));
    QCOMPARE(get(app, "/")->body(), QByteArrayLiteral("<h1>home</h1>\n"));

    const StaticFileApp::Options bad = StaticFileApp::optionsFromConfig(
        {config, QStringLiteral("app:bad"), QStringLiteral("bad"), nullptr});
    QCOMPARE(bad.index, QStringList({QStringLiteral("ok.html")}));
    QVERIFY(bad.root.isEmpty());
    QStringList messages;
    for (const Config::Diagnostic &d : config.diagnostics()) {
        if (d.isError()) {
            messages << d.message;
            QCOMPARE(d.location.file, file); // points at the section or key
            QVERIFY(d.location.line > 0);
        }
    }
    QCOMPARE(messages.size(), 2);
    QVERIFY(messages.join(u'|').contains(QStringLiteral("[app:bad] root")));
    QVERIFY(messages.join(u'|').contains(QStringLiteral("[app:bad] index")));

    // Defaults, and a missing root directory is only a warning.
    const qsizetype before = config.diagnostics().size();
    const StaticFileApp::Options defaults = StaticFileApp::optionsFromConfig(
        {config, QStringLiteral("app:missing"), QStringLiteral("missing"), nullptr});
    QCOMPARE(defaults.index, QStringList({QStringLiteral("index.html")}));
    QVERIFY(!defaults.allowDotfiles);
    QVERIFY(!defaults.followSymlinks);
    QVERIFY(defaults.cacheControl.isEmpty());
    QCOMPARE(config.diagnostics().size(), before + 1);
    QVERIFY(!config.diagnostics().last().isError());
}

void tst_StaticFileApp::registry()
{
    Pipeline::AppRegistry registry;
    Apps::registerStaticFileApp(registry);
    QVERIFY(registry.contains(QStringLiteral("berth.static")));
    const Config::Config config = Config::Config::fromText(
        QStringLiteral("[app:site]\ncall = berth.static\nroot = ") + m_root + u'\n');
    std::unique_ptr<Pipeline::App> app =
        registry.create(QStringLiteral("berth.static"),
                        {config, QStringLiteral("app:site"), QStringLiteral("site"), nullptr});
    QVERIFY(app);
    QCOMPARE(app->name(), QStringLiteral("site"));
    FakeExchange ex("GET", "/hello.txt");
    QCOMPARE(app->handle(ex), Pipeline::Outcome::Answered);
    QCOMPARE(ex.body(), QByteArrayLiteral("hello world\n"));
    QVERIFY(Apps::builtinApps().contains(QStringLiteral("berth.static")));
}

void tst_StaticFileApp::noFdLeaks()
{
    StaticFileApp app(options(false, false));
    const int before = openFdCount();
    const QList<QPair<QByteArray, FakeExchange::Headers>> requests = {
        {"/hello.txt", {}},
        {"/empty.txt", {}},
        {"/", {}},
        {"/docs", {}},
        {"/sub/", {}},
        {"/missing", {}},
        {"/link-out", {}},
        {"/fifo", {}},
        {"/hello.txt", {{"If-None-Match", m_etag}}},
        {"/hello.txt", {{"If-Match", "\"x\""}}},
        {"/letters.txt", {{"Range", "bytes=500-"}}},
        {"/letters.txt", {{"Range", "bytes=1-2"}}},
        {"/letters.txt", {{"Range", "bytes=1-2,5-6"}}},
    };
    for (int round = 0; round < 3; ++round) {
        for (const auto &[path, headers] : requests) {
            for (const QByteArray &method : {QByteArrayLiteral("GET"), QByteArrayLiteral("HEAD")})
                get(app, path, headers, method);
        }
    }
    QCOMPARE(openFdCount(), before);
}

void tst_StaticFileApp::replacedRootIsFollowed()
{
    // A deploy that renames a new directory into the root's place: the app opened the old one
    // at startup, and must serve the new one as a path-based server would.
    QTemporaryDir base;
    QVERIFY(base.isValid());
    const QString root = base.path() + QStringLiteral("/site");
    auto write = [](const QString &path, const QByteArray &bytes) {
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(bytes);
    };
    QVERIFY(QDir().mkpath(root));
    write(root + QStringLiteral("/v.txt"), "old\n");
    StaticFileApp::Options o;
    o.root = root;
    StaticFileApp app(o);
    QCOMPARE(get(app, "/v.txt")->body(), QByteArray("old\n"));

    QVERIFY(QDir().mkpath(base.path() + QStringLiteral("/next")));
    write(base.path() + QStringLiteral("/next/v.txt"), "new\n");
    QVERIFY(::rename(QFile::encodeName(root).constData(),
                     QFile::encodeName(base.path() + QStringLiteral("/previous")).constData()) ==
            0);
    QVERIFY(::rename(QFile::encodeName(base.path() + QStringLiteral("/next")).constData(),
                     QFile::encodeName(root).constData()) == 0);
    QCOMPARE(get(app, "/v.txt")->body(), QByteArray("new\n"));
    QCOMPARE(get(app, "/missing")->status(), 404);
}

QTEST_GUILESS_MAIN(tst_StaticFileApp)
#include "tst_staticfileapp.moc"
