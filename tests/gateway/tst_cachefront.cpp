#include "apps/proxy/cache/cachefront.h"
#include "apps/proxy/cache/cachepolicy.h"
#include "upstream/responsehead.h"

#include "fakeexchange.h"

#include <QTest>

using namespace Berth::Gateway::Cache;
using Berth::Tests::FakeExchange;

namespace {

std::shared_ptr<GroupCache> makeCache()
{
    auto cache = std::make_shared<GroupCache>();
    cache->group = QStringLiteral("@t");
    cache->ttlMs = 60000;
    cache->maxEntry = 1 << 20;
    cache->lockTimeoutMs = 5000;
    cache->store = ResponseStore::local(1 << 20);
    return cache;
}

Berth::Upstream::ResponseHead memberHead(int status, Fields fields, qint64 length)
{
    Berth::Upstream::ResponseHead head;
    head.status = status;
    head.setFields(fields);
    head.contentLength = length;
    return head;
}

// What ProxyCall does with the member's answer, without the member.
void relay(Transaction &t, FakeExchange &exchange, const Berth::Upstream::ResponseHead &head,
           const QByteArray &body)
{
    if (t.answerFromHead(exchange, head))
        return;
    exchange.response().clear();
    exchange.response().status = head.status;
    for (const auto &[name, value] : head.fields)
        exchange.response().addHeader(name, value);
    t.responseHead(exchange, head);
    exchange.startResponse(body.size());
    exchange.write(body);
    t.responseData(body);
    t.responseEnd();
    exchange.finish();
}

struct Begun
{
    bool proceeded = false;
    std::unique_ptr<Transaction> transaction;
};

Begun begin(const std::shared_ptr<GroupCache> &cache, FakeExchange &exchange)
{
    auto begun = std::make_shared<Begun>();
    Transaction::begin(cache, exchange, [begun](std::unique_ptr<Transaction> t) {
        begun->proceeded = true;
        begun->transaction = std::move(t);
    });
    Begun out;
    out.proceeded = begun->proceeded;
    out.transaction = std::move(begun->transaction);
    return out;
}

} // namespace

