#include "http/mimetypes.h"

#include <QTest>

using namespace Berth::Http;

class tst_MimeTypes : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void lookup_data();
    void lookup();
    void returnsStaticStorage();
    void parseMimeTypesFormat();
    void parseMimeTypesReportsBadLine();
    void installedEntriesWin();
};

void tst_MimeTypes::lookup_data()
{
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<QByteArray>("expected");

    const QByteArray html = QByteArrayLiteral("text/html; charset=utf-8");
    const QByteArray js = QByteArrayLiteral("text/javascript; charset=utf-8");
    const QByteArray octet = QByteArrayLiteral("application/octet-stream");

    QTest::newRow("html") << QByteArrayLiteral("/index.html") << html;
    QTest::newRow("htm") << QByteArrayLiteral("/old/page.htm") << html;
    QTest::newRow("upper case") << QByteArrayLiteral("/INDEX.HTML") << html;
    QTest::newRow("mixed case") << QByteArrayLiteral("photo.JpEg")
                                << QByteArrayLiteral("image/jpeg");
    QTest::newRow("css") << QByteArrayLiteral("/s/site.css")
                         << QByteArrayLiteral("text/css; charset=utf-8");
    QTest::newRow("js") << QByteArrayLiteral("/app.js") << js;
    QTest::newRow("mjs") << QByteArrayLiteral("/module.mjs") << js;
    QTest::newRow("json") << QByteArrayLiteral("/data.json")
                          << QByteArrayLiteral("application/json");
    QTest::newRow("source map") << QByteArrayLiteral("/app.js.map")
                                << QByteArrayLiteral("application/json");
    QTest::newRow("txt") << QByteArrayLiteral("/robots.txt")
                         << QByteArrayLiteral("text/plain; charset=utf-8");
    QTest::newRow("xml") << QByteArrayLiteral("/sitemap.xml")
                         << QByteArrayLiteral("application/xml");
    QTest::newRow("svg") << QByteArrayLiteral("/logo.svg") << QByteArrayLiteral("image/svg+xml");
    QTest::newRow("png") << QByteArrayLiteral("/a.png") << QByteArrayLiteral("image/png");
    QTest::newRow("jpg") << QByteArrayLiteral("/a.jpg") << QByteArrayLiteral("image/jpeg");
    QTest::newRow("gif") << QByteArrayLiteral("/a.gif") << QByteArrayLiteral("image/gif");
    QTest::newRow("webp") << QByteArrayLiteral("/a.webp") << QByteArrayLiteral("image/webp");
    QTest::newRow("avif") << QByteArrayLiteral("/a.avif") << QByteArrayLiteral("image/avif");
    QTest::newRow("ico") << QByteArrayLiteral("/favicon.ico") << QByteArrayLiteral("image/x-icon");
    QTest::newRow("woff") << QByteArrayLiteral("/f.woff") << QByteArrayLiteral("font/woff");
    QTest::newRow("woff2") << QByteArrayLiteral("/f.woff2") << QByteArrayLiteral("font/woff2");
    QTest::newRow("ttf") << QByteArrayLiteral("/f.ttf") << QByteArrayLiteral("font/ttf");
    QTest::newRow("otf") << QByteArrayLiteral("/f.otf") << QByteArrayLiteral("font/otf");
    QTest::newRow("pdf") << QByteArrayLiteral("/doc.pdf") << QByteArrayLiteral("application/pdf");
    QTest::newRow("zip") << QByteArrayLiteral("/a.zip") << QByteArrayLiteral("application/zip");
    QTest::newRow("tar.gz uses last")
        << QByteArrayLiteral("/a.tar.gz") << QByteArrayLiteral("application/gzip");
    QTest::newRow("tar") << QByteArrayLiteral("/a.tar") << QByteArrayLiteral("application/x-tar");
    QTest::newRow("mp4") << QByteArrayLiteral("/v.mp4") << QByteArrayLiteral("video/mp4");
    QTest::newRow("webm") << QByteArrayLiteral("/v.webm") << QByteArrayLiteral("video/webm");
    QTest::newRow("mp3") << QByteArrayLiteral("/s.mp3") << QByteArrayLiteral("audio/mpeg");
    QTest::newRow("ogg") << QByteArrayLiteral("/s.ogg") << QByteArrayLiteral("audio/ogg");
    QTest::newRow("wasm") << QByteArrayLiteral("/m.wasm") << QByteArrayLiteral("application/wasm");
    QTest::newRow("md") << QByteArrayLiteral("/README.md")
                        << QByteArrayLiteral("text/markdown; charset=utf-8");
    QTest::newRow("csv") << QByteArrayLiteral("/t.csv")
                         << QByteArrayLiteral("text/csv; charset=utf-8");
    QTest::newRow("first entry") << QByteArrayLiteral("/a.7z")
                                 << QByteArrayLiteral("application/x-7z-compressed");
    QTest::newRow("last entry") << QByteArrayLiteral("/a.zst")
                                << QByteArrayLiteral("application/zstd");
    QTest::newRow("longest") << QByteArrayLiteral("/site.webmanifest")
                             << QByteArrayLiteral("application/manifest+json");

    QTest::newRow("unknown") << QByteArrayLiteral("/a.unknownext") << octet;
    QTest::newRow("no extension") << QByteArrayLiteral("/Makefile") << octet;
    QTest::newRow("trailing dot") << QByteArrayLiteral("/file.") << octet;
    QTest::newRow("dotfile") << QByteArrayLiteral("/.html") << octet;
    QTest::newRow("dot in directory only") << QByteArrayLiteral("/dir.html/readme") << octet;
    QTest::newRow("empty") << QByteArray() << octet;
    QTest::newRow("directory") << QByteArrayLiteral("/docs/") << octet;
    QTest::newRow("very long extension")
        << QByteArrayLiteral("/a.") + QByteArray(10000, 'h') << octet;
    QTest::newRow("prefix of an extension") << QByteArrayLiteral("/a.ht") << octet;
    QTest::newRow("extension plus more") << QByteArrayLiteral("/a.htmlx") << octet;
    QTest::newRow("NUL byte") << QByteArray("/a.ht\0ml", 8) << octet;
    QTest::newRow("high bytes") << QByteArrayLiteral("/a.\xc3\xa9") << octet;
}

