// MIME composition: structure, encodings, header encoding, and that it is deterministic.
#include "mail/mimecomposer.h"

#include <QRegularExpression>
#include <QTest>
#include <QTimeZone>

using namespace Berth::Mail;
using namespace Qt::StringLiterals;

namespace {

QByteArray decodeQuotedPrintable(const QByteArray &qp)
{
    QByteArray out;
    for (qsizetype i = 0; i < qp.size(); ++i) {
        if (qp[i] != '=') {
            out += qp[i];
            continue;
        }
        if (qp.mid(i + 1, 2) == "\r\n") {
            i += 2;
            continue;
        }
        out += char(qp.mid(i + 1, 2).toInt(nullptr, 16));
        i += 2;
    }
    return out;
}

Message sample()
{
    Message m;
    m.id = u"20261129231000000.0123456789ab"_s;
    m.messageId = u"<20261129231000000.0123456789ab@host.example>"_s;
    m.date = QDateTime(QDate(2026, 11, 29), QTime(23, 10, 39), Qt::UTC);
    m.from = u"Ann <a@x.org>"_s;
    m.to = {u"b@y.org"_s, u"Jürgen Groß <j@y.de>"_s};
    m.bcc = {u"hidden@z.org"_s};
    m.subject = u"Hello"_s;
    m.text = u"plain text"_s;
    return m;
}

QStringList lines(const QByteArray &bytes)
{
    QStringList out;
    for (const QByteArray &l : bytes.split('\n'))
        out.append(QString::fromUtf8(l));
    return out;
}

} // namespace

