#pragma once

// The file tree the static file app tests run against, shared by tst_staticfileapp (paths,
// security, directories, configuration) and tst_staticfileranges (validators, conditional
// requests, ranges, streaming). Built once per test binary in a QTemporaryDir.

#include "apps/staticfiles/staticfileapp.h"
#include "fakeexchange.h"

#include <QDir>
#include <QFile>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

namespace Berth::Tests {

using Apps::StaticFileApp;

inline constexpr qint64 fixedMtime = 784111777; // Sun, 06 Nov 1994 08:49:37 GMT
inline const QByteArray secret = QByteArrayLiteral("TOP SECRET\n");

struct Part
{
    QByteArray contentType;
    QByteArray contentRange;
    QByteArray data;
};

// Splits a multipart/byteranges body strictly: any deviation from the layout fails.
inline bool parseMultipart(const QByteArray &body, const QByteArray &boundary, QList<Part> &parts)
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

inline int openFdCount()
{
    return int(QDir(QStringLiteral("/proc/self/fd")).entryList(QDir::Files | QDir::System).size());
}

class StaticFixture
{
protected:
    // Call from initTestCase(); failures are reported through QTest.
    void setUpFixture();
    // Runs one request through app, with request.scriptName / pathInfo set as the router would.
    std::unique_ptr<FakeExchange> get(StaticFileApp &app, const QByteArray &pathInfo,
                                      const FakeExchange::Headers &headers = {},
                                      const QByteArray &method = QByteArrayLiteral("GET"),
                                      const QByteArray &scriptName = {},
                                      const QByteArray &query = {});
    StaticFileApp::Options options(bool dotfiles = false, bool follow = false) const;

    QTemporaryDir m_dir;
    QString m_root;       // m_dir/www; m_dir/outside and m_dir/www-secret must never be served
    QByteArray m_letters; // letters.txt: 100 bytes, A..Z repeating
    QByteArray m_big;     // big.bin: 5 MiB of noise
    QByteArray m_etag;    // of hello.txt
};

inline void StaticFixture::setUpFixture()
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
    link(m_root + QStringLiteral("/hello.txt"), m_root + QStringLiteral("/link-abs-in"));
    link(QStringLiteral("../../outside/secret.txt"),
         m_root + QStringLiteral("/index-escape/index.html"));
    QVERIFY(::mkfifo(QFile::encodeName(m_root + QStringLiteral("/fifo")).constData(), 0644) == 0);

    // Fixed times make Last-Modified and the ETag predictable.
    const timeval times[2] = {{fixedMtime, 0}, {fixedMtime, 0}};
    for (const char *name : {"/hello.txt", "/letters.txt", "/big.bin", "/index.html"})
        QVERIFY(::utimes(QFile::encodeName(m_root + QLatin1String(name)).constData(), times) == 0);
    m_etag = '"' + QByteArray::number(fixedMtime, 16) + "-c\"";
}

inline StaticFileApp::Options StaticFixture::options(bool dotfiles, bool follow) const
{
    StaticFileApp::Options o;
    o.root = m_root;
    o.allowDotfiles = dotfiles;
    o.followSymlinks = follow;
    return o;
}

inline std::unique_ptr<FakeExchange>
StaticFixture::get(StaticFileApp &app, const QByteArray &pathInfo,
                   const FakeExchange::Headers &headers, const QByteArray &method,
                   const QByteArray &scriptName, const QByteArray &query)
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

} // namespace Berth::Tests
