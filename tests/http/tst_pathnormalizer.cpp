#include "http/pathnormalizer.h"

#include <QDir>
#include <QFile>
#include <QSet>
#include <QTest>

#include <cctype>

using namespace Berth::Http;

namespace {

template <std::size_t N> QByteArray B(const char (&s)[N])
{
    return QByteArray(s, N - 1);
}

struct PathRow
{
    QByteArray name;
    QByteArray raw;
    bool ok;
    QByteArray normalized;
};

QList<PathRow> pathRows()
{
    QList<PathRow> rows;
    const auto ok = [&](const char *name, const QByteArray &raw, const QByteArray &out) {
        rows.append({name, raw, true, out});
    };
    const auto bad = [&](const char *name, const QByteArray &raw) {
        rows.append({name, raw, false, {}});
    };

    // --- plain paths
    ok("root", "/", "/");
    ok("file", "/index.html", "/index.html");
    ok("nested", "/a/b/c.txt", "/a/b/c.txt");
    ok("directory keeps trailing slash", "/a/b/", "/a/b/");
    ok("merge double slashes", "//a//b//", "/a/b/");
    ok("only slashes", "////", "/");
    ok("dot segment", "/a/./b", "/a/b");
    ok("dot at end names a directory", "/a/b/.", "/a/b/");
    ok("root dot", "/.", "/");
    ok("root dot slash", "/./", "/");
    ok("dot-dot", "/a/../b", "/b");
    ok("dot-dot at end names a directory", "/a/b/..", "/a/");
    ok("dot-dot back to root", "/a/b/../../", "/");
    ok("dot-dot after merged slashes", "/a//b/../c", "/a/c");
    ok("dotfile is a name", "/.hidden", "/.hidden");
    ok("three dots is a name", "/.../x", "/.../x");
    ok("dot-dot-x is a name", "/a/..x/.x.", "/a/..x/.x.");
    ok("tilde", "/~user/", "/~user/");
    ok("query-like bytes are the raw path's business", "/a;b=c,d", "/a;b=c,d");
    // --- percent-decoding
    ok("space", "/a%20b", "/a b");
    ok("lowercase hex", "/%7euser", "/~user");
    ok("encoded slash is a separator", "/a%2Fb", "/a/b");
    ok("encoded lowercase slash", "/a%2fb/../c", "/a/c");
    ok("encoded dot-dot resolves", "/a/%2e%2e/b", "/b");
    ok("encoded uppercase dot-dot", "/a/%2E%2E/b", "/b");
    ok("half-encoded dot-dot", "/a/.%2e/b", "/b");
    ok("encoded dot", "/a/%2e/b", "/a/b");
    ok("encoded slashes merge", "/%2F%2F", "/");
    ok("double-encoded dot-dot is a name", "/%252e%252e/", "/%2e%2e/");
    ok("double-encoded slash is a name", "/a%252Fb", "/a%2Fb");
    ok("percent sign", "/100%25", "/100%");
    ok("UTF-8 name", "/%e4%bd%a0%e5%a5%bd", "/\xe4\xbd\xa0\xe5\xa5\xbd");
    ok("raw UTF-8 bytes", "/\xc3\xa9t\xc3\xa9", "/\xc3\xa9t\xc3\xa9");
    ok("27 overlong UTF-8 dots are a name", "/%c0%ae%c0%ae/", "/\xc0\xae\xc0\xae/");
    ok("27 backslashes are a name", "/..\\..\\", "/..\\..\\");
    ok("27 double slash stays under root", "//etc/passwd", "/etc/passwd");
    ok("encoded backslash", "/a%5cb", "/a\\b");
    ok("byte 0xff", "/%ff", "/\xff");
    ok("long path", "/" + QByteArray("abc/").repeated(1000),
       "/" + QByteArray("abc/").repeated(1000));
    ok("deep dot-dots", "/" + QByteArray("a/").repeated(50) + QByteArray("../").repeated(50) + "x",
       "/x");

    // --- 27. traversal and bad encodings
    bad("27 dot-dot above root", "/../../etc/passwd");
    bad("27 encoded dot-dot above root", "/%2e%2e/%2e%2e/etc/passwd");
    bad("27 dot-dot with encoded slashes", "/..%2f..%2f");
    bad("27 dot-dot with uppercase encoded slashes", "/..%2F..%2Fetc%2Fpasswd");
    bad("27 NUL", "/a%00.html");
    bad("single dot-dot", "/..");
    bad("encoded single dot-dot", "/%2e%2e");
    bad("half-encoded dot-dot above root", "/.%2E/");
    bad("climbs after descending", "/a/../../b");
    bad("climbs at the end", "/a/b/../../..");
    bad("climbs through encoded slash", "/a%2F..%2F..%2Fb");
    bad("climbs after merged slashes", "//..//x");
    bad("empty", "");
    bad("relative", "a/b");
    bad("asterisk", "*");
    bad("encoded leading slash", "%2Fa");
    bad("absolute URI", "http://x/");
    bad("lone percent", "/%");
    bad("one hex digit", "/%2");
    bad("one hex digit then slash", "/%2/");
    bad("non-hex escape", "/%zz");
    bad("half non-hex escape", "/%2g");
    bad("sign in escape", "/%+1");
    bad("encoded LF", "/a%0ab");
    bad("encoded CR", "/a%0Db");
    bad("encoded TAB", "/a%09b");
    bad("encoded DEL", "/a%7Fb");
    bad("encoded 0x1f", "/%1f");
    bad("raw NUL", B("/a\0b"));
    bad("raw control", "/a\x01"
                       "b");
    bad("raw DEL", "/a\x7f");
    return rows;
}

// One seed file per row, named after the row.
QByteArray corpusFileName(const QByteArray &rowName)
{
    QByteArray file;
    for (char c : rowName)
        file += (std::isalnum(uchar(c)) ? c : '_');
    return file;
}

} // namespace

