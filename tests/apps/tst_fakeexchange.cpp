#include "fakeexchange.h"

#include <QTemporaryFile>
#include <QTest>

#include <fcntl.h>
#include <unistd.h>

using Berth::Tests::FakeExchange;

// The fake other app tests rely on: it must behave like the engine where apps can tell.
class tst_FakeExchange : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void requestHead();
    void bodyChunks();
    void respondRecords();
    void headDropsBody();
    void streamingAndBackpressure();
    void sendFileReadsRange();
    void protocolErrors();
    void abortHandlerRunsOnDestruction();
};

void tst_FakeExchange::requestHead()
{
    FakeExchange ex("GET", "/a/b%20c?x=1&y",
                    {{"Host", "Example.COM"}, {"X-Multi", "1"}, {"x-multi", "2"}});
    const auto &request = ex.request();
    QCOMPARE(request.method(), QByteArrayView("GET"));
    QCOMPARE(request.head.target, QByteArrayView("/a/b%20c?x=1&y"));
    QCOMPARE(request.head.path, QByteArrayView("/a/b%20c"));
    QCOMPARE(request.query(), QByteArrayView("x=1&y"));
    QCOMPARE(request.head.host, QByteArrayView("Example.COM"));
    QCOMPARE(request.hostName, QByteArrayLiteral("example.com"));
    QCOMPARE(request.head.fields.size(), std::size_t(3));
    QCOMPARE(request.head.fields[2].value, QByteArrayView("2"));
    QCOMPARE(request.pathInfo, QByteArrayLiteral("/a/b%20c"));
    QVERIFY(!request.head.hasBody());

    ex.setPaths("/a", "/b c");
    QCOMPARE(request.path, QByteArrayLiteral("/a/b c"));
    QCOMPARE(request.scriptName, QByteArrayLiteral("/a"));
    QCOMPARE(request.pathInfo, QByteArrayLiteral("/b c"));
}

void tst_FakeExchange::bodyChunks()
{
    FakeExchange ex("POST", "/", {}, {"ab", "", "cde"});
    QCOMPARE(ex.request().head.contentLength, qint64(5));
    QByteArray got;
    int chunks = 0;
    bool ended = false;
    ex.readBody(
        [&](QByteArrayView chunk) {
            QVERIFY(!ended);
            got += chunk;
            ++chunks;
        },
        [&] { ended = true; });
    QVERIFY(ended);
    QCOMPARE(chunks, 3);
    QCOMPARE(got, QByteArrayLiteral("abcde"));
}

void tst_FakeExchange::respondRecords()
{
    FakeExchange ex;
    ex.response().setHeader("X-A", "1");
    ex.respond(201, "text/plain", "made");
    QCOMPARE(ex.status(), 201);
    QCOMPARE(ex.body(), QByteArrayLiteral("made"));
    QCOMPARE(ex.contentLength(), qint64(4));
    QCOMPARE(ex.header("content-type"), QByteArrayLiteral("text/plain"));
    QCOMPARE(ex.header("X-A"), QByteArrayLiteral("1"));
    QVERIFY(ex.header("X-B").isNull());
    QVERIFY(ex.finished());
    QCOMPARE(ex.respondCalls(), 1);
    QCOMPARE(ex.protocolErrors(), QStringList());
}

void tst_FakeExchange::headDropsBody()
{
    FakeExchange ex("HEAD", "/");
    ex.respond(200, "text/plain", "hello");
    QCOMPARE(ex.contentLength(), qint64(5));
    QVERIFY(ex.body().isEmpty());
    QCOMPARE(ex.protocolErrors(), QStringList());
}

void tst_FakeExchange::streamingAndBackpressure()
{
    FakeExchange ex;
    ex.setHighWaterMark(10);
    int resumed = 0;
    ex.setWritableHandler([&] { ++resumed; });
    ex.response().status = 200;
    ex.startResponse(-1);
    QVERIFY(ex.write("12345"));
    QVERIFY(!ex.write("67890"));
    ex.drain();
    QCOMPARE(resumed, 1);
    QVERIFY(ex.write("x"));
    ex.finish();
    QCOMPARE(ex.body(), QByteArrayLiteral("1234567890x"));
    QCOMPARE(ex.contentLength(), qint64(-1));
    QCOMPARE(ex.protocolErrors(), QStringList());
    ex.drain(); // after finish: the handler is not run again
    QCOMPARE(resumed, 1);
}

void tst_FakeExchange::sendFileReadsRange()
{
    QTemporaryFile file;
    QVERIFY(file.open());
    file.write("0123456789");
    file.flush();
    const int fd = ::open(QFile::encodeName(file.fileName()).constData(), O_RDONLY | O_CLOEXEC);
    QVERIFY(fd >= 0);
    FakeExchange ex;
    ex.sendFile(fd, 3, 4);
    QCOMPARE(ex.body(), QByteArrayLiteral("3456"));
    QCOMPARE(ex.contentLength(), qint64(4));
    QVERIFY(ex.finished());
    QCOMPARE(ex.sendFileCalls(), 1);
    QCOMPARE(::fcntl(fd, F_GETFD), -1); // closed, as the engine would
    QCOMPARE(ex.protocolErrors(), QStringList());
}

void tst_FakeExchange::protocolErrors()
{
    FakeExchange implicit;
    implicit.write("early"); // starts a streamed response, as the engine does
    QCOMPARE(implicit.contentLength(), qint64(-1));
    implicit.startResponse(10);
    QCOMPARE(implicit.protocolErrors(), QStringList(QStringLiteral("response started twice")));

    FakeExchange ex;
    ex.startResponse(10);
    ex.write("short");
    ex.finish();
    QCOMPARE(ex.protocolErrors(),
             QStringList(QStringLiteral("Content-Length 10 but 5 body bytes")));
    ex.finish();
    ex.write("late");
    QCOMPARE(ex.protocolErrors().size(), 3);
    QCOMPARE(ex.body(), QByteArrayLiteral("short")); // nothing after finish reaches the wire
}

void tst_FakeExchange::abortHandlerRunsOnDestruction()
{
    int aborted = 0;
    {
        FakeExchange ex;
        ex.setAbortHandler([&] { ++aborted; });
    }
    QCOMPARE(aborted, 1);
    {
        FakeExchange ex;
        ex.setAbortHandler([&] { ++aborted; });
        ex.respond(200, {}, {});
    }
    QCOMPARE(aborted, 1); // finished exchanges don't abort
    {
        FakeExchange ex;
        ex.setAbortHandler([&] { ++aborted; });
        ex.simulateClientAbort();
        QVERIFY(ex.aborted());
    }
    QCOMPARE(aborted, 2); // once only
}

QTEST_APPLESS_MAIN(tst_FakeExchange)
#include "tst_fakeexchange.moc"
