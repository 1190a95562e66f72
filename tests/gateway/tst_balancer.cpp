#include "apps/proxy/balancer.h"

#include <QMap>
#include <QTest>

using namespace Berth::Gateway;
using namespace Qt::Literals::StringLiterals;

namespace {

QList<MemberSpec> specs(const QList<int> &weights, const QList<bool> &backups = {},
                        int maxConns = 0)
{
    QList<MemberSpec> list;
    for (int i = 0; i < weights.size(); ++i) {
        MemberSpec spec;
        QString error;
        Berth::Upstream::MemberAddress::parse(QStringLiteral("127.0.0.1:%1").arg(5000 + i),
                                              &spec.address, &error);
        spec.weight = weights[i];
        spec.backup = i < backups.size() && backups[i];
        spec.maxConns = maxConns;
        list.append(spec);
    }
    return list;
}

QMap<int, int> pickMany(Balancer &balancer, int n, qint64 now = 0, quint32 hash = 0)
{
    QMap<int, int> seen;
    for (int i = 0; i < n; ++i) {
        int member = -1;
        if (balancer.pick(hash, 0, now, &member) == Balancer::Pick::Chosen)
            ++seen[member];
    }
    return seen;
}

} // namespace

class tst_Balancer : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void parseMethod();
    void weightedRoundRobin();
    void smoothOrder();
    void leastConnFollowsLoad();
    void ipHashIsStable();
    void randomTwoUsesEveryone();
    void backupsOnlyWhenPrimariesDown();
    void passiveHealth();
    void failuresOutsideTheWindowDoNotAddUp();
    void maxConnsMakesBusy();
    void triedMembersAreSkipped();
    void latencyEwma();
    void activeHealthSkipsDownMembers();
};

void tst_Balancer::parseMethod()
{
    Balancer::Method method;
    QVERIFY(Balancer::parseMethod(u"random_two"_s, &method));
    QCOMPARE(method, Balancer::Method::RandomTwo);
    QVERIFY(!Balancer::parseMethod(u"fastest"_s, &method));
}

void tst_Balancer::weightedRoundRobin()
{
    Balancer balancer(specs({3, 1, 1}), Balancer::Method::RoundRobin, 1, 10000);
    const QMap<int, int> seen = pickMany(balancer, 50);
    QCOMPARE(seen.value(0), 30);
    QCOMPARE(seen.value(1), 10);
    QCOMPARE(seen.value(2), 10);
}

void tst_Balancer::smoothOrder()
{
    // nginx's smooth weighted round robin: a:5 b:1 c:1 gives a a b a c a a.
    Balancer balancer(specs({5, 1, 1}), Balancer::Method::RoundRobin, 1, 10000);
    QList<int> order;
    for (int i = 0; i < 7; ++i) {
        int member = -1;
        balancer.pick(0, 0, 0, &member);
        order.append(member);
    }
    QCOMPARE(order, (QList<int>{0, 0, 1, 0, 2, 0, 0}));
}

void tst_Balancer::leastConnFollowsLoad()
{
    Balancer balancer(specs({1, 1, 1}), Balancer::Method::LeastConn, 1, 10000);
    balancer.started(0);
    balancer.started(0);
    balancer.started(1);
    int member = -1;
    QCOMPARE(balancer.pick(0, 0, 0, &member), Balancer::Pick::Chosen);
    QCOMPARE(member, 2);
    balancer.started(2);
    balancer.started(2);
    QCOMPARE(balancer.pick(0, 0, 0, &member), Balancer::Pick::Chosen);
    QCOMPARE(member, 1);
}

void tst_Balancer::ipHashIsStable()
{
    for (quint32 hash : {1u, 77u, 12345u}) {
        Balancer balancer(specs({1, 1, 1}), Balancer::Method::IpHash, 1, 10000);
        const QMap<int, int> seen = pickMany(balancer, 10, 0, hash);
        QCOMPARE(seen.size(), 1);
        // Its member down: another one, then the same again once it is back.
        const int first = seen.firstKey();
        balancer.started(first);
        balancer.failed(first, 0);
        const QMap<int, int> during = pickMany(balancer, 5, 1, hash);
        QCOMPARE(during.size(), 1);
        QVERIFY(!during.contains(first));
        QCOMPARE(pickMany(balancer, 5, 20000, hash).firstKey(), first);
    }
}

void tst_Balancer::randomTwoUsesEveryone()
{
    Balancer balancer(specs({1, 1, 1, 1}), Balancer::Method::RandomTwo, 1, 10000);
    const QMap<int, int> seen = pickMany(balancer, 400);
    QCOMPARE(seen.size(), 4);
    for (int count : seen)
        QVERIFY(count > 40);
}