class TestPathNormalizer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void normalize_data();
    void normalize();
    void resultIsCanonical_data() { normalize_data(); }
    void resultIsCanonical();
    void reusesOutput();
};

void TestPathNormalizer::initTestCase()
{
    QSet<QByteArray> files;
    for (const PathRow &r : pathRows()) {
        QVERIFY2(!files.contains(corpusFileName(r.name)), "row names must differ in [A-Za-z0-9]");
        files.insert(corpusFileName(r.name));
    }
    // BERTH_WRITE_CORPUS=fuzz/corpus turns the rows into the fuzzer's seed corpus.
    const QByteArray root = qgetenv("BERTH_WRITE_CORPUS");
    if (root.isEmpty())
        return;
    QDir dir(QFile::decodeName(root));
    dir.mkpath(QStringLiteral("pathnormalizer"));
    for (const PathRow &r : pathRows()) {
        QFile f(dir.filePath(QStringLiteral("pathnormalizer/") +
                             QString::fromLatin1(corpusFileName(r.name))));
        if (f.open(QIODevice::WriteOnly))
            f.write(r.raw);
    }
}

void TestPathNormalizer::normalize_data()
{
    QTest::addColumn<QByteArray>("raw");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QByteArray>("normalized");
    for (const PathRow &r : pathRows())
        QTest::newRow(r.name.constData()) << r.raw << r.ok << r.normalized;
}

void TestPathNormalizer::normalize()
{
    QFETCH(QByteArray, raw);
    QFETCH(bool, ok);
    QFETCH(QByteArray, normalized);
    QByteArray out = "stale";
    QCOMPARE(normalizePath(raw, out), ok);
    if (ok)
        QCOMPARE(out, normalized);
    else
        QVERIFY(out.isEmpty()); // never a half-normalised path to misuse
}

void TestPathNormalizer::resultIsCanonical()
{
    // Whatever comes out starts with '/', has no dot segments, no empty segments (except
    // the trailing one of a directory), no control bytes, and is a fixed point once its
    // literal '%'s are re-encoded.
    QFETCH(QByteArray, raw);
    QByteArray out;
    if (!normalizePath(raw, out))
        return;
    QVERIFY(out.startsWith('/'));
    QVERIFY(!out.contains("//"));
    QVERIFY(!out.contains("/./"));
    QVERIFY(!out.contains("/../"));
    QVERIFY(!out.endsWith("/.") && !out.endsWith("/.."));
    for (char c : out)
        QVERIFY(uchar(c) >= 0x20 && c != 0x7f);
    QByteArray again;
    QVERIFY(normalizePath(QByteArray(out).replace("%", "%25"), again));
    QCOMPARE(again, out);
}

void TestPathNormalizer::reusesOutput()
{
    QByteArray out;
    out.reserve(256);
    const char *before = out.constData();
    QVERIFY(normalizePath("/a/b/../c", out));
    QCOMPARE(out, "/a/c");
    QCOMPARE(out.constData(), before); // the caller's capacity is reused: no allocation
    QVERIFY(normalizePath("/x", out));
    QCOMPARE(out, "/x");
}

QTEST_APPLESS_MAIN(TestPathNormalizer)
#include "tst_pathnormalizer.moc"
