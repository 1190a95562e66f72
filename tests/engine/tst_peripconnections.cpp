#include "engine/peripconnections.h"

#include <QTest>

using Berth::Engine::PerIpConnections;

class TestPerIpConnections : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void limitsEachAddressAndGivesBack()
    {
        qint64 now = 1000;
        PerIpConnections table([&] { return now; });
        const QByteArray a = "10.0.0.1";
        const QByteArray b = "10.0.0.2";
        bool logNow = false;
        QVERIFY(table.acquire(a, 2, &logNow));
        QVERIFY(table.acquire(a, 2, &logNow));
        QVERIFY(!table.acquire(a, 2, &logNow));
        QVERIFY(logNow); // the first refusal is logged
        QVERIFY(!table.acquire(a, 2, &logNow));
        QVERIFY(!logNow);                      // the next ones within the interval are not
        QVERIFY(table.acquire(b, 2, &logNow)); // another address has its own count
        QCOMPARE(table.count(a), 2);
        table.release(a);
        QCOMPARE(table.count(a), 1);
        QVERIFY(table.acquire(a, 2, &logNow));
        now += PerIpConnections::LogIntervalMs;
        QVERIFY(!table.acquire(a, 2, &logNow));
        QVERIFY(logNow); // a new interval: logged again
        table.release(a);
        table.release(a);
        table.release(a); // more releases than acquires leave nothing behind
        QCOMPARE(table.count(a), 0);
        QVERIFY(table.acquire(a, 1, nullptr));
    }
};

QTEST_GUILESS_MAIN(TestPerIpConnections)
#include "tst_peripconnections.moc"
