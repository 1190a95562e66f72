#include "apps/proxy/memberrequest.h"
#include "apps/proxy/proxyapp.h"

#include "fakeexchange.h"

#include <QTest>

using namespace Berth::Gateway;
using Berth::Tests::FakeExchange;

namespace {

GroupRuntime makeGroup(const QString &host = QStringLiteral("pass"))
{
    GroupRuntime group;
    group.settings.name = QStringLiteral("@g");
    group.settings.host = host;
    group.memberHostHeaders.append(QByteArrayLiteral("10.0.0.5:5001"));
    return group;
}

QByteArray head(const GroupRuntime &group, FakeExchange &exchange,
                const MemberHeadOptions &options = {})
{
    QByteArray out = "stale bytes of an earlier head";
    buildMemberHead(group, 0, exchange.request(), options, out);
    return out;
}

QList<QByteArray> lines(const QByteArray &head)
{
    QList<QByteArray> out = head.split('\n');
    for (QByteArray &line : out)
        line.chop(1); // the CR
    return out;
}

} // namespace

class TestMemberRequest : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void requestLineHostAndForwarding()
    {
        GroupRuntime group = makeGroup();
        FakeExchange exchange("GET", "/a/b?x=1",
                              {{"Host", "example.com"},
                               {"Accept", "*/*"},
                               {"Connection", "keep-alive, X-Secret"},
                               {"X-Secret", "1"},
                               {"Keep-Alive", "timeout=5"},
                               {"TE", "trailers"},
                               {"X-Forwarded-For", "6.6.6.6"},
                               {"X-Berth-Txn", "forged"}});
        exchange.request().peerAddress = QHostAddress(QStringLiteral("::ffff:192.0.2.7"));
        exchange.request().txnId = "txn-1";
        const QByteArray out = head(group, exchange);
        QVERIFY(out.endsWith("\r\n\r\n"));
        const QList<QByteArray> l = lines(out);
        QCOMPARE(l[0], QByteArray("GET /a/b?x=1 HTTP/1.1"));
        QCOMPARE(l[1], QByteArray("Host: example.com"));
        QVERIFY(l.contains("Accept: */*"));
        for (const char *gone : {"Connection", "X-Secret", "Keep-Alive", "TE", "6.6.6.6", "forged"})
            QVERIFY2(!out.contains(gone), gone);
        QVERIFY(l.contains("X-Forwarded-For: 192.0.2.7")); // an untrusted chain is replaced
        QVERIFY(l.contains("X-Forwarded-Proto: http"));
        QVERIFY(l.contains("X-Forwarded-Host: example.com"));
        QVERIFY(l.contains("Forwarded: for=192.0.2.7;proto=http;host=example.com"));
        QVERIFY(l.contains("X-Berth-Txn: txn-1"));
        QVERIFY(!out.contains("Content-Length"));
    }

    void trustedChainIsKept()
    {
        GroupRuntime group = makeGroup();
        FakeExchange exchange("GET", "/",
                              {{"Host", "h"},
                               {"X-Forwarded-For", "1.1.1.1"},
                               {"X-Forwarded-For", "2.2.2.2"},
                               {"Forwarded", "for=1.1.1.1"},
                               {"X-Forwarded-Proto", "https"}});
        exchange.request().forwardedFor = true;
        exchange.request().peerAddress = QHostAddress(QStringLiteral("2001:db8::1"));
        const QList<QByteArray> l = lines(head(group, exchange));
        QVERIFY(l.contains("X-Forwarded-For: 1.1.1.1, 2.2.2.2"));
        QVERIFY(l.contains("Forwarded: for=1.1.1.1"));
        QVERIFY(l.contains("X-Forwarded-Proto: https"));
    }

    void hostModesAndStripPrefix()
    {
        GroupRuntime member = makeGroup(QStringLiteral("member"));
        member.settings.stripPrefix = true;
        FakeExchange exchange("GET", "/api/users", {{"Host", "example.com"}});
        exchange.setPaths("/api", "/users");
        exchange.request().peerAddress = QHostAddress(QStringLiteral("2001:db8::1"));
        QList<QByteArray> l = lines(head(member, exchange));
        QCOMPARE(l[0], QByteArray("GET /users HTTP/1.1"));
        QCOMPARE(l[1], QByteArray("Host: 10.0.0.5:5001"));
        QVERIFY(l.contains("Forwarded: for=\"[2001:db8::1]\";proto=http;host=example.com"));
        GroupRuntime named = makeGroup(QStringLiteral("internal.example"));
        l = lines(head(named, exchange));
        QCOMPARE(l[0], QByteArray("GET /api/users HTTP/1.1"));
        QCOMPARE(l[1], QByteArray("Host: internal.example"));
    }

    void bodyFraming()
    {
        GroupRuntime group = makeGroup();
        FakeExchange post("POST", "/p",
                          {{"Host", "h"}, {"Content-Length", "5"}, {"Expect", "100-continue"}});
        post.request().head.contentLength = 5;
        MemberHeadOptions options;
        options.body = MemberHeadOptions::Body::Length;
        QByteArray out = head(group, post, options);
        QVERIFY(out.contains("\r\nContent-Length: 5\r\n"));
        QVERIFY(!out.contains("Expect"));
        QCOMPARE(out.count("Content-Length"), 1);
        options.body = MemberHeadOptions::Body::Chunked;
        out = head(group, post, options);
        QVERIFY(out.contains("\r\nTransfer-Encoding: chunked\r\n"));
        QVERIFY(!out.contains("Content-Length"));
        out = head(group, post); // no body: an explicit zero for a POST
        QVERIFY(out.contains("\r\nContent-Length: 0\r\n"));
    }

    void backgroundRefresh()
    {
        GroupRuntime group = makeGroup();
        FakeExchange exchange("HEAD", "/r",
                              {{"Host", "h"},
                               {"If-None-Match", "\"client\""},
                               {"If-Modified-Since", "x"},
                               {"Accept", "a"}});
        MemberHeadOptions options;
        options.refresh = true;
        options.conditionalFields = "If-None-Match: \"stored\"\r\n";
        const QByteArray out = head(group, exchange, options);
        const QList<QByteArray> l = lines(out);
        QCOMPARE(l[0], QByteArray("GET /r HTTP/1.1"));
        QVERIFY(l.contains("Accept: a"));
        QVERIFY(l.contains("If-None-Match: \"stored\""));
        QVERIFY(!out.contains("client") && !out.contains("If-Modified-Since"));
        QVERIFY(!out.contains("X-Forwarded") && !out.contains("Forwarded"));
    }

    void upgrade()
    {
        GroupRuntime group = makeGroup();
        FakeExchange exchange("CONNECT", "/ws", {{"Host", "h"}});
        MemberHeadOptions options;
        options.upgrade = true;
        const QList<QByteArray> l = lines(head(group, exchange, options));
        QCOMPARE(l[0], QByteArray("GET /ws HTTP/1.1"));
        QVERIFY(l.contains("Connection: Upgrade"));
        QVERIFY(l.contains("Upgrade: websocket"));
        QVERIFY(l.contains("Sec-WebSocket-Version: 13"));
        bool key = false;
        for (const QByteArray &line : l)
            key = key || (line.startsWith("Sec-WebSocket-Key: ") && line.size() == 19 + 24);
        QVERIFY(key);
    }
};

QTEST_GUILESS_MAIN(TestMemberRequest)
#include "tst_memberrequest.moc"
