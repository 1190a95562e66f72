// The spool: atomic queueing, state changes under the lock, undelivered/, retry and purge.
#include "mail/spool.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth::Mail;
using namespace Qt::StringLiterals;

namespace {

Message sample()
{
    Message m;
    m.from = u"a@x.org"_s;
    m.to = {u"b@y.org"_s};
    m.subject = u"hello"_s;
    m.text = u"body"_s;
    return m;
}

} // namespace

class TestSpool : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void queueWritesOneWholeFile()
    {
        QTemporaryDir dir;
        Spool spool(dir.path());
        QVERIFY(spool.prepare(nullptr));
        const QueueResult r = spool.queue(sample());
        QVERIFY2(r.ok(), qPrintable(r.reason));
        QCOMPARE(r.httpStatus(), 202);
        QCOMPARE(spool.ids(), QStringList{r.id});
        QVERIFY(QDir(dir.path() + u"/tmp"_s).isEmpty());
        const auto m = spool.readMessage(r.id);
        QVERIFY(m);
        QCOMPARE(m->subject, u"hello"_s);
        QCOMPARE(m->id, r.id);
        QVERIFY(m->messageId.startsWith(u'<' + r.id + u'@'));
        QVERIFY(m->date.isValid());
        // Never tried: no state, due now.
        QCOMPARE(spool.readState(r.id).attempts, 0);
        QVERIFY(!spool.readState(r.id).nextAttempt.isValid());
    }

    void invalidIsNotSpooled()
    {
        QTemporaryDir dir;
        Spool spool(dir.path());
        QVERIFY(spool.prepare(nullptr));
        Message m = sample();
        m.subject = u"x\r\nBcc: victim@z.org"_s;
        const QueueResult r = spool.queue(m);
        QCOMPARE(r.error, QueueError::Invalid);
        QCOMPARE(r.httpStatus(), 400);
        QVERIFY(spool.ids().isEmpty());
    }

    void unwritableIs503()
    {
        QTemporaryDir dir;
        Spool spool(dir.path() + u"/missing"_s);
        const QueueResult r = spool.queue(sample());
        QCOMPARE(r.error, QueueError::Unavailable);
        QCOMPARE(r.httpStatus(), 503);
        QVERIFY(r.reason.contains(u"unavailable"_s));
    }

    void stateAndUndelivered()
    {
        QTemporaryDir dir;
        Spool spool(dir.path());
        QVERIFY(spool.prepare(nullptr));
        const QString id = spool.queue(sample()).id;
        QVERIFY(spool.updateState(id, [](DeliveryState &s) {
            s.attempts = 2;
            s.lastError = u"451 try later"_s;
            s.nextAttempt = QDateTime::currentDateTime().addSecs(600);
            s.pending = {u"b@y.org"_s};
        }));
        DeliveryState s = spool.readState(id);
        QCOMPARE(s.attempts, 2);
        QCOMPARE(s.lastError, u"451 try later"_s);
        QVERIFY(s.nextAttempt > QDateTime::currentDateTime());

        QVERIFY(spool.retry(id, nullptr));
        QVERIFY(!spool.readState(id).nextAttempt.isValid());
        QCOMPARE(spool.readState(id).attempts, 2);

        s.failed = {u"b@y.org: 550 no such user"_s};
        s.pending.clear();
        s.finished = QDateTime::currentDateTime();
        QVERIFY(spool.moveToUndelivered(id, s, nullptr));
        QVERIFY(spool.ids().isEmpty());
        QCOMPARE(spool.ids(true), QStringList{id});
        QCOMPARE(spool.readState(id, true).failed, s.failed);
        const QList<SpoolEntry> entries = spool.entries(true);
        QCOMPARE(entries.size(), 1);
        QVERIFY(entries.first().undelivered);

        // Back to the queue, attempts reset, the refused recipient pending again.
        QVERIFY(spool.retry(id, nullptr));
        QCOMPARE(spool.ids(), QStringList{id});
        QCOMPARE(spool.readState(id).attempts, 0);
        QCOMPARE(spool.readState(id).pending, QStringList{u"b@y.org"_s});

        QVERIFY(spool.purge(id, nullptr));
        QVERIFY(spool.ids().isEmpty());
        QVERIFY(!spool.purge(id, nullptr));
        QVERIFY(!spool.purge(u"../etc"_s, nullptr));
    }

    // Every change checks the id, takes the lock and (for a queued message) finds it first.
    void changesRefuseBadIdsAndMissingMessages()
    {
        QTemporaryDir dir;
        Spool spool(dir.path());
        QVERIFY(spool.prepare(nullptr));
        const QString id = spool.queue(sample()).id;
        QString error;
        QVERIFY(!spool.writeState(u"../etc/passwd"_s, DeliveryState(), &error));
        QCOMPARE(error, u"'../etc/passwd' is not a message id"_s);
        QVERIFY(!spool.retry(u"x/y"_s, &error));
        QCOMPARE(error, u"'x/y' is not a message id"_s);
        QVERIFY(spool.purge(id, nullptr));
        QVERIFY(!spool.moveToUndelivered(id, DeliveryState(), &error));
        QCOMPARE(error, u"no message %1 in the queue"_s.arg(id));
        QVERIFY(!spool.updateState(
            id, [](DeliveryState &) {}, &error));
        QCOMPARE(error, u"no message %1 in the queue"_s.arg(id));
        QVERIFY(!spool.retry(id, &error));
        QCOMPARE(error, u"no message %1"_s.arg(id));
    }

    void recoverInFlight()
    {
        QTemporaryDir dir;
        Spool spool(dir.path());
        QVERIFY(spool.prepare(nullptr));
        const QString id = spool.queue(sample()).id;
        QVERIFY(spool.updateState(id, [](DeliveryState &s) {
            s.attempts = 1;
            s.deliveringPid = 999999;
            s.nextAttempt = QDateTime::currentDateTime().addSecs(600);
        }));
        QCOMPARE(spool.recover(), 1);
        const DeliveryState s = spool.readState(id);
        QCOMPARE(s.deliveringPid, 0);
        QVERIFY(!s.nextAttempt.isValid());
        QCOMPARE(s.attempts, 1);
    }

    void purgeOldUndelivered()
    {
        QTemporaryDir dir;
        Spool spool(dir.path());
        QVERIFY(spool.prepare(nullptr));
        const QString oldId = spool.queue(sample()).id;
        const QString newId = spool.queue(sample()).id;
        DeliveryState s;
        s.finished = QDateTime::currentDateTime().addDays(-40);
        QVERIFY(spool.moveToUndelivered(oldId, s, nullptr));
        s.finished = QDateTime::currentDateTime().addDays(-1);
        QVERIFY(spool.moveToUndelivered(newId, s, nullptr));
        QCOMPARE(spool.purgeUndeliveredBefore(QDateTime::currentDateTime().addDays(-30)), 1);
        QCOMPARE(spool.ids(true), QStringList{newId});
    }
};

QTEST_GUILESS_MAIN(TestSpool)
#include "tst_spool.moc"