class TestMimeComposer : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void plainMessage()
    {
        const QByteArray mime = composeMime(sample());
        QVERIFY(mime.startsWith("From: \"Ann\" <a@x.org>\r\n"));
        QVERIFY(mime.contains("\r\nDate: Sun, 29 Nov 2026 23:10:39 +0000\r\n"));
        QVERIFY(mime.contains("\r\nMessage-ID: <20261129231000000.0123456789ab@host.example>\r\n"));
        QVERIFY(mime.contains("\r\nMIME-Version: 1.0\r\n"));
        QVERIFY(mime.contains("Content-Type: text/plain; charset=utf-8\r\n"
                              "Content-Transfer-Encoding: quoted-printable\r\n\r\nplain text\r\n"));
        QVERIFY(!mime.contains("hidden@z.org")); // Bcc never in the headers
        QVERIFY(!mime.contains("multipart"));
        // The non-ASCII display name is an encoded word; the address stays readable.
        QVERIFY(mime.contains("=?UTF-8?B?" + u"Jürgen Groß"_s.toUtf8().toBase64() + "?= <j@y.de>"));
        // Every line ends in CRLF, none is longer than 78 characters.
        for (const QByteArray &line : mime.split('\n')) {
            QVERIFY(line.isEmpty() || line.endsWith('\r'));
            QVERIFY2(line.size() <= 79, line.constData());
        }
        QCOMPARE(composeMime(sample()), mime); // same message, same bytes (retries)
    }

    void fullStructure()
    {
        Message m = sample();
        m.html = u"<p>Hi <img src=\"cid:logo\"></p>"_s;
        m.attachments = {
            {u"logo.png"_s, u"image/png"_s, QByteArray(300, '\x89'), u"logo"_s},
            {u"Bericht ü.pdf"_s, u"application/pdf"_s, QByteArray("%PDF-1.4"), QString()}};
        const QByteArray mime = composeMime(m);
        const qsizetype mixed = mime.indexOf("Content-Type: multipart/mixed;");
        const qsizetype related = mime.indexOf("Content-Type: multipart/related;");
        const qsizetype alternative = mime.indexOf("Content-Type: multipart/alternative;");
        QVERIFY(mixed > 0);
        QVERIFY(related > mixed);
        QVERIFY(alternative > related);
        QVERIFY(mime.indexOf("text/plain") > alternative);
        QVERIFY(mime.indexOf("text/html") > mime.indexOf("text/plain"));
        QVERIFY(mime.contains("Content-ID: <logo>\r\nContent-Disposition: inline; "
                              "filename=\"logo.png\""));
        QVERIFY(mime.contains(
            "Content-Disposition: attachment; filename*=UTF-8''Bericht%20%C3%BC.pdf"));
        QVERIFY(mime.indexOf("logo.png") < mime.indexOf("Bericht"));
        QVERIFY(mime.contains(QByteArray("%PDF-1.4").toBase64()));
        // Three multiparts of two parts each: six part delimiters and three closing ones.
        QCOMPARE(mime.count("\r\n--=_berth_"), 9);
        QCOMPARE(QString::fromLatin1(mime).count(
                     QRegularExpression(u"\r\n--=_berth_[0-9a-f]+_[0-9]--\r\n"_s)),
                 3);
    }

    void quotedPrintable_data()
    {
        QTest::addColumn<QString>("text");
        QTest::newRow("ascii") << u"hello world"_s;
        QTest::newRow("equals") << u"a=b"_s;
        QTest::newRow("utf8") << u"Grüße, 東京"_s;
        QTest::newRow("long") << QString(200, u'x');
        QTest::newRow("long utf8") << QString(100, u'ü');
        QTest::newRow("trailing space") << u"end \nnext\t\nlast"_s;
        QTest::newRow("dot line") << u"a\n.\nb"_s;
        QTest::newRow("spaces at wrap") << QString(74, u'a') + u"  bb"_s;
    }
    void quotedPrintable()
    {
        QFETCH(QString, text);
        const QByteArray qp = encodeQuotedPrintable(text.toUtf8());
        for (const QByteArray &line : qp.split('\n')) {
            const QByteArray l = line.endsWith('\r') ? line.chopped(1) : line;
            QVERIFY2(l.size() <= 76, l.constData());
            QVERIFY(!l.endsWith(' ') && !l.endsWith('\t'));
            QVERIFY(!l.startsWith('.'));
        }
        QByteArray expected = text.toUtf8();
        expected.replace("\n", "\r\n");
        QCOMPARE(decodeQuotedPrintable(qp), expected);
    }

    void headerText()
    {
        QCOMPARE(encodeHeaderText(u"Plain subject"_s, 9), QByteArray("Plain subject"));
        const QString long_ = QString(40, u'é') + u"東京"_s;
        const QByteArray encoded = encodeHeaderText(long_, 9);
        QString decoded;
        QByteArray utf8;
        for (const QByteArray &word : encoded.simplified().split(' ')) {
            QVERIFY(word.startsWith("=?UTF-8?B?") && word.endsWith("?="));
            QVERIFY(word.size() <= 75);
            const QByteArray piece = QByteArray::fromBase64(word.mid(10, word.size() - 12));
            // Each word decodes on its own: no character split across words.
            QVERIFY(!QString::fromUtf8(piece).contains(QChar::ReplacementCharacter));
            utf8 += piece;
        }
        QCOMPARE(QString::fromUtf8(utf8), long_);
        for (const QString &line : lines(encoded))
            QVERIFY(line.size() <= 78);
    }

    void longAsciiHeaderIsFolded()
    {
        QString subject;
        for (int i = 0; i < 60; ++i)
            subject += u"word%1 "_s.arg(i);
        subject = subject.trimmed();
        const QByteArray folded = encodeHeaderText(subject, 9);
        QVERIFY(folded.contains("\r\n "));
        for (const QString &line : lines(folded))
            QVERIFY(line.size() <= 79);
        // Unfolding (removing CRLF before whitespace) gives the text back.
        QCOMPARE(QString::fromLatin1(QByteArray(folded).replace("\r\n", "")), subject);
        // One word too long to fold becomes encoded-words.
        const QByteArray word = encodeHeaderText(QString(1200, u'x'), 9);
        QVERIFY(word.startsWith("=?UTF-8?B?"));
        for (const QString &line : lines(word))
            QVERIFY(line.size() <= 79);
    }

    void base64Lines()
    {
        const QByteArray data(1000, 'z');
        const QByteArray encoded = encodeBase64Lines(data);
        for (const QByteArray &line : encoded.split('\n'))
            QVERIFY(line.size() <= 77);
        QCOMPARE(QByteArray::fromBase64(QByteArray(encoded).replace("\r\n", "")), data);
    }
};

QTEST_GUILESS_MAIN(TestMimeComposer)
#include "tst_mimecomposer.moc"
