#include "apps/staticfiles/staticfileapp.h"
#include "config/config.h"
#include "fakeexchange.h"
#include "http/httpdate.h"
#include "pipeline/appregistry.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

using namespace Berth;
using Apps::StaticFileApp;
using Tests::FakeExchange;

namespace {

constexpr qint64 fixedMtime = 784111777; // Sun, 06 Nov 1994 08:49:37 GMT
const QByteArray secret = QByteArrayLiteral("TOP SECRET\n");

struct Part
{
    QByteArray contentType;
    QByteArray contentRange;
    QByteArray data;
};

// Splits a multipart/byteranges body strictly: any deviation from the layout fails.
bool parseMultipart(const QByteArray &body, const QByteArray &boundary, QList<Part> &parts)
{
    const QByteArray delimiter = "\r\n--" + boundary;
    if (!body.startsWith(delimiter))
        return false;
    qsizetype pos = delimiter.size();
    while (true) {
        if (body.mid(pos) == "--\r\n")
            return true;
        if (body.mid(pos, 2) != "\r\n")
            return false;
        const qsizetype headersEnd = body.indexOf("\r\n\r\n", pos);
        if (headersEnd < 0)
            return false;
        Part part;
        for (const QByteArray &line : body.mid(pos + 2, headersEnd - pos - 2).split('\n')) {
            const QByteArray trimmed = line.trimmed();
            if (trimmed.startsWith("Content-Type: "))
                part.contentType = trimmed.mid(14);
            else if (trimmed.startsWith("Content-Range: "))
                part.contentRange = trimmed.mid(15);
            else
                return false;
        }
        const qsizetype dataStart = headersEnd + 4;
        const qsizetype next = body.indexOf(delimiter, dataStart);
        if (next < 0)
            return false;
        part.data = body.mid(dataStart, next - dataStart);
        parts.append(part);
        pos = next + delimiter.size();
    }
}

int openFdCount()
{
    return int(QDir(QStringLiteral("/proc/self/fd")).entryList(QDir::Files | QDir::System).size());
}

} // namespace

class tst_StaticFileApp : public QObject
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
    void responseHeaders();
    void conditional_data();
    void conditional();
    void ranges_data();
    void ranges();
    void multipart();
    void multipartBackpressure();
    void multipartAbortReleasesFile();
    void bigFile();
    void fifoDoesNotBlock();
    void unreadableIs403();
    void rootProblems();
    void configOptions();
    void registry();
    void noFdLeaks();

private:
    std::unique_ptr<FakeExchange> get(StaticFileApp &app, const QByteArray &pathInfo,
                                      const FakeExchange::Headers &headers = {},
                                      const QByteArray &method = QByteArrayLiteral("GET"),
                                      const QByteArray &scriptName = {},
                                      const QByteArray &query = {});
    StaticFileApp::Options options(bool dotfiles = false, bool follow = false) const;

    QTemporaryDir m_dir;
    QString m_root;
    QByteArray m_letters; // letters.txt: 100 bytes, A..Z repeating
    QByteArray m_big;     // big.bin: 5 MiB of noise
    QByteArray m_etag;    // of hello.txt
};

