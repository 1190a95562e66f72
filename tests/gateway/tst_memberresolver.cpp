#include "apps/proxy/memberresolver.h"
#include "runtime/offloadpool.h"

#include <QScopeGuard>
#include <QSemaphore>
#include <QTest>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <atomic>
#include <memory>

using Berth::Gateway::MemberResolver;
using Berth::Upstream::MemberAddress;
using Berth::Upstream::ResolvedAddress;

namespace {

MemberAddress member(const QString &text)
{
    MemberAddress address;
    QString error;
    if (!MemberAddress::parse(text, &address, &error))
        qFatal("%s", qPrintable(error));
    return address;
}

QString ipOf(const ResolvedAddress &address)
{
    if (!address.valid())
        return QString();
    const auto *in = reinterpret_cast<const sockaddr_in *>(&address.storage);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return QString::fromLatin1(text);
}

// A DNS that answers what the test says, and counts the questions. While `held`, a question
// waits until the test releases `gate` (a lookup in flight, held open without a clock).
struct FakeDns
{
    std::shared_ptr<std::atomic<int>> asked = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<int>> answer = std::make_shared<std::atomic<int>>(1); // 0: fail
    std::shared_ptr<std::atomic<bool>> held = std::make_shared<std::atomic<bool>>(false);
    std::shared_ptr<QSemaphore> gate = std::make_shared<QSemaphore>();
    MemberResolver::Lookup lookup() const
    {
        return [asked = asked, answer = answer, held = held,
                gate = gate](const MemberAddress &address, ResolvedAddress *out) {
            ++*asked;
            if (held->load())
                gate->acquire();
            const int n = answer->load();
            if (n == 0)
                return false;
            auto *in = reinterpret_cast<sockaddr_in *>(&out->storage);
            in->sin_family = AF_INET;
            in->sin_port = htons(address.port);
            in->sin_addr.s_addr = htonl((10u << 24) | unsigned(n)); // 10.0.0.n
            out->length = sizeof(sockaddr_in);
            return true;
        };
    }
};

// No job queued or running: a refresh that was submitted has run to its last line (the pool
// counts a job as running until its function returned).
bool idle(const Berth::Core::OffloadPool &pool)
{
    return pool.queued() == 0 && pool.running() == 0;
}

} // namespace

class tst_MemberResolver : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void literalsAreNeverLookedUp()
    {
        FakeDns dns;
        MemberResolver resolver({member(u"127.0.0.1:5001"_qs), member(u"unix:/run/a.sock"_qs)},
                                1000, dns.lookup());
        QVERIFY(!resolver.hasNames());
        resolver.resolveAll(0);
        Berth::Core::OffloadPool pool;
        QCOMPARE(ipOf(resolver.address(0, 1'000'000, &pool)), u"127.0.0.1"_qs);
        QVERIFY(resolver.address(1, 1'000'000, &pool).valid());
        QCOMPARE(dns.asked->load(), 0);
    }

    void namesAreLookedUpAgainAfterTheInterval()
    {
        FakeDns dns;
        MemberResolver resolver({member(u"svc.test:5001"_qs), member(u"127.0.0.1:5002"_qs)}, 1000,
                                dns.lookup());
        QVERIFY(resolver.hasNames());
        resolver.resolveAll(0);
        QCOMPARE(dns.asked->load(), 1);
        Berth::Core::OffloadPool pool;
        // Before the interval: the address at hand, no question.
        QCOMPARE(ipOf(resolver.address(0, 999, &pool)), u"10.0.0.1"_qs);
        QCOMPARE(dns.asked->load(), 1);
        // The member moved; past the interval one background lookup starts, and the answer
        // meanwhile is still the last address (a request never waits for DNS). The lookup is
        // held open until the test has seen that; the guard lets it go on any early return
        // (the pool's destructor waits for it).
        dns.answer->store(2);
        dns.held->store(true);
        const auto letGo = qScopeGuard([&dns] { dns.gate->release(); });
        QCOMPARE(ipOf(resolver.address(0, 1000, &pool)), u"10.0.0.1"_qs);
        QCOMPARE(ipOf(resolver.address(0, 1001, &pool)), u"10.0.0.1"_qs);
        dns.gate->release();
        QTRY_COMPARE(ipOf(resolver.address(0, 1001, &pool)), u"10.0.0.2"_qs);
        QCOMPARE(dns.asked->load(), 2); // one refresh, not one per call
        QCOMPARE(ipOf(resolver.address(1, 1001, &pool)), u"127.0.0.1"_qs);
    }

    void aFailedLookupKeepsTheLastGoodAddress()
    {
        FakeDns dns;
        MemberResolver resolver({member(u"svc.test:5001"_qs)}, 1000, dns.lookup());
        resolver.resolveAll(0);
        Berth::Core::OffloadPool pool;
        dns.answer->store(0);
        resolver.address(0, 5000, &pool);
        QTRY_VERIFY(idle(pool)); // the failed refresh ran to its end
        QCOMPARE(dns.asked->load(), 2);
        QCOMPARE(ipOf(resolver.address(0, 5001, &pool)), u"10.0.0.1"_qs);
        // And the resolver is asked again only one interval later.
        resolver.address(0, 5999, &pool);
        QTRY_VERIFY(idle(pool)); // a refresh started here would have asked by now
        QCOMPARE(dns.asked->load(), 2);
        resolver.address(0, 6000, &pool);
        QTRY_VERIFY(idle(pool));
        QCOMPARE(dns.asked->load(), 3);
    }

    void intervalZeroOrNoPoolMeansOnce()
    {
        FakeDns dns;
        MemberResolver once({member(u"svc.test:5001"_qs)}, 0, dns.lookup());
        once.resolveAll(0);
        Berth::Core::OffloadPool pool;
        once.address(0, 10'000'000, &pool);
        QTRY_VERIFY(idle(pool));
        QCOMPARE(dns.asked->load(), 1);
        MemberResolver noPool({member(u"svc.test:5001"_qs)}, 1000, dns.lookup());
        noPool.resolveAll(0);
        QCOMPARE(ipOf(noPool.address(0, 5000, nullptr)), u"10.0.0.1"_qs);
        QCOMPARE(dns.asked->load(), 2);
    }
};

QTEST_GUILESS_MAIN(tst_MemberResolver)
#include "tst_memberresolver.moc"
