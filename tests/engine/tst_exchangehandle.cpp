// Exchange handles across the lives of a reused exchange object, and the shared response values
// an async app (the gateway's proxy) adds without copying.
#include "fakeexchange.h"

#include "http/exchange.h"
#include "http/response.h"

#include <QTest>

using namespace Berth;
using Berth::Tests::FakeExchange;

class tst_ExchangeHandle : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void handleTurnsNullWhenTheLifeEnds();
    void anAnchorNobodyHoldsServesTheNextLife();
    void aHeldHandleNeverSeesTheNextLife();
    void addSharedHeaderKeepsTheValue();
};

void tst_ExchangeHandle::handleTurnsNullWhenTheLifeEnds()
{
    FakeExchange exchange;
    const Http::ExchangeHandle handle = exchange.handle();
    QCOMPARE(handle.get(), &exchange);
    exchange.endLifeNow();
    QVERIFY(!handle);
}

void tst_ExchangeHandle::anAnchorNobodyHoldsServesTheNextLife()
{
    FakeExchange exchange;
    {
        const Http::ExchangeHandle handle = exchange.handle();
        QCOMPARE(handle.get(), &exchange);
    }
    exchange.endLifeNow(); // no handle left: the anchor is kept for the next life
    Http::ExchangeHandle next = exchange.handle();
    QCOMPARE(next.get(), &exchange);
    exchange.endLifeNow(); // held: this handle turns null, the next life gets a new anchor
    QVERIFY(!next);
    QCOMPARE(exchange.handle().get(), &exchange);
    QVERIFY(!next);
}

void tst_ExchangeHandle::aHeldHandleNeverSeesTheNextLife()
{
    FakeExchange exchange;
    Http::ExchangeHandle old = exchange.handle();
    Http::ExchangeHandle copy = old;
    exchange.endLifeNow();
    QVERIFY(!old);
    QVERIFY(!copy);
    // The next request on the same exchange object.
    const Http::ExchangeHandle fresh = exchange.handle();
    QCOMPARE(fresh.get(), &exchange);
    QVERIFY(!old);
    QVERIFY(!copy);
    // Dropping the old handles later does not revive them either.
    old = {};
    exchange.endLifeNow();
    QVERIFY(!fresh);
    QVERIFY(!copy);
}

void tst_ExchangeHandle::addSharedHeaderKeepsTheValue()
{
    Http::Response response;
    const QByteArray value = QByteArrayLiteral("\"5f3a-400\"");
    response.addSharedHeader("ETag", value);
    response.addSharedHeader("ETag", value); // appended, not replaced
    QCOMPARE(response.headers().size(), size_t(2));
    QCOMPARE(response.headers()[0].second.constData(), value.constData()); // no copy
    QCOMPARE(response.header("etag"), QByteArrayView(value));
}

QTEST_GUILESS_MAIN(tst_ExchangeHandle)
#include "tst_exchangehandle.moc"
