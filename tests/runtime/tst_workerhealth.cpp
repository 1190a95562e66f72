// What an event-loop thread publishes about the request it runs (ThreadHealth): every text at
// every length around the 8-byte words it is stored in, byte for byte, and the start time the
// engine passes in (it read the clock already).
#include "runtime/sharedstate.h"
#include "runtime/workerhealth.h"

#include <QtTest>

#include <memory>

using namespace Berth;

class TestWorkerHealth : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void textsSurviveWordPackingAtEveryLength();
    void startTimeIsTheCallersWhenGiven();

private:
    std::unique_ptr<Core::SharedState> m_shared;
};

void TestWorkerHealth::init()
{
    QString error;
    m_shared = Core::SharedState::create(1, 1, &error);
    QVERIFY2(m_shared, qPrintable(error));
    QVERIFY(Core::ThreadHealth::attach(m_shared->slot(0), 0));
}

void TestWorkerHealth::cleanup()
{
    Core::ThreadHealth::detach();
    m_shared.reset();
}

void TestWorkerHealth::textsSurviveWordPackingAtEveryLength()
{
    // Distinct bytes at every position: a word stored shifted or a tail taken from the wrong
    // place shows as a wrong letter. The text sits inside a larger buffer (as a request head's
    // views do) and is followed by bytes that must not leak in.
    const QByteArray alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const QByteArray buffer = alphabet + "#####";
    for (int length = 0; length <= 40; ++length) {
        const QByteArrayView text = QByteArrayView(buffer).first(length);
        // A longer text before: its tail must not show behind the shorter one.
        Core::ThreadHealth::beginRequest(alphabet, alphabet, alphabet, alphabet);
        Core::ThreadHealth::beginRequest(text.first(qMin(length, 15)), text, text, text);
        Core::ThreadRequest r;
        QVERIFY(Core::readThreadRequest(*m_shared->slot(0)->thread(0), &r));
        QVERIFY(r.busy);
        QCOMPARE(r.method, QString::fromLatin1(text.first(qMin(length, 15))));
        QCOMPARE(r.url, QString::fromLatin1(text));
        QCOMPARE(r.txn, QString::fromLatin1(text.first(qMin(length, 39)))); // 40 bytes, NUL
        QCOMPARE(r.client, QString::fromLatin1(text));
    }
    Core::ThreadHealth::endRequest();
}

void TestWorkerHealth::startTimeIsTheCallersWhenGiven()
{
    Core::ThreadHealth::beginRequest("GET", "/given", "t1", "c", 123'456);
    Core::ThreadRequest r;
    QVERIFY(Core::readThreadRequest(*m_shared->slot(0)->thread(0), &r));
    QCOMPARE(r.startedMs, qint64(123'456));
    QCOMPARE(r.url, QStringLiteral("/given"));
    // Without one, the thread reads the clock itself.
    const qint64 before = Core::monotonicMs();
    Core::ThreadHealth::beginRequest("GET", "/read", "t2", "c");
    const qint64 after = Core::monotonicMs();
    QVERIFY(Core::readThreadRequest(*m_shared->slot(0)->thread(0), &r));
    QVERIFY(r.startedMs >= before && r.startedMs <= after);
    Core::ThreadHealth::endRequest();
    QVERIFY(Core::readThreadRequest(*m_shared->slot(0)->thread(0), &r));
    QVERIFY(!r.busy);
}

QTEST_GUILESS_MAIN(TestWorkerHealth)
#include "tst_workerhealth.moc"
