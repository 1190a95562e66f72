#include "apps/staticfiles/byteranges.h"
#include "apps/staticfiles/preconditions.h"
#include "http/requesthead.h"

#include <QElapsedTimer>
#include <QTest>

using namespace Berth::Apps;

using Kind = RangeRequest::Kind;
Q_DECLARE_METATYPE(Kind)

// Range parsing and the entity-tag / precondition helpers of the static file app, without files.
class tst_ByteRanges : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parse_data();
    void parse();
    void parseIsBounded();
    void entityTags_data();
    void entityTags();
    void validatorsLookLikeNginx();
};

void tst_ByteRanges::parse_data()
{
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<qint64>("size");
    QTest::addColumn<Kind>("kind");
    QTest::addColumn<QList<qint64>>("bounds"); // first, last, first, last ...

    using L = QList<qint64>;
    const qint64 s = 100;
    QTest::newRow("first byte") << QByteArrayLiteral("bytes=0-0") << s << Kind::Ranges << L{0, 0};
    QTest::newRow("closed") << QByteArrayLiteral("bytes=10-19") << s << Kind::Ranges << L{10, 19};
    QTest::newRow("open") << QByteArrayLiteral("bytes=90-") << s << Kind::Ranges << L{90, 99};
    QTest::newRow("suffix") << QByteArrayLiteral("bytes=-10") << s << Kind::Ranges << L{90, 99};
    QTest::newRow("suffix longer than file")
        << QByteArrayLiteral("bytes=-1000") << s << Kind::Ranges << L{0, 99};
    QTest::newRow("end clamped") << QByteArrayLiteral("bytes=50-1000") << s << Kind::Ranges
                                 << L{50, 99};
    QTest::newRow("end overflows") << QByteArrayLiteral("bytes=50-99999999999999999999999999") << s
                                   << Kind::Ranges << L{50, 99};
    QTest::newRow("unit case-insensitive")
        << QByteArrayLiteral("Bytes=0-1") << s << Kind::Ranges << L{0, 1};
    QTest::newRow("whitespace in list")
        << QByteArrayLiteral("bytes=0-1 ,\t 5-6 ") << s << Kind::Ranges << L{0, 1, 5, 6};
    QTest::newRow("empty list elements")
        << QByteArrayLiteral("bytes=,0-1,,5-6,") << s << Kind::Ranges << L{0, 1, 5, 6};
    QTest::newRow("multi keeps request order")
        << QByteArrayLiteral("bytes=50-59,0-9") << s << Kind::Ranges << L{50, 59, 0, 9};
    QTest::newRow("adjacent is not overlapping")
        << QByteArrayLiteral("bytes=0-4,5-9") << s << Kind::Ranges << L{0, 4, 5, 9};
    QTest::newRow("unsatisfiable part dropped")
        << QByteArrayLiteral("bytes=0-1,200-300") << s << Kind::Ranges << L{0, 1};
    QTest::newRow("16 ranges allowed")
        << QByteArrayLiteral("bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,"
                             "22-22,24-24,26-26,28-28,30-30")
        << s << Kind::Ranges << L{0,  0,  2,  2,  4,  4,  6,  6,  8,  8,  10, 10, 12, 12, 14, 14,
                                  16, 16, 18, 18, 20, 20, 22, 22, 24, 24, 26, 26, 28, 28, 30, 30};

    QTest::newRow("start past end")
        << QByteArrayLiteral("bytes=100-") << s << Kind::Unsatisfiable << L{};
    QTest::newRow("huge start") << QByteArrayLiteral("bytes=99999999999-") << s
                                << Kind::Unsatisfiable << L{};
    QTest::newRow("overflowing start")
        << QByteArrayLiteral("bytes=999999999999999999999999-") << s << Kind::Unsatisfiable << L{};
    QTest::newRow("zero suffix") << QByteArrayLiteral("bytes=-0") << s << Kind::Unsatisfiable
                                 << L{};
    QTest::newRow("all parts past end")
        << QByteArrayLiteral("bytes=100-200,300-") << s << Kind::Unsatisfiable << L{};
    QTest::newRow("empty file") << QByteArrayLiteral("bytes=0-") << qint64(0) << Kind::Unsatisfiable
                                << L{};
    QTest::newRow("empty file suffix")
        << QByteArrayLiteral("bytes=-5") << qint64(0) << Kind::Unsatisfiable << L{};

    QTest::newRow("overlapping") << QByteArrayLiteral("bytes=0-50,40-60") << s << Kind::Ignore
                                 << L{};
    QTest::newRow("same range twice")
        << QByteArrayLiteral("bytes=0-0,0-0") << s << Kind::Ignore << L{};
    QTest::newRow("suffix overlaps")
        << QByteArrayLiteral("bytes=0-95,-10") << s << Kind::Ignore << L{};
    QTest::newRow("17 ranges") << QByteArrayLiteral("bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,"
                                                    "16-16,18-18,20-20,22-22,24-24,26-26,28-28,"
                                                    "30-30,32-32")
                               << s << Kind::Ignore << L{};
    QTest::newRow("not bytes") << QByteArrayLiteral("items=0-1") << s << Kind::Ignore << L{};
    QTest::newRow("no equals") << QByteArrayLiteral("bytes 0-1") << s << Kind::Ignore << L{};
    QTest::newRow("nothing after unit") << QByteArrayLiteral("bytes=") << s << Kind::Ignore << L{};
    QTest::newRow("only commas") << QByteArrayLiteral("bytes=,,") << s << Kind::Ignore << L{};
    QTest::newRow("empty") << QByteArray() << s << Kind::Ignore << L{};
    QTest::newRow("reversed") << QByteArrayLiteral("bytes=5-1") << s << Kind::Ignore << L{};
    QTest::newRow("reversed among valid")
        << QByteArrayLiteral("bytes=0-1,5-1") << s << Kind::Ignore << L{};
    QTest::newRow("lone dash") << QByteArrayLiteral("bytes=-") << s << Kind::Ignore << L{};
    QTest::newRow("negative start") << QByteArrayLiteral("bytes=--5") << s << Kind::Ignore << L{};
    QTest::newRow("letters") << QByteArrayLiteral("bytes=a-b") << s << Kind::Ignore << L{};
    QTest::newRow("no dash") << QByteArrayLiteral("bytes=5") << s << Kind::Ignore << L{};
    QTest::newRow("plus sign") << QByteArrayLiteral("bytes=+1-2") << s << Kind::Ignore << L{};
    QTest::newRow("junk after range")
        << QByteArrayLiteral("bytes=0-1x") << s << Kind::Ignore << L{};
    QTest::newRow("space inside spec")
        << QByteArrayLiteral("bytes=0 -1") << s << Kind::Ignore << L{};
    QTest::newRow("semicolon separator")
        << QByteArrayLiteral("bytes=0-1;2-3") << s << Kind::Ignore << L{};
    QTest::newRow("garbage in later spec")
        << QByteArrayLiteral("bytes=0-1,zz") << s << Kind::Ignore << L{};
}