void tst_Balancer::backupsOnlyWhenPrimariesDown()
{
    Balancer balancer(specs({1, 1, 1}, {false, false, true}), Balancer::Method::RoundRobin, 1,
                      10000);
    QVERIFY(!pickMany(balancer, 20).contains(2));
    for (int member : {0, 1}) {
        balancer.started(member);
        QCOMPARE(balancer.failed(member, 100), Balancer::Transition::WentDown);
    }
    QCOMPARE(pickMany(balancer, 5, 200), (QMap<int, int>{{2, 5}}));
    // After fail_timeout the primaries are tried again.
    QVERIFY(!pickMany(balancer, 5, 10200).contains(2));
}

void tst_Balancer::passiveHealth()
{
    Balancer balancer(specs({1, 1}), Balancer::Method::RoundRobin, 3, 10000);
    for (int i = 0; i < 2; ++i) {
        balancer.started(0);
        QCOMPARE(balancer.failed(0, 1000 + i), Balancer::Transition::None);
    }
    QVERIFY(!balancer.isDown(0, 1500));
    balancer.started(0);
    QCOMPARE(balancer.failed(0, 1600), Balancer::Transition::WentDown);
    QVERIFY(balancer.isDown(0, 1700));
    QCOMPARE(pickMany(balancer, 4, 1700), (QMap<int, int>{{1, 4}}));
    QVERIFY(!balancer.isDown(0, 11601));
    balancer.started(0);
    QCOMPARE(balancer.succeeded(0, 500), Balancer::Transition::CameUp);
    QCOMPARE(balancer.state(0).failures.load(), 3u);
    QCOMPARE(balancer.state(0).requests.load(), 4u);
    QCOMPARE(balancer.state(0).inFlight.load(), 0);

    // Every member down: NoneUp (503 at once).
    Balancer single(specs({1}), Balancer::Method::RoundRobin, 1, 10000);
    single.started(0);
    single.failed(0, 0);
    int member = -1;
    QCOMPARE(single.pick(0, 0, 5, &member), Balancer::Pick::NoneUp);
}

void tst_Balancer::failuresOutsideTheWindowDoNotAddUp()
{
    Balancer balancer(specs({1}), Balancer::Method::RoundRobin, 2, 1000);
    balancer.started(0);
    balancer.failed(0, 0);
    balancer.started(0);
    QCOMPARE(balancer.failed(0, 5000), Balancer::Transition::None);
    QVERIFY(!balancer.isDown(0, 5001));
}

void tst_Balancer::maxConnsMakesBusy()
{
    Balancer balancer(specs({1, 1}, {}, 1), Balancer::Method::RoundRobin, 1, 10000);
    int member = -1;
    QCOMPARE(balancer.pick(0, 0, 0, &member), Balancer::Pick::Chosen);
    balancer.started(member);
    const int first = member;
    QCOMPARE(balancer.pick(0, 0, 0, &member), Balancer::Pick::Chosen);
    QVERIFY(member != first);
    balancer.started(member);
    QCOMPARE(balancer.pick(0, 0, 0, &member), Balancer::Pick::Busy);
    balancer.released(first);
    QCOMPARE(balancer.pick(0, 0, 0, &member), Balancer::Pick::Chosen);
    QCOMPARE(member, first);
}

void tst_Balancer::triedMembersAreSkipped()
{
    Balancer balancer(specs({1, 1}), Balancer::Method::RoundRobin, 0, 10000);
    int member = -1;
    for (int i = 0; i < 4; ++i) {
        QCOMPARE(balancer.pick(0, 1, 0, &member), Balancer::Pick::Chosen);
        QCOMPARE(member, 1);
    }
    QCOMPARE(balancer.pick(0, 3, 0, &member), Balancer::Pick::NoneUp);
}

void tst_Balancer::latencyEwma()
{
    Balancer balancer(specs({1}), Balancer::Method::RoundRobin, 1, 10000);
    balancer.started(0);
    balancer.succeeded(0, 800);
    QCOMPARE(balancer.state(0).latencyEwmaUs.load(), 800);
    balancer.started(0);
    balancer.succeeded(0, 1600);
    QCOMPARE(balancer.state(0).latencyEwmaUs.load(), 900);
}

void tst_Balancer::activeHealthSkipsDownMembers()
{
    Balancer balancer(specs({1, 1, 1}), Balancer::Method::RoundRobin, 1, 10000);
    QList<int> health{2, 1, 0}; // up, down, unknown (unknown serves)
    balancer.setHealthSource([&health](int member, qint64) { return health[member]; });
    const QMap<int, int> seen = pickMany(balancer, 10);
    QCOMPARE(seen.keys(), (QList<int>{0, 2}));
    QCOMPARE(seen.value(0) + seen.value(2), 10);
    health = {1, 1, 1};
    int member = -1;
    QCOMPARE(balancer.pick(0, 0, 0, &member), Balancer::Pick::NoneUp);
}

QTEST_GUILESS_MAIN(tst_Balancer)
#include "tst_balancer.moc"
