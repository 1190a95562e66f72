// Request attributes: typed slots that features attach to a request (Http::Identity here; the
// session slot is exercised through berth.session in tests/sessions and the engine's release at
// exchange end in tests/engine).
#include "http/identity.h"
#include "http/request.h"

#include <QTest>

#include <memory>

using namespace Berth::Http;

namespace {

// Two key types that hold the same data: slots are told apart by type, not by layout.
struct RouteData
{
    int id = 0;
};
struct OtherRouteData
{
    int id = 0;
};

// Counts its live instances, to see when a slot releases what it owns.
struct Tracked
{
    explicit Tracked(std::shared_ptr<int> counter)
        : live(std::move(counter))
    {
        ++*live;
    }
    Tracked(Tracked &&other) noexcept = default;
    ~Tracked()
    {
        if (live)
            --*live;
    }
    std::shared_ptr<int> live;
};

} // namespace

class tst_RequestAttributes : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void absentIsNull();
    void setThenGet();
    void setReplaces();
    void typesAreSeparateSlots();
    void getOrSetCreatesOnce();
    void removeDropsOneSlot();
    void clearReleasesOwnedValues();
    void moveOnlyValues();
    void clearPerExchangeDropsSlots();
    void identityHelpers();
};

void tst_RequestAttributes::absentIsNull()
{
    RequestAttributes attributes;
    QVERIFY(attributes.isEmpty());
    QCOMPARE(attributes.get<RouteData>(), nullptr);
    QCOMPARE(attributes.get<Identity>(), nullptr);
    const Request request;
    QVERIFY(request.attributes.isEmpty());
    QCOMPARE(request.attributes.get<Identity>(), nullptr);
}

void tst_RequestAttributes::setThenGet()
{
    RequestAttributes attributes;
    RouteData &set = attributes.set(RouteData{7});
    QCOMPARE(set.id, 7);
    RouteData *got = attributes.get<RouteData>();
    QVERIFY(got);
    QCOMPARE(got, &set);
    QCOMPARE(got->id, 7);
    got->id = 8; // the slot is the app's to change
    QCOMPARE(attributes.get<RouteData>()->id, 8);
    QCOMPARE(attributes.size(), std::size_t(1));
}

void tst_RequestAttributes::setReplaces()
{
    RequestAttributes attributes;
    attributes.set(RouteData{1});
    attributes.set(RouteData{2});
    QCOMPARE(attributes.size(), std::size_t(1));
    QCOMPARE(attributes.get<RouteData>()->id, 2);
}

void tst_RequestAttributes::typesAreSeparateSlots()
{
    RequestAttributes attributes;
    attributes.set(RouteData{1});
    QCOMPARE(attributes.get<OtherRouteData>(), nullptr);
    attributes.set(OtherRouteData{2});
    attributes.set(Identity{QStringLiteral("alice"), QStringLiteral("tok")});
    QCOMPARE(attributes.size(), std::size_t(3));
    QCOMPARE(attributes.get<RouteData>()->id, 1);
    QCOMPARE(attributes.get<OtherRouteData>()->id, 2);
    QCOMPARE(attributes.get<Identity>()->user, QStringLiteral("alice"));
    QCOMPARE(attributes.get<Identity>()->token, QStringLiteral("tok"));
}

void tst_RequestAttributes::getOrSetCreatesOnce()
{
    RequestAttributes attributes;
    Identity &first = attributes.getOrSet<Identity>();
    QVERIFY(first.user.isEmpty());
    first.token = QStringLiteral("tok");
    Identity &second = attributes.getOrSet<Identity>();
    QCOMPARE(&second, &first);
    second.user = QStringLiteral("bob"); // an auth app after a gateway keeps the token
    QCOMPARE(attributes.get<Identity>()->user, QStringLiteral("bob"));
    QCOMPARE(attributes.get<Identity>()->token, QStringLiteral("tok"));
    QCOMPARE(attributes.size(), std::size_t(1));
}

void tst_RequestAttributes::removeDropsOneSlot()
{
    RequestAttributes attributes;
    attributes.set(RouteData{1});
    attributes.set(OtherRouteData{2});
    QVERIFY(attributes.remove<RouteData>());
    QVERIFY(!attributes.remove<RouteData>());
    QCOMPARE(attributes.get<RouteData>(), nullptr);
    QCOMPARE(attributes.get<OtherRouteData>()->id, 2);
    QCOMPARE(attributes.size(), std::size_t(1));
}

void tst_RequestAttributes::clearReleasesOwnedValues()
{
    auto live = std::make_shared<int>(0);
    RequestAttributes attributes;
    attributes.set(Tracked(live));
    QCOMPARE(*live, 1);
    attributes.set(Tracked(live)); // replacing releases the old value
    QCOMPARE(*live, 1);
    attributes.clear();
    QCOMPARE(*live, 0);
    QVERIFY(attributes.isEmpty());
    QCOMPARE(attributes.get<Tracked>(), nullptr);
}

void tst_RequestAttributes::moveOnlyValues()
{
    // What a feature owns for the exchange (the session) can be a move-only handle.
    struct Owner
    {
        std::unique_ptr<int> value;
    };
    RequestAttributes attributes;
    attributes.set(Owner{std::make_unique<int>(42)});
    QCOMPARE(*attributes.get<Owner>()->value, 42);
}

void tst_RequestAttributes::clearPerExchangeDropsSlots()
{
    auto live = std::make_shared<int>(0);
    Request request;
    request.attributes.set(Tracked(live));
    request.attributes.set(Identity{QStringLiteral("alice"), {}});
    request.bufferedBody = "a=1";
    request.bodyBuffered = true;
    request.clearPerExchange();
    QCOMPARE(*live, 0);
    QVERIFY(request.attributes.isEmpty());
    QCOMPARE(request.attributes.get<Identity>(), nullptr);
    QVERIFY(request.bufferedBody.isEmpty());
    QVERIFY(!request.bodyBuffered);
}

void tst_RequestAttributes::identityHelpers()
{
    Request request;
    QVERIFY(userOf(request).isEmpty());
    request.attributes.getOrSet<Identity>().user = QStringLiteral("alice");
    QCOMPARE(userOf(request), QStringLiteral("alice"));
}

QTEST_APPLESS_MAIN(tst_RequestAttributes)
#include "tst_requestattributes.moc"