void tst_MimeTypes::lookup()
{
    QFETCH(QByteArray, path);
    QFETCH(QByteArray, expected);
    QCOMPARE(mimeTypeForPath(path).toByteArray(), expected);
}

void tst_MimeTypes::returnsStaticStorage()
{
    // Callers may keep the view after the path is gone.
    QByteArrayView type;
    {
        QByteArray path = QByteArrayLiteral("/x.css");
        type = mimeTypeForPath(path);
        path.fill('z');
    }
    QCOMPARE(type, QByteArrayView("text/css; charset=utf-8"));
}

void tst_MimeTypes::parseMimeTypesFormat()
{
    int bad = -1;
    const MimeTypeMap map = parseMimeTypes("# MIME type\tExtensions\n"
                                           "\n"
                                           "image/jxl\t\t\t\t\tjxl\n"
                                           "Model/GLTF-Binary glb  # trailing comment\n"
                                           "application/vnd.debian.binary-package deb udeb\n"
                                           "text/x-special SPC .dotted\n"
                                           "application/x-nothing\n"
                                           "image/jxl jxl2\n"
                                           "audio/first dup\n"
                                           "audio/second dup\r\n",
                                           &bad);
    QCOMPARE(bad, 0);
    QCOMPARE(map.value("jxl"), QByteArray("image/jxl"));
    QCOMPARE(map.value("jxl2"), QByteArray("image/jxl"));
    QCOMPARE(map.value("glb"), QByteArray("model/gltf-binary"));
    QCOMPARE(map.value("deb"), QByteArray("application/vnd.debian.binary-package"));
    QCOMPARE(map.value("udeb"), QByteArray("application/vnd.debian.binary-package"));
    // text/* gets the charset the built-in text types have.
    QCOMPARE(map.value("spc"), QByteArray("text/x-special; charset=utf-8"));
    QCOMPARE(map.value("dotted"), QByteArray("text/x-special; charset=utf-8"));
    QCOMPARE(map.value("dup"), QByteArray("audio/second")); // a later line wins
    QVERIFY(!map.contains("application/x-nothing"));
    QCOMPARE(map.size(), 8);
}

void tst_MimeTypes::parseMimeTypesReportsBadLine()
{
    int bad = -1;
    parseMimeTypes("image/png png\nnot-a-type foo\n/x y\n", &bad);
    QCOMPARE(bad, 2);
    parseMimeTypes("a/b/c d\n", &bad);
    QCOMPARE(bad, 1);
}

void tst_MimeTypes::installedEntriesWin()
{
    installMimeTypes(parseMimeTypes("text/x-mine css\nimage/jxl jxl\n"));
    QCOMPARE(mimeTypeForPath("/a.CSS").toByteArray(), QByteArray("text/x-mine; charset=utf-8"));
    QCOMPARE(mimeTypeForPath("/a.jxl").toByteArray(), QByteArray("image/jxl"));
    QCOMPARE(mimeTypeForPath("/a.png").toByteArray(), QByteArray("image/png")); // built-in
    // A view taken before a replacement stays valid.
    const QByteArrayView before = mimeTypeForPath("/a.jxl");
    installMimeTypes(parseMimeTypes("image/x-other jxl\n"));
    QCOMPARE(before, QByteArrayView("image/jxl"));
    QCOMPARE(mimeTypeForPath("/a.jxl").toByteArray(), QByteArray("image/x-other"));
    installMimeTypes({});
    QCOMPARE(mimeTypeForPath("/a.jxl").toByteArray(), QByteArray("application/octet-stream"));
    QCOMPARE(mimeTypeForPath("/a.css").toByteArray(), QByteArray("text/css; charset=utf-8"));
}

QTEST_APPLESS_MAIN(tst_MimeTypes)
#include "tst_mimetypes.moc"
