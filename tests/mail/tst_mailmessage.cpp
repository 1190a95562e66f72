// Address and header validation, the JSON contract, and the back-off schedule.
#include "mail/mailmessage.h"
#include "mail/spool.h"

#include <QJsonDocument>
#include <QTest>

using namespace Berth::Mail;
using namespace Qt::StringLiterals;

namespace {

// JSON written with single quotes, which read better in C++ strings.
QByteArray json(const char *text)
{
    return QByteArray(text).replace('\'', '"');
}

} // namespace

class TestMailMessage : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void addresses_data()
    {
        QTest::addColumn<QString>("address");
        QTest::addColumn<bool>("valid");
        QTest::addColumn<QString>("envelope");
        QTest::newRow("bare") << u"a@example.org"_s << true << u"a@example.org"_s;
        QTest::newRow("named") << u"Ann Lee <ann@example.org>"_s << true << u"ann@example.org"_s;
        QTest::newRow("quoted") << u"\"Lee, Ann\" <ann@example.org>"_s << true
                                << u"ann@example.org"_s;
        QTest::newRow("utf8 name") << u"Jürgen <j@example.de>"_s << true << u"j@example.de"_s;
        QTest::newRow("plus") << u"a+tag@mail.example.org"_s << true << u"a+tag@mail.example.org"_s;
        QTest::newRow("no at") << u"example.org"_s << false << u"example.org"_s;
        QTest::newRow("two dots") << u"a..b@example.org"_s << false << u"a..b@example.org"_s;
        QTest::newRow("bad domain") << u"a@-x.org"_s << false << u"a@-x.org"_s;
        QTest::newRow("crlf") << u"a@x.org\r\nBcc: v@y.org"_s << false << QString();
        QTest::newRow("lf in name") << u"A\nB <a@x.org>"_s << false << u"a@x.org"_s;
        QTest::newRow("space") << u"a b@x.org"_s << false << QString();
        QTest::newRow("open angle") << u"Ann <ann@x.org"_s << false << QString();
    }
    void addresses()
    {
        QFETCH(QString, address);
        QFETCH(bool, valid);
        QFETCH(QString, envelope);
        QCOMPARE(isValidAddress(address), valid);
        if (!envelope.isNull())
            QCOMPARE(envelopeAddress(address), envelope);
    }

    void splitList()
    {
        QCOMPARE(splitAddressList(u"a@x.org, \"Doe, J\" <j@y.org>,,b@z.org "_s),
                 (QStringList{u"a@x.org"_s, u"\"Doe, J\" <j@y.org>"_s, u"b@z.org"_s}));
    }

    void validation_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QString>("reason"); // a part of validate()'s answer; empty: valid
        QTest::newRow("ok") << json("{'from':'a@x.org','to':['b@y.org'],'subject':'hi'}")
                            << QString();
        QTest::newRow("to as string")
            << json("{'from':'a@x.org','to':'b@y.org, c@y.org'}") << QString();
        QTest::newRow("no recipient")
            << json("{'from':'a@x.org','to':[],'subject':'x'}") << u"no recipient"_s;
        QTest::newRow("bad address")
            << json("{'from':'a@x.org','to':['nobody']}") << u"not a valid address"_s;
        QTest::newRow("subject injection")
            << json("{'from':'a@x.org','to':'b@y.org','subject':'x\\r\\nBcc: v@z.org'}")
            << u"header injection"_s;
        QTest::newRow("address injection")
            << json("{'from':'a@x.org','to':['b@y.org\\nBcc: v@z.org']}") << u"header injection"_s;
        QTest::newRow("from injection")
            << json("{'from':'a@x.org\\r\\nBcc: v@z.org','to':'b@y.org'}") << u"header injection"_s;
        QTest::newRow("header injection")
            << json("{'from':'a@x.org','to':'b@y.org','headers':{'X-A':'1\\r\\nBcc: v@z'}}")
            << u"header injection"_s;
        QTest::newRow("reserved header")
            << json("{'from':'a@x.org','to':'b@y.org','headers':{'Bcc':'v@z.org'}}")
            << u"set from the message"_s;
        QTest::newRow("bad header name")
            << json("{'from':'a@x.org','to':'b@y.org','headers':{'X A':'v'}}")
            << u"not a valid field name"_s;
        QTest::newRow("too large") << json("{'from':'a@x.org','to':'b@y.org','text':'") +
                                          QByteArray(2000, 'x') + json("'}")
                                   << u"over max_message_bytes"_s;
    }
    void validation()
    {
        QFETCH(QByteArray, body);
        QFETCH(QString, reason);
        QString error;
        const auto message = Message::fromJson(QJsonDocument::fromJson(body).object(), &error);
        QVERIFY2(message, qPrintable(error));
        const QString why = validate(*message, 1000);
        if (reason.isEmpty())
            QVERIFY2(why.isEmpty(), qPrintable(why));
        else
            QVERIFY2(why.contains(reason), qPrintable(why));
    }

    void structuralErrors()
    {
        QString error;
        QVERIFY(
            !Message::fromJson(QJsonDocument::fromJson(
                                   json("{'to':'b@y.org','attachments':[{'content_base64':'@@'}]}"))
                                   .object(),
                               &error));
        QVERIFY(error.contains(u"base64"_s));
        QVERIFY(!Message::fromJson(QJsonDocument::fromJson(json("{'to':5}")).object(), &error));
    }

    void jsonRoundTrip()
    {
        Message m;
        m.from = u"Ann <a@x.org>"_s;
        m.to = {u"b@y.org"_s};
        m.bcc = {u"c@y.org"_s, u"B@y.org"_s};
        m.subject = u"Grüße"_s;
        m.headers = {{u"X-Tag"_s, u"v"_s}};
        m.attachments = {
            {u"r.pdf"_s, u"application/pdf"_s, QByteArray("\x00\x01pdf", 5), u"cid1"_s}};
        m.id = u"1.abc"_s;
        const auto back = Message::fromJson(m.toJson(), nullptr);
        QVERIFY(back);
        QCOMPARE(back->subject, m.subject);
        QCOMPARE(back->headers, m.headers);
        QCOMPARE(back->attachments.first().content, m.attachments.first().content);
        QCOMPARE(back->attachments.first().inlineId, u"cid1"_s);
        QCOMPARE(back->id, m.id);
        // Envelope recipients: to, cc and bcc, duplicates (case-insensitive) once.
        QCOMPARE(back->recipients(), (QStringList{u"b@y.org"_s, u"c@y.org"_s}));
    }

    void backoff_data()
    {
        QTest::addColumn<int>("attempts");
        QTest::addColumn<qint64>("intervalMs");
        QTest::addColumn<qint64>("delayMs");
        QTest::newRow("first") << 1 << qint64(60'000) << qint64(60'000);
        QTest::newRow("second") << 2 << qint64(60'000) << qint64(120'000);
        QTest::newRow("sixth") << 6 << qint64(60'000) << qint64(1'920'000);
        QTest::newRow("capped") << 7 << qint64(60'000) << qint64(3'600'000);
        QTest::newRow("far") << 40 << qint64(60'000) << qint64(3'600'000);
        QTest::newRow("test interval") << 3 << qint64(200) << qint64(800);
    }
    void backoff()
    {
        QFETCH(int, attempts);
        QFETCH(qint64, intervalMs);
        QFETCH(qint64, delayMs);
        QCOMPARE(retryDelayMs(attempts, intervalMs), delayMs);
    }
};

QTEST_GUILESS_MAIN(TestMailMessage)
#include "tst_mailmessage.moc"
