// berth.mail through a fake exchange: what it answers, and what it leaves in the spool.
#include "fakeexchange.h"

#include "apps/mail/mailapp.h"
#include "runtime/offloadpool.h"
#include "runtime/statsregistry.h"

#include <QDir>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

using namespace Berth;
using namespace Qt::StringLiterals;

namespace {

Net::AddressList loopback()
{
    Net::AddressList list;
    QString error;
    if (!list.parse({u"127.0.0.0/8"_s}, &error))
        qFatal("%s", qPrintable(error));
    return list;
}

std::unique_ptr<Tests::FakeExchange> post(const QByteArray &body,
                                          const QByteArray &type = "application/json",
                                          const char *peer = "127.0.0.1")
{
    auto exchange = std::make_unique<Tests::FakeExchange>(
        "POST", "/mail",
        Tests::FakeExchange::Headers{{"Content-Type", type},
                                     {"Content-Length", QByteArray::number(body.size())}},
        QList<QByteArray>{body});
    exchange->request().peerAddress = QHostAddress(QString::fromLatin1(peer));
    return exchange;
}

QJsonObject answer(const Tests::FakeExchange &exchange)
{
    return QJsonDocument::fromJson(exchange.body()).object();
}

const QByteArray Valid = R"({"from":"a@x.org","to":"b@y.org","subject":"s","text":"t"})";

} // namespace

class TestMailApp : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        m_spool = Mail::Spool(m_dir->path());
        QVERIFY(m_spool.prepare(nullptr));
    }

    void queuesOnTheOffloadPool()
    {
        Core::StatsRegistry stats;
        Core::OffloadPool pool({1, 4}, &stats);
        Apps::MailApp app(m_spool, loopback(), &pool);
        auto exchange = post(Valid);
        QCOMPARE(app.handle(*exchange), Pipeline::Outcome::Answered);
        QVERIFY(!exchange->started()); // the write runs on the pool, the answer comes later
        QTRY_COMPARE(exchange->status(), 202);
        const QString id = answer(*exchange).value(u"id"_s).toString();
        QCOMPARE(m_spool.ids(), QStringList{id});
        QCOMPARE(m_spool.readMessage(id)->subject, u"s"_s);
    }

    void formFields()
    {
        Apps::MailApp app(m_spool, loopback(), nullptr);
        auto exchange = post("from=a%40x.org&to=b%40y.org%2C+c%40y.org&subject=hi+there&text=x",
                             "application/x-www-form-urlencoded");
        app.handle(*exchange);
        QCOMPARE(exchange->status(), 202);
        const auto m = m_spool.readMessage(answer(*exchange).value(u"id"_s).toString());
        QCOMPARE(m->to, (QStringList{u"b@y.org"_s, u"c@y.org"_s}));
        QCOMPARE(m->subject, u"hi there"_s);
    }

    void refusals_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QByteArray>("type");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("reason");
        QTest::newRow("injection")
            << QByteArray(R"({"from":"a@x.org","to":"b@y.org","subject":"a\r\nBcc: v@z.org"})")
            << QByteArray("application/json") << 400 << u"header injection"_s;
        QTest::newRow("no recipient") << QByteArray(R"({"from":"a@x.org","subject":"x"})")
                                      << QByteArray("application/json") << 400 << u"no recipient"_s;
        QTest::newRow("not json") << QByteArray("{") << QByteArray("application/json") << 400
                                  << u"invalid JSON"_s;
        QTest::newRow("client sets the id")
            << QByteArray(R"({"from":"a@x.org","to":"b@y.org","id":"../../x"})")
            << QByteArray("application/json") << 202 << QString();
        QTest::newRow("other type")
            << Valid << QByteArray("text/plain") << 400 << u"Content-Type"_s;
    }
    void refusals()
    {
        QFETCH(QByteArray, body);
        QFETCH(QByteArray, type);
        QFETCH(int, status);
        QFETCH(QString, reason);
        Apps::MailApp app(m_spool, loopback(), nullptr);
        auto exchange = post(body, type);
        app.handle(*exchange);
        QCOMPARE(exchange->status(), status);
        if (status != 202) {
            QVERIFY(answer(*exchange).value(u"error"_s).toString().contains(reason));
            QVERIFY(m_spool.ids().isEmpty());
        } else {
            QVERIFY(!answer(*exchange).value(u"id"_s).toString().contains(u'/'));
        }
    }

    void onlyAllowedClients()
    {
        Apps::MailApp app(m_spool, loopback(), nullptr);
        auto exchange = post(Valid, "application/json", "192.0.2.7");
        app.handle(*exchange);
        QCOMPARE(exchange->status(), 403);
        QVERIFY(m_spool.ids().isEmpty());
    }

    void onlyPost()
    {
        Apps::MailApp app(m_spool, loopback(), nullptr);
        Tests::FakeExchange exchange("GET", "/mail");
        exchange.request().peerAddress = QHostAddress::LocalHost;
        app.handle(exchange);
        QCOMPARE(exchange.status(), 405);
    }

    void unwritableSpoolIs503()
    {
        Apps::MailApp app(Mail::Spool(m_dir->path() + u"/missing"_s), loopback(), nullptr);
        auto exchange = post(Valid);
        app.handle(*exchange);
        QCOMPARE(exchange->status(), 503);
        QVERIFY(answer(*exchange).value(u"error"_s).toString().contains(u"unavailable"_s));
    }

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    Mail::Spool m_spool{QString()};
};

QTEST_GUILESS_MAIN(TestMailApp)
#include "tst_mailapp.moc"