void tst_ByteRanges::parse()
{
    QFETCH(QByteArray, header);
    QFETCH(qint64, size);
    QFETCH(Kind, kind);
    QFETCH(QList<qint64>, bounds);

    const RangeRequest result = parseRangeHeader(header, size);
    QCOMPARE(result.kind, kind);
    QList<qint64> got;
    for (const ByteRange &range : result.ranges)
        got << range.first << range.last;
    QCOMPARE(got, bounds);
}

void tst_ByteRanges::parseIsBounded()
{
    // The Apache Killer: a thousand overlapping ranges. The answer is the whole file, and the
    // parser stops at the 17th spec instead of sorting a thousand.
    QByteArray header = QByteArrayLiteral("bytes=0-0");
    for (int i = 1; i < 1000; ++i)
        header += QByteArrayLiteral(",0-0");
    QCOMPARE(parseRangeHeader(header, 100).kind, Kind::Ignore);

    QByteArray distinct = QByteArrayLiteral("bytes=0-0");
    for (int i = 1; i < 100000; ++i)
        distinct += ',' + QByteArray::number(i * 2) + '-' + QByteArray::number(i * 2);
    QElapsedTimer timer;
    timer.start();
    for (int i = 0; i < 1000; ++i)
        QCOMPARE(parseRangeHeader(distinct, 1 << 30).kind, Kind::Ignore);
    QVERIFY2(timer.elapsed() < 2000, "parsing must stop early");

    // A custom limit.
    QCOMPARE(parseRangeHeader("bytes=0-0,2-2", 100, 1).kind, Kind::Ignore);
    QCOMPARE(parseRangeHeader("bytes=0-0", 100, 1).kind, Kind::Ranges);
}

void tst_ByteRanges::entityTags_data()
{
    QTest::addColumn<QByteArray>("list");
    QTest::addColumn<bool>("weakMatch");
    QTest::addColumn<bool>("strongMatch");

    QTest::newRow("exact") << QByteArrayLiteral("\"abc\"") << true << true;
    QTest::newRow("star") << QByteArrayLiteral("*") << true << true;
    QTest::newRow("weak form") << QByteArrayLiteral("W/\"abc\"") << true << false;
    QTest::newRow("in a list") << QByteArrayLiteral("\"x\", \"y\",\"abc\"") << true << true;
    QTest::newRow("weak in a list") << QByteArrayLiteral("\"x\", W/\"abc\"") << true << false;
    QTest::newRow("other") << QByteArrayLiteral("\"abd\"") << false << false;
    QTest::newRow("unquoted") << QByteArrayLiteral("abc") << false << false;
    QTest::newRow("unterminated") << QByteArrayLiteral("\"abc") << false << false;
    QTest::newRow("lower-case w/") << QByteArrayLiteral("w/\"abc\"") << false << false;
    QTest::newRow("malformed before match") << QByteArrayLiteral("junk, \"abc\"") << false << false;
    QTest::newRow("empty") << QByteArray() << false << false;
    QTest::newRow("prefix only") << QByteArrayLiteral("\"ab\"") << false << false;
}

void tst_ByteRanges::entityTags()
{
    QFETCH(QByteArray, list);
    QFETCH(bool, weakMatch);
    QFETCH(bool, strongMatch);
    const QByteArrayView tag = "\"abc\"";
    QCOMPARE(entityTagListMatches(list, tag, TagComparison::Weak), weakMatch);
    QCOMPARE(entityTagListMatches(list, tag, TagComparison::Strong), strongMatch);
}

void tst_ByteRanges::validatorsLookLikeNginx()
{
    const Validators v = Validators::forFile(0x5f5e1000, 0x1234);
    QCOMPARE(v.entityTag, QByteArrayLiteral("\"5f5e1000-1234\""));
    QCOMPARE(v.lastModified, qint64(0x5f5e1000));
    QCOMPARE(Validators::forFile(0, 0).entityTag, QByteArrayLiteral("\"0-0\""));
}

QTEST_APPLESS_MAIN(tst_ByteRanges)
#include "tst_byteranges.moc"
