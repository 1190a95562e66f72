// Incremental UTF-8 validation: RFC 3629 edges (overlong forms, surrogates, above U+10FFFF),
// sequences split between feeds at every byte, and failing at the first bad byte.
#include "websocket/utf8validator.h"

#include <QtTest>

using namespace Berth::WebSocket;

class TestUtf8Validator : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void wholeTexts_data();
    void wholeTexts();
    void splitAtEveryByte_data();
    void splitAtEveryByte();
    void failsAtFirstBadByte();
    void incompleteUntilSequenceEnds();
};

void TestUtf8Validator::wholeTexts_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("valid");
    QTest::newRow("empty") << QByteArray() << true;
    QTest::newRow("ascii") << QByteArray("hello") << true;
    QTest::newRow("kosme") << QByteArray("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5") << true;
    QTest::newRow("U+0080") << QByteArray("\xc2\x80") << true;
    QTest::newRow("U+07FF") << QByteArray("\xdf\xbf") << true;
    QTest::newRow("U+0800") << QByteArray("\xe0\xa0\x80") << true;
    QTest::newRow("U+D7FF") << QByteArray("\xed\x9f\xbf") << true;
    QTest::newRow("U+E000") << QByteArray("\xee\x80\x80") << true;
    QTest::newRow("U+FFFF") << QByteArray("\xef\xbf\xbf") << true;
    QTest::newRow("U+10000") << QByteArray("\xf0\x90\x80\x80") << true;
    QTest::newRow("U+10FFFF") << QByteArray("\xf4\x8f\xbf\xbf") << true;
    QTest::newRow("lone continuation") << QByteArray("\x80") << false;
    QTest::newRow("overlong slash 2") << QByteArray("\xc0\xaf") << false;
    QTest::newRow("overlong C1") << QByteArray("\xc1\xbf") << false;
    QTest::newRow("overlong slash 3") << QByteArray("\xe0\x80\xaf") << false;
    QTest::newRow("overlong slash 4") << QByteArray("\xf0\x80\x80\xaf") << false;
    QTest::newRow("surrogate D800") << QByteArray("\xed\xa0\x80") << false;
    QTest::newRow("surrogate DFFF") << QByteArray("\xed\xbf\xbf") << false;
    QTest::newRow("U+110000") << QByteArray("\xf4\x90\x80\x80") << false;
    QTest::newRow("F5") << QByteArray("\xf5\x80\x80\x80") << false;
    QTest::newRow("5-byte form") << QByteArray("\xf8\x88\x80\x80\x80") << false;
    QTest::newRow("FE") << QByteArray("\xfe") << false;
    QTest::newRow("FF") << QByteArray("\xff") << false;
    QTest::newRow("truncated") << QByteArray("a\xe1\xbd") << false;
    QTest::newRow("ascii after lead") << QByteArray("\xc3"
                                                    "a")
                                      << false;
}

void TestUtf8Validator::wholeTexts()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, valid);
    QCOMPARE(Utf8Validator::isValid(bytes), valid);
    // Agrees with Qt's decoder on what is valid.
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    (void)QString(decoder(bytes));
    QCOMPARE(!decoder.hasError(), valid);
}

void TestUtf8Validator::splitAtEveryByte_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("mixed") << QByteArray(
        "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6-\xe2\x82\xac-\xf0\x9f\x98\x80!");
}

void TestUtf8Validator::splitAtEveryByte()
{
    QFETCH(QByteArray, bytes);
    for (qsizetype cut = 0; cut <= bytes.size(); ++cut) {
        Utf8Validator v;
        QVERIFY(v.feed(bytes.first(cut)));
        QVERIFY(v.feed(bytes.sliced(cut)));
        QVERIFY2(v.isComplete(), qPrintable(QString::number(cut)));
    }
    Utf8Validator bytewise;
    for (char c : bytes)
        QVERIFY(bytewise.feed(QByteArrayView(&c, 1)));
    QVERIFY(bytewise.isComplete());
}

void TestUtf8Validator::failsAtFirstBadByte()
{
    Utf8Validator v;
    QVERIFY(v.feed("good \xed")); // could still be U+D000..U+D7FF
    QVERIFY(!v.feed("\xa0"));     // a surrogate: fails here, before the rest
    QVERIFY(v.failed());
    QVERIFY(!v.feed("plain")); // stays failed
    v.reset();
    QVERIFY(v.feed("plain") && v.isComplete());
}

void TestUtf8Validator::incompleteUntilSequenceEnds()
{
    Utf8Validator v;
    QVERIFY(v.feed("\xf0\x9f"));
    QVERIFY(!v.isComplete());
    QVERIFY(!v.failed());
    QVERIFY(v.feed("\x98\x80"));
    QVERIFY(v.isComplete());
}

QTEST_GUILESS_MAIN(TestUtf8Validator)
#include "tst_utf8validator.moc"