void tst_StaticFileApp::initTestCase()
{
    QVERIFY(m_dir.isValid());
    const QString base = m_dir.path();
    m_root = base + QStringLiteral("/www");
    auto write = [](const QString &path, const QByteArray &content) {
        QDir().mkpath(QFileInfo(path).absolutePath());
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        QCOMPARE(file.write(content), content.size());
    };
    auto link = [](const QString &target, const QString &at) {
        QVERIFY2(::symlink(QFile::encodeName(target).constData(),
                           QFile::encodeName(at).constData()) == 0,
                 qPrintable(at));
    };

    for (int i = 0; i < 100; ++i)
        m_letters += char('A' + i % 26);
    m_big.resize(5 * 1024 * 1024);
    QRandomGenerator(1).fillRange(reinterpret_cast<quint32 *>(m_big.data()), m_big.size() / 4);

    write(base + QStringLiteral("/outside/secret.txt"), secret);
    write(base + QStringLiteral("/www-secret/leak.txt"), secret);
    write(m_root + QStringLiteral("/index.html"), "<h1>home</h1>\n");
    write(m_root + QStringLiteral("/hello.txt"), "hello world\n");
    write(m_root + QStringLiteral("/letters.txt"), m_letters);
    write(m_root + QStringLiteral("/empty.txt"), {});
    write(m_root + QStringLiteral("/style.CSS"), "body{}");
    write(m_root + QStringLiteral("/noext"), "raw");
    write(m_root + QStringLiteral("/big.bin"), m_big);
    write(m_root + QStringLiteral("/sub/file.js"), "let x;");
    write(m_root + QStringLiteral("/docs/index.html"), "docs index");
    write(m_root + QStringLiteral("/alt/default.htm"), "alt");
    write(m_root + QStringLiteral("/odd #?%dir/a.txt"), "odd");
    write(m_root + QStringLiteral("/.secret"), "dot");
    write(m_root + QStringLiteral("/.hidden/file.txt"), "hidden");
    write(m_root + QStringLiteral("/sub/.env"), "KEY=1");
    write(m_root + QStringLiteral("/.well-known/security.txt"), "Contact: x");
    QVERIFY(QDir().mkpath(m_root + QStringLiteral("/indexdir/index.html")));
    QVERIFY(QDir().mkpath(m_root + QStringLiteral("/index-escape")));
    link(QStringLiteral("hello.txt"), m_root + QStringLiteral("/link-in"));
    link(QStringLiteral("../outside/secret.txt"), m_root + QStringLiteral("/link-out"));
    link(QStringLiteral("../outside"), m_root + QStringLiteral("/linkdir-out"));
    link(base + QStringLiteral("/outside/secret.txt"), m_root + QStringLiteral("/link-abs-out"));
    link(QStringLiteral("../www-secret/leak.txt"), m_root + QStringLiteral("/link-prefix"));
    link(QStringLiteral("link-loop"), m_root + QStringLiteral("/link-loop"));
    link(QStringLiteral("/etc"), m_root + QStringLiteral("/link-etc"));
    link(QStringLiteral("../../outside/secret.txt"),
         m_root + QStringLiteral("/index-escape/index.html"));
    QVERIFY(::mkfifo(QFile::encodeName(m_root + QStringLiteral("/fifo")).constData(), 0644) == 0);

    // Fixed times make Last-Modified and the ETag predictable.
    const timeval times[2] = {{fixedMtime, 0}, {fixedMtime, 0}};
    for (const char *name : {"/hello.txt", "/letters.txt", "/big.bin", "/index.html"})
        QVERIFY(::utimes(QFile::encodeName(m_root + QLatin1String(name)).constData(), times) == 0);
    m_etag = '"' + QByteArray::number(fixedMtime, 16) + "-c\"";
}

StaticFileApp::Options tst_StaticFileApp::options(bool dotfiles, bool follow) const
{
    StaticFileApp::Options o;
    o.root = m_root;
    o.allowDotfiles = dotfiles;
    o.followSymlinks = follow;
    return o;
}