class TestCacheFront : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void missStoresThenHitServes()
    {
        auto cache = makeCache();
        FakeExchange first("GET", "/a?x=1", {{"Host", "h"}});
        Begun b = begin(cache, first);
        QVERIFY(b.proceeded && b.transaction);
        QVERIFY(b.transaction->conditionalFields().isEmpty());
        relay(*b.transaction, first, memberHead(200, {{"Cache-Control", "max-age=60"}}, 5),
              "hello");
        QCOMPARE(first.header("X-Cache"), QByteArray("MISS"));

        FakeExchange second("GET", "/a?x=1", {{"Host", "h"}});
        QVERIFY(!begin(cache, second).proceeded);
        QCOMPARE(second.status(), 200);
        QCOMPARE(second.header("X-Cache"), QByteArray("HIT"));
        QCOMPARE(second.header("Cache-Control"), QByteArray("max-age=60"));
        QVERIFY(!second.header("Age").isNull());
        QCOMPARE(second.body(), QByteArray("hello"));
        QVERIFY(second.protocolErrors().isEmpty());

        FakeExchange otherHost("GET", "/a?x=1", {{"Host", "other"}});
        QVERIFY(begin(cache, otherHost).proceeded); // the host is part of the key
    }

    void freshHitAnswersConditionalRequestsWith304()
    {
        auto cache = makeCache();
        FakeExchange first("GET", "/v", {{"Host", "h"}});
        Begun b = begin(cache, first);
        relay(*b.transaction, first,
              memberHead(200,
                         {{"Cache-Control", "max-age=60"},
                          {"ETag", "W/\"v1\""},
                          {"Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"},
                          {"Content-Type", "text/plain"}},
                         5),
              "hello");

        // A matching tag (weak comparison, one of a list): 304 with the validators, no body.
        FakeExchange tagged("GET", "/v", {{"Host", "h"}, {"If-None-Match", "\"x\", \"v1\""}});
        QVERIFY(!begin(cache, tagged).proceeded);
        QCOMPARE(tagged.status(), 304);
        QCOMPARE(tagged.header("X-Cache"), QByteArray("HIT"));
        QCOMPARE(tagged.header("ETag"), QByteArray("W/\"v1\""));
        QCOMPARE(tagged.header("Cache-Control"), QByteArray("max-age=60"));
        QCOMPARE(tagged.header("Last-Modified"), QByteArray("Sun, 06 Nov 1994 08:49:37 GMT"));
        QVERIFY(!tagged.header("Age").isNull());
        QVERIFY(tagged.header("Content-Type").isNull());
        QVERIFY(tagged.body().isEmpty());

        FakeExchange star("HEAD", "/v", {{"Host", "h"}, {"If-None-Match", "*"}});
        QVERIFY(!begin(cache, star).proceeded);
        QCOMPARE(star.status(), 304);

        // Another tag: the full response, even with a matching date (If-None-Match decides).
        FakeExchange other("GET", "/v",
                           {{"Host", "h"},
                            {"If-None-Match", "\"v2\""},
                            {"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}});
        QVERIFY(!begin(cache, other).proceeded);
        QCOMPARE(other.status(), 200);
        QCOMPARE(other.body(), QByteArray("hello"));

        FakeExchange since("GET", "/v",
                           {{"Host", "h"}, {"If-Modified-Since", "Mon, 07 Nov 1994 08:00:00 GMT"}});
        QVERIFY(!begin(cache, since).proceeded);
        QCOMPARE(since.status(), 304);
        QVERIFY(since.body().isEmpty());

        FakeExchange older("GET", "/v",
                           {{"Host", "h"}, {"If-Modified-Since", "Sat, 05 Nov 1994 08:00:00 GMT"}});
        QVERIFY(!begin(cache, older).proceeded);
        QCOMPARE(older.status(), 200);
        QCOMPARE(older.body(), QByteArray("hello"));

        FakeExchange badDate("GET", "/v", {{"Host", "h"}, {"If-Modified-Since", "yesterday"}});
        QVERIFY(!begin(cache, badDate).proceeded);
        QCOMPARE(badDate.status(), 200);
    }

    void concurrentMissesWaitForTheFirst()
    {
        auto cache = makeCache();
        FakeExchange first("GET", "/c", {{"Host", "h"}});
        Begun fetching = begin(cache, first);
        QVERIFY(fetching.proceeded);
        FakeExchange second("GET", "/c", {{"Host", "h"}});
        QVERIFY(!begin(cache, second).proceeded); // waiting, not at the member
        QVERIFY(!second.started());
        relay(*fetching.transaction, first, memberHead(200, {}, 3), "one");
        second.runTimers();
        QCOMPARE(second.header("X-Cache"), QByteArray("HIT"));
        QCOMPARE(second.body(), QByteArray("one"));
    }

    void abandonedFetchLetsTheWaiterGo()
    {
        auto cache = makeCache();
        FakeExchange first("GET", "/g", {{"Host", "h"}});
        Begun fetching = begin(cache, first);
        FakeExchange second("GET", "/g", {{"Host", "h"}});
        auto proceeded = std::make_shared<bool>(false);
        Transaction::begin(cache, second,
                           [proceeded](std::unique_ptr<Transaction>) { *proceeded = true; });
        fetching.transaction.reset(); // the member failed: the claim ends
        second.runTimers();
        QVERIFY(*proceeded);
    }

    void notModifiedRefreshesTheEntry()
    {
        auto cache = makeCache();
        FakeExchange first("GET", "/r", {{"Host", "h"}});
        Begun b = begin(cache, first);
        relay(*b.transaction, first,
              memberHead(200, {{"Cache-Control", "no-cache"}, {"ETag", "\"v1\""}}, 4), "body");
        FakeExchange second("GET", "/r", {{"Host", "h"}});
        Begun again = begin(cache, second);
        QVERIFY(again.proceeded);
        QCOMPARE(again.transaction->conditionalFields(), QByteArray("If-None-Match: \"v1\"\r\n"));
        relay(*again.transaction, second, memberHead(304, {{"ETag", "\"v1\""}, {"X-New", "1"}}, -1),
              {});
        QCOMPARE(second.status(), 200);
        QCOMPARE(second.header("X-Cache"), QByteArray("REVALIDATED"));
        QCOMPARE(second.header("X-New"), QByteArray("1"));
        QCOMPARE(second.body(), QByteArray("body"));
    }

    void requestDirectives()
    {
        auto cache = makeCache();
        FakeExchange onlyIfCached("GET", "/o",
                                  {{"Host", "h"}, {"Cache-Control", "only-if-cached"}});
        QVERIFY(!begin(cache, onlyIfCached).proceeded);
        QCOMPARE(onlyIfCached.status(), 504);
        FakeExchange authorised("GET", "/o", {{"Host", "h"}, {"Authorization", "Bearer x"}});
        Begun b = begin(cache, authorised);
        QVERIFY(b.proceeded);
        relay(*b.transaction, authorised, memberHead(200, {}, 1), "x");
        QCOMPARE(authorised.header("X-Cache"), QByteArray("BYPASS"));
        FakeExchange plain("GET", "/o", {{"Host", "h"}});
        QVERIFY(begin(cache, plain).proceeded); // the authorised response was not stored
    }

    void oversizedResponseIsNotStored()
    {
        auto cache = makeCache();
        cache->maxEntry = 4;
        FakeExchange first("GET", "/big", {{"Host", "h"}});
        Begun b = begin(cache, first);
        relay(*b.transaction, first, memberHead(200, {}, -1), "too long");
        QCOMPARE(first.body(), QByteArray("too long")); // still streamed to the client
        FakeExchange second("GET", "/big", {{"Host", "h"}});
        QVERIFY(begin(cache, second).proceeded);
    }
};

QTEST_GUILESS_MAIN(TestCacheFront)
#include "tst_cachefront.moc"
