// The agent's delivery cycle with an injected clock and an SMTP server that refuses
// connections: the back-off schedule, giving up after max_retry, recovery, smtpda.log.
#include "mail/spool.h"
#include "services/mailer/mailerservice.h"

#include <QFile>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth;
using namespace Qt::StringLiterals;

namespace {

// A loopback port nothing listens on: connecting is refused at once (a transient failure).
int closedPort()
{
    QTcpServer server;
    server.listen(QHostAddress::LocalHost, 0);
    const int port = server.serverPort();
    server.close();
    return port;
}

Mail::Message sample()
{
    Mail::Message m;
    m.from = u"a@x.org"_s;
    m.to = {u"b@y.org"_s};
    m.subject = u"s"_s;
    m.text = u"t"_s;
    return m;
}

} // namespace

class TestMailerCycle : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { Services::initCurl(); }

    void backoffThenUndelivered()
    {
        QTemporaryDir dir;
        Mail::Spool spool(dir.path());
        QVERIFY(spool.prepare(nullptr));
        const QString id = spool.queue(sample()).id;
        Services::MailerSettings settings;
        settings.smtp.host = u"127.0.0.1"_s;
        settings.smtp.port = closedPort();
        settings.smtp.connectTimeoutMs = 2000;
        settings.maxRetry = 3;
        settings.retryIntervalMs = 60'000;
        settings.logPath = dir.filePath(u"smtpda.log"_s);
        const QDateTime t0 = QDateTime::currentDateTime();

        Services::MailerCycle c = Services::runMailerCycle(spool, settings, t0);
        QCOMPARE(c.deferred, 1);
        QCOMPARE(c.nextDueMs, 60'000);
        Mail::DeliveryState s = spool.readState(id);
        QCOMPARE(s.attempts, 1);
        QCOMPARE(s.deliveringPid, 0);
        QCOMPARE(s.nextAttempt, t0.addSecs(60));
        QVERIFY(!s.lastError.isEmpty());

        // Not due yet: nothing is tried.
        c = Services::runMailerCycle(spool, settings, t0.addSecs(30));
        QCOMPARE(c.deferred, 0);
        QCOMPARE(c.nextDueMs, 30'000);
        QCOMPARE(spool.readState(id).attempts, 1);

        // Second failure: twice the interval.
        c = Services::runMailerCycle(spool, settings, t0.addSecs(60));
        QCOMPARE(c.deferred, 1);
        QCOMPARE(spool.readState(id).nextAttempt, t0.addSecs(60 + 120));

        // Third and last attempt: undelivered, with why.
        c = Services::runMailerCycle(spool, settings, t0.addSecs(180));
        QCOMPARE(c.failed, 1);
        QVERIFY(spool.ids().isEmpty());
        QCOMPARE(spool.ids(true), QStringList{id});
        QVERIFY(spool.readState(id, true).lastError.startsWith(u"gave up after 3 attempts: "_s));

        QFile log(settings.logPath);
        QVERIFY(log.open(QIODevice::ReadOnly));
        const QList<QByteArray> lines = log.readAll().trimmed().split('\n');
        QCOMPARE(lines.size(), 3);
        QVERIFY(lines[0].contains(" attempt=1 ") && lines[0].contains(" status=deferred "));
        QVERIFY(lines[2].contains(" attempt=3 ") && lines[2].contains(" status=undelivered "));
    }

    void recoversMessagesLeftInFlight()
    {
        QTemporaryDir dir;
        Mail::Spool spool(dir.path());
        QVERIFY(spool.prepare(nullptr));
        const QString id = spool.queue(sample()).id;
        QVERIFY(spool.updateState(id, [](Mail::DeliveryState &s) {
            s.attempts = 1;
            s.deliveringPid = 12345;
        }));
        Services::MailerSettings settings;
        settings.smtp.host = u"127.0.0.1"_s;
        settings.smtp.port = closedPort();
        settings.logPath = dir.filePath(u"smtpda.log"_s);
        // Without recovery the claimed message is left alone ...
        Services::MailerCycle c =
            Services::runMailerCycle(spool, settings, QDateTime::currentDateTime());
        QCOMPARE(c.deferred, 0);
        // ... the agent's first cycle makes it due and tries it again.
        Services::MailerChores chores;
        chores.recover = true;
        c = Services::runMailerCycle(spool, settings, QDateTime::currentDateTime(), chores);
        QCOMPARE(c.recovered, 1);
        QCOMPARE(c.deferred, 1);
        QCOMPARE(spool.readState(id).attempts, 2);
    }

    void unreachableServerEndsTheCycle()
    {
        QTemporaryDir dir;
        Mail::Spool spool(dir.path());
        QVERIFY(spool.prepare(nullptr));
        for (int i = 0; i < 3; ++i)
            QVERIFY(spool.queue(sample()).ok());
        Services::MailerSettings settings;
        settings.smtp.host = u"127.0.0.1"_s;
        settings.smtp.port = closedPort();
        settings.logPath = dir.filePath(u"smtpda.log"_s);
        // Draining: nothing is started, and the cycle says more is due.
        std::atomic<bool> stop{true};
        Services::MailerChores chores;
        chores.stop = &stop;
        Services::MailerCycle c =
            Services::runMailerCycle(spool, settings, QDateTime::currentDateTime(), chores);
        QCOMPARE(c.deferred, 0);
        QVERIFY(c.moreDue);
        // A server that can't be reached is tried once per cycle, not once per message.
        stop = false;
        c = Services::runMailerCycle(spool, settings, QDateTime::currentDateTime(), chores);
        QCOMPARE(c.deferred, 1);
        QCOMPARE(c.ids.size(), 3);
        c = Services::runMailerCycle(spool, settings, QDateTime::currentDateTime(), chores);
        QCOMPARE(c.deferred, 1);
        int tried = 0;
        for (const QString &id : spool.ids())
            tried += spool.readState(id).attempts;
        QCOMPARE(tried, 2);
    }

    void queueTimeFromId()
    {
        QTemporaryDir dir;
        Mail::Spool spool(dir.path());
        QVERIFY(spool.prepare(nullptr));
        const QDateTime before = QDateTime::currentDateTimeUtc().addMSecs(-1);
        const QString id = spool.queue(sample()).id;
        const QDateTime at = Mail::Spool::queuedAt(id);
        QVERIFY(at.isValid());
        QVERIFY(at >= before && at <= QDateTime::currentDateTimeUtc());
        QVERIFY(!Mail::Spool::queuedAt(u"nonsense"_s).isValid());
    }
};

QTEST_GUILESS_MAIN(TestMailerCycle)
#include "tst_mailercycle.moc"