std::unique_ptr<FakeExchange> tst_StaticFileApp::get(StaticFileApp &app, const QByteArray &pathInfo,
                                                     const FakeExchange::Headers &headers,
                                                     const QByteArray &method,
                                                     const QByteArray &scriptName,
                                                     const QByteArray &query)
{
    // The raw target as a client would send it; only its query part matters to the app.
    QByteArray target = (scriptName + pathInfo).toPercentEncoding("/");
    if (!query.isEmpty())
        target += '?' + query;
    auto exchange = std::make_unique<FakeExchange>(method, target, headers);
    exchange->setPaths(scriptName, pathInfo);
    const Pipeline::Outcome outcome = app.handle(*exchange);
    // A static route is the end of its pipeline: it answers everything itself.
    [&] { QVERIFY(outcome == Pipeline::Outcome::Answered); }();
    return exchange;
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

void tst_StaticFileApp::responseHeaders()
{
    StaticFileApp::Options o = options();
    o.cacheControl = QByteArrayLiteral("public, max-age=3600");
    StaticFileApp app(o);
    const auto ex = get(app, "/hello.txt");
    QCOMPARE(ex->status(), 200);
    QCOMPARE(ex->header("ETag"), m_etag);
    QCOMPARE(ex->header("Last-Modified"), QByteArrayLiteral("Sun, 06 Nov 1994 08:49:37 GMT"));
    QCOMPARE(ex->header("Cache-Control"), QByteArrayLiteral("public, max-age=3600"));
    QCOMPARE(ex->header("Accept-Ranges"), QByteArrayLiteral("bytes"));
    QCOMPARE(ex->headerCount("Content-Type"), 1);
    QCOMPARE(ex->headerCount("ETag"), 1);
    // Errors carry no validators or caching instructions.
    const auto missing = get(app, "/missing");
    QVERIFY(missing->header("Cache-Control").isNull());
    QVERIFY(missing->header("ETag").isNull());
}

void tst_StaticFileApp::conditional_data()
{
    QTest::addColumn<FakeExchange::Headers>("headers");
    QTest::addColumn<int>("status");

    using H = FakeExchange::Headers;
    const QByteArray etag = '"' + QByteArray::number(fixedMtime, 16) + "-c\"";
    const QByteArray date = QByteArrayLiteral("Sun, 06 Nov 1994 08:49:37 GMT");
    const QByteArray earlier = QByteArrayLiteral("Sun, 06 Nov 1994 08:49:36 GMT");
    const QByteArray later = QByteArrayLiteral("Mon, 07 Nov 1994 08:49:37 GMT");
    auto h = [](const char *name, const QByteArray &value) {
        return qMakePair(QByteArray(name), value);
    };

    QTest::newRow("none") << H{} << 200;
    QTest::newRow("INM match") << H{h("If-None-Match", etag)} << 304;
    QTest::newRow("INM weak match") << H{h("If-None-Match", "W/" + etag)} << 304;
    QTest::newRow("INM list") << H{h("If-None-Match", "\"a\", " + etag + ", \"b\"")} << 304;
    QTest::newRow("INM split over fields")
        << H{h("if-none-match", "\"a\""), h("If-None-Match", etag)} << 304;
    QTest::newRow("INM star") << H{h("If-None-Match", "*")} << 304;
    QTest::newRow("INM other") << H{h("If-None-Match", "\"other\"")} << 200;
    QTest::newRow("INM malformed") << H{h("If-None-Match", "garbage")} << 200;
    QTest::newRow("IMS equal") << H{h("If-Modified-Since", date)} << 304;
    QTest::newRow("IMS later") << H{h("If-Modified-Since", later)} << 304;
    QTest::newRow("IMS earlier") << H{h("If-Modified-Since", earlier)} << 200;
    QTest::newRow("IMS rfc850") << H{h("If-Modified-Since", "Sunday, 06-Nov-94 08:49:37 GMT")}
                                << 304;
    QTest::newRow("IMS asctime") << H{h("If-Modified-Since", "Sun Nov  6 08:49:37 1994")} << 304;
    QTest::newRow("IMS invalid") << H{h("If-Modified-Since", "yesterday")} << 200;
    QTest::newRow("IMS twice") << H{h("If-Modified-Since", date), h("If-Modified-Since", date)}
                               << 200;
    QTest::newRow("INM beats IMS")
        << H{h("If-None-Match", "\"other\""), h("If-Modified-Since", later)} << 200;
    QTest::newRow("IM match") << H{h("If-Match", etag)} << 200;
    QTest::newRow("IM star") << H{h("If-Match", "*")} << 200;
    QTest::newRow("IM list") << H{h("If-Match", "\"x\", " + etag)} << 200;
    QTest::newRow("IM other") << H{h("If-Match", "\"other\"")} << 412;
    QTest::newRow("IM weak is not strong") << H{h("If-Match", "W/" + etag)} << 412;
    QTest::newRow("IUS equal") << H{h("If-Unmodified-Since", date)} << 200;
    QTest::newRow("IUS earlier") << H{h("If-Unmodified-Since", earlier)} << 412;
    QTest::newRow("IUS invalid") << H{h("If-Unmodified-Since", "soon")} << 200;
    QTest::newRow("IM beats IUS") << H{h("If-Match", etag), h("If-Unmodified-Since", earlier)}
                                  << 200;
    QTest::newRow("412 before 304")
        << H{h("If-Match", "\"other\""), h("If-None-Match", etag)} << 412;
}

void tst_StaticFileApp::conditional()
{
    QFETCH(FakeExchange::Headers, headers);
    QFETCH(int, status);
    StaticFileApp::Options o = options();
    o.cacheControl = QByteArrayLiteral("max-age=60");
    StaticFileApp app(o);
    for (const QByteArray &method : {QByteArrayLiteral("GET"), QByteArrayLiteral("HEAD")}) {
        const auto ex = get(app, "/hello.txt", headers, method);
        QCOMPARE(ex->status(), status);
        QCOMPARE(ex->protocolErrors(), QStringList());
        QVERIFY(ex->finished());
        if (status == 304) {
            QVERIFY(ex->body().isEmpty());
            QCOMPARE(ex->sendFileCalls(), 0);
            QCOMPARE(ex->header("ETag"), m_etag);
            QCOMPARE(ex->header("Last-Modified"),
                     QByteArrayLiteral("Sun, 06 Nov 1994 08:49:37 GMT"));
            QCOMPARE(ex->header("Cache-Control"), QByteArrayLiteral("max-age=60"));
        } else if (status == 200 && method == "GET") {
            QCOMPARE(ex->body(), QByteArrayLiteral("hello world\n"));
        }
    }
}

void tst_StaticFileApp::ranges_data()
{
    QTest::addColumn<FakeExchange::Headers>("headers");
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("first"); // -1: the whole file
    QTest::addColumn<int>("last");
    QTest::addColumn<QByteArray>("contentRange");

    using H = FakeExchange::Headers;
    const QByteArray etag = '"' + QByteArray::number(fixedMtime, 16) + "-64\"";
    const QByteArray get = QByteArrayLiteral("GET");
    auto range = [](const QByteArray &value) {
        return qMakePair(QByteArrayLiteral("Range"), value);
    };
    auto ifRange = [](const QByteArray &value) {
        return qMakePair(QByteArrayLiteral("If-Range"), value);
    };
    QByteArray thousand = QByteArrayLiteral("bytes=0-0");
    for (int i = 1; i < 1000; ++i)
        thousand += QByteArrayLiteral(",0-0");

    QTest::newRow("single") << H{range("bytes=0-9")} << get << 206 << 0 << 9
                            << QByteArrayLiteral("bytes 0-9/100");
    QTest::newRow("middle") << H{range("bytes=26-51")} << get << 206 << 26 << 51
                            << QByteArrayLiteral("bytes 26-51/100");
    QTest::newRow("suffix") << H{range("bytes=-10")} << get << 206 << 90 << 99
                            << QByteArrayLiteral("bytes 90-99/100");
    QTest::newRow("open") << H{range("bytes=95-")} << get << 206 << 95 << 99
                          << QByteArrayLiteral("bytes 95-99/100");
    QTest::newRow("end clamped") << H{range("bytes=95-500")} << get << 206 << 95 << 99
                                 << QByteArrayLiteral("bytes 95-99/100");
    QTest::newRow("whole as range")
        << H{range("bytes=0-")} << get << 206 << 0 << 99 << QByteArrayLiteral("bytes 0-99/100");
    QTest::newRow("overlapping") << H{range("bytes=0-50,40-60")} << get << 200 << -1 << -1
                                 << QByteArray();
    QTest::newRow("1000 ranges") << H{range(thousand)} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("past end") << H{range("bytes=100-")} << get << 416 << -1 << -1
                              << QByteArrayLiteral("bytes */100");
    QTest::newRow("zero suffix") << H{range("bytes=-0")} << get << 416 << -1 << -1
                                 << QByteArrayLiteral("bytes */100");
    QTest::newRow("huge") << H{range("bytes=99999999999-")} << get << 416 << -1 << -1
                          << QByteArrayLiteral("bytes */100");
    QTest::newRow("malformed") << H{range("bytes=a-b")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("other unit") << H{range("lines=0-1")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("reversed") << H{range("bytes=9-1")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("two Range fields")
        << H{range("bytes=0-1"), range("bytes=2-3")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("If-Range etag match") << H{range("bytes=0-9"), ifRange(etag)} << get << 206 << 0
                                         << 9 << QByteArrayLiteral("bytes 0-9/100");
    QTest::newRow("If-Range etag mismatch")
        << H{range("bytes=0-9"), ifRange("\"old\"")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("If-Range weak etag")
        << H{range("bytes=0-9"), ifRange("W/" + etag)} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("If-Range date match")
        << H{range("bytes=0-9"), ifRange("Sun, 06 Nov 1994 08:49:37 GMT")} << get << 206 << 0 << 9
        << QByteArrayLiteral("bytes 0-9/100");
    QTest::newRow("If-Range date mismatch")
        << H{range("bytes=0-9"), ifRange("Sun, 06 Nov 1994 08:49:36 GMT")} << get << 200 << -1 << -1
        << QByteArray();
    QTest::newRow("If-Range garbage")
        << H{range("bytes=0-9"), ifRange("whenever")} << get << 200 << -1 << -1 << QByteArray();
    QTest::newRow("If-Range mismatch skips 416")
        << H{range("bytes=500-"), ifRange("\"old\"")} << get << 200 << -1 << -1 << QByteArray();
    // RFC 9110 §14.2: Range is defined for GET only.
    QTest::newRow("HEAD ignores Range")
        << H{range("bytes=0-9")} << QByteArrayLiteral("HEAD") << 200 << -1 << -1 << QByteArray();
}

void tst_StaticFileApp::ranges()
{
    QFETCH(FakeExchange::Headers, headers);
    QFETCH(QByteArray, method);
    QFETCH(int, status);
    QFETCH(int, first);
    QFETCH(int, last);
    QFETCH(QByteArray, contentRange);

    StaticFileApp app(options());
    const auto ex = get(app, "/letters.txt", headers, method);
    QCOMPARE(ex->status(), status);
    QCOMPARE(ex->header("Content-Range"), contentRange);
    QCOMPARE(ex->protocolErrors(), QStringList());
    const bool head = method == "HEAD";
    if (status == 206) {
        QCOMPARE(ex->body(), m_letters.mid(first, last - first + 1));
        QCOMPARE(ex->contentLength(), qint64(last - first + 1));
        QCOMPARE(ex->header("Content-Type"), QByteArrayLiteral("text/plain; charset=utf-8"));
        QVERIFY(!ex->header("ETag").isEmpty());
    } else if (status == 200) {
        QCOMPARE(ex->body(), head ? QByteArray() : m_letters);
        QCOMPARE(ex->contentLength(), qint64(100));
    } else {
        QVERIFY(ex->sendFileCalls() == 0);
    }
}

void tst_StaticFileApp::multipart()
{
    StaticFileApp app(options());
    const auto ex = get(app, "/letters.txt", {{"Range", "bytes=0-4, 50-54,-3"}});
    QCOMPARE(ex->status(), 206);
    QVERIFY(ex->finished());
    QCOMPARE(ex->protocolErrors(), QStringList());
    const QByteArray type = ex->header("Content-Type");
    QVERIFY2(type.startsWith("multipart/byteranges; boundary="), type.constData());
    const QByteArray boundary = type.mid(type.indexOf('=') + 1);
    QVERIFY(boundary.size() >= 16);
    QVERIFY(ex->header("Content-Range").isNull());
    QCOMPARE(ex->contentLength(), qint64(ex->body().size()));

    QList<Part> parts;
    QVERIFY2(parseMultipart(ex->body(), boundary, parts), ex->body().constData());
    QCOMPARE(parts.size(), 3);
    const QList<QPair<int, int>> expected = {{0, 4}, {50, 54}, {97, 99}};
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(parts[i].contentType, QByteArrayLiteral("text/plain; charset=utf-8"));
        QCOMPARE(parts[i].contentRange, "bytes " + QByteArray::number(expected[i].first) + '-' +
                                            QByteArray::number(expected[i].second) + "/100");
        QCOMPARE(parts[i].data,
                 m_letters.mid(expected[i].first, expected[i].second - expected[i].first + 1));
    }

    // Two requests get different boundaries.
    const auto again = get(app, "/letters.txt", {{"Range", "bytes=0-1,3-4"}});
    QVERIFY(again->header("Content-Type") != type);
}

void tst_StaticFileApp::multipartBackpressure()
{
    StaticFileApp app(options());
    const qint64 size = m_big.size();
    auto ex = std::make_unique<FakeExchange>(
        "GET", "/big.bin", FakeExchange::Headers{{"Range", "bytes=0-199999,1000000-1299999,-100"}});
    ex->setHighWaterMark(100 * 1024);
    ex->setPaths({}, "/big.bin");
    QCOMPARE(app.handle(*ex), Pipeline::Outcome::Answered);
    // Back-pressure stopped the app early; it resumes only from the writable handler.
    QVERIFY(!ex->finished());
    QVERIFY(ex->hasWritableHandler());
    QVERIFY(ex->body().size() < 300 * 1024);
    const int rounds = ex->drainUntilFinished();
    QVERIFY2(rounds > 3, QByteArray::number(rounds));
    QVERIFY(ex->finished());
    QCOMPARE(ex->protocolErrors(), QStringList());

    const QByteArray type = ex->header("Content-Type");
    QList<Part> parts;
    QVERIFY(parseMultipart(ex->body(), type.mid(type.indexOf('=') + 1), parts));
    QCOMPARE(parts.size(), 3);
    QCOMPARE(parts[0].data, m_big.mid(0, 200000));
    QCOMPARE(parts[1].data, m_big.mid(1000000, 300000));
    QCOMPARE(parts[2].data, m_big.mid(size - 100));
    QCOMPARE(parts[2].contentRange, "bytes " + QByteArray::number(size - 100) + '-' +
                                        QByteArray::number(size - 1) + '/' +
                                        QByteArray::number(size));
}

void tst_StaticFileApp::multipartAbortReleasesFile()
{
    const int before = openFdCount();
    {
        StaticFileApp app(options());
        auto ex = std::make_unique<FakeExchange>(
            "GET", "/big.bin", FakeExchange::Headers{{"Range", "bytes=0-999999,2000000-"}});
        ex->setHighWaterMark(1024);
        ex->setPaths({}, "/big.bin");
        app.handle(*ex);
        QVERIFY(!ex->finished());
        QCOMPARE(openFdCount(), before + 1); // the file, held across event-loop turns
        ex->simulateClientAbort();
        QCOMPARE(openFdCount(), before);
        ex->drain(); // a late writable event after the abort must do nothing
        QVERIFY(!ex->finished());
        // And an exchange destroyed mid-stream (the engine's last word) also releases the file.
        auto dropped = std::make_unique<FakeExchange>(
            "GET", "/big.bin", FakeExchange::Headers{{"Range", "bytes=0-9,20-"}});
        dropped->setHighWaterMark(1024);
        dropped->setPaths({}, "/big.bin");
        app.handle(*dropped);
        QCOMPARE(openFdCount(), before + 1);
    }
    QCOMPARE(openFdCount(), before);
}

void tst_StaticFileApp::bigFile()
{
    StaticFileApp app(options());
    const auto ex = get(app, "/big.bin");
    QCOMPARE(ex->status(), 200);
    QCOMPARE(ex->sendFileCalls(), 1);
    QCOMPARE(ex->contentLength(), qint64(m_big.size()));
    QVERIFY(ex->body() == m_big);
    QCOMPARE(ex->header("Content-Type"), QByteArrayLiteral("application/octet-stream"));

    const auto head = get(app, "/big.bin", {}, "HEAD");
    QCOMPARE(head->status(), 200);
    QCOMPARE(head->contentLength(), qint64(m_big.size()));
    QVERIFY(head->body().isEmpty());

    const auto tail = get(app, "/big.bin", {{"Range", "bytes=-1048576"}});
    QCOMPARE(tail->status(), 206);
    QVERIFY(tail->body() == m_big.right(1048576));
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
    QVERIFY(Pipeline::AppRegistry::builtin().contains(QStringLiteral("berth.static")));
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

QTEST_GUILESS_MAIN(tst_StaticFileApp)
#include "tst_staticfileapp.moc"
