#include "http/chunkeddecoder.h"

#include <QDir>
#include <QFile>
#include <QSet>
#include <QTest>

#include <cctype>

using namespace Berth::Http;
using Status = ChunkedDecoder::Status;

namespace {

template <std::size_t N> QByteArray B(const char (&s)[N])
{
    return QByteArray(s, N - 1);
}

const char *statusName(Status s)
{
    switch (s) {
    case Status::NeedMore:
        return "NeedMore";
    case Status::Data:
        return "Data";
    case Status::Done:
        return "Done";
    case Status::Error:
        return "Error";
    case Status::TooLarge:
        return "TooLarge";
    }
    return "?";
}

struct ChunkRow
{
    QByteArray name;
    QByteArray input;
    Status status;       // how the whole input ends
    QByteArray body;     // decoded bytes delivered before that
    QByteArray leftover; // Done: the bytes after the message (the next request)
    qint64 maxBody = -1;
    qsizetype maxTrailer = 8 * 1024;
};

struct Outcome
{
    Status status = Status::NeedMore;
    QByteArray body;
    QByteArray leftover;
    QByteArray reason;
    qint64 decodedBytes = 0;
    QByteArray violation; // a broken API invariant, if any

    bool operator==(const Outcome &o) const
    {
        return status == o.status && body == o.body && leftover == o.leftover &&
               reason == o.reason && decodedBytes == o.decodedBytes && violation == o.violation;
    }
};

QByteArray describe(const Outcome &o)
{
    return QByteArray(statusName(o.status)) + " body=" + o.body.left(40).toPercentEncoding() +
           " leftover=" + o.leftover.left(40).toPercentEncoding() + " reason=\"" + o.reason +
           "\" decoded=" + QByteArray::number(o.decodedBytes) + ' ' + o.violation;
}

// Feeds input in pieces ending at `cuts`, the way the engine does: unconsumed bytes stay at the
// front of its buffer and new bytes are appended.
Outcome runPieces(const ChunkRow &row, const QList<qsizetype> &cuts)
{
    ChunkedDecoder decoder(row.maxBody, row.maxTrailer);
    Outcome o;
    QByteArray pending;
    qsizetype from = 0;
    for (qsizetype i = 0; i <= cuts.size(); ++i) {
        const qsizetype to = i < cuts.size() ? cuts[i] : row.input.size();
        pending.append(row.input.constData() + from, to - from);
        from = to;
        for (;;) {
            const Status s = decoder.decode(pending);
            const qsizetype used = decoder.consumed();
            o.decodedBytes = decoder.decodedBytes();
            if (used < 0 || used > pending.size())
                o.violation += "consumed out of range;";
            if (s == Status::Data) {
                const QByteArrayView d = decoder.data();
                if (d.isEmpty() || d.data() < pending.constData() ||
                    d.data() + d.size() > pending.constData() + used)
                    o.violation += "data outside the consumed input;";
                o.body += d.toByteArray();
                pending.remove(0, used);
                continue;
            }
            if (s == Status::NeedMore) {
                if (used != pending.size())
                    o.violation += "NeedMore left input;";
                pending.clear();
                break;
            }
            o.status = s;
            o.reason = decoder.errorReason();
            if (s == Status::Done)
                o.leftover = pending.mid(used) + row.input.mid(from);
            return o;
        }
    }
    o.status = Status::NeedMore;
    return o;
}

Outcome runByteByByte(const ChunkRow &row)
{
    QList<qsizetype> cuts;
    for (qsizetype i = 1; i < row.input.size(); ++i)
        cuts.append(i);
    return runPieces(row, cuts);
}

QList<ChunkRow> chunkRows()
{
    QList<ChunkRow> rows;
    const auto done = [&](const char *name, const QByteArray &in, const QByteArray &body,
                          const QByteArray &leftover = {}) {
        rows.append({name, in, Status::Done, body, leftover});
    };
    const auto more = [&](const char *name, const QByteArray &in, const QByteArray &body) {
        rows.append({name, in, Status::NeedMore, body, {}});
    };
    const auto bad = [&](const char *name, const QByteArray &in, const QByteArray &body = {}) {
        rows.append({name, in, Status::Error, body, {}});
    };
    const auto large = [&](const char *name, const QByteArray &in, qint64 maxBody,
                           const QByteArray &body = {}) {
        rows.append({name, in, Status::TooLarge, body, {}, maxBody});
    };

    // --- well-formed bodies
    done("one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello");
    done("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
    done("empty body", "0\r\n\r\n", "");
    done("lowercase hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    done("uppercase hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    done("mixed-case multi-digit hex", "1F\r\n" + QByteArray(31, 'x') + "\r\n0\r\n\r\n",
         QByteArray(31, 'x'));
    done("leading zeros", "0005\r\nhello\r\n0000\r\n\r\n", "hello");
    done("16 digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", "hello");
    done("binary data with CRLF inside", B("4\r\n\r\n\0\n\r\n0\r\n\r\n"), B("\r\n\0\n"));
    done("extension name", "5;a\r\nhello\r\n0\r\n\r\n", "hello");
    done("extension token value", "5;name=value\r\nhello\r\n0\r\n\r\n", "hello");
    done("extension quoted value", "5;a=\"b c;d\"\r\nhello\r\n0\r\n\r\n", "hello");
    done("extension quoted-pair", "5;a=\"q\\\"x\\\\\"\r\nhello\r\n0\r\n\r\n", "hello");
    done("extension empty quoted", "5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello");
    done("several extensions", "5;a=1;b;c=\"x\"\r\nhello\r\n0\r\n\r\n", "hello");
    done("extension on last chunk", "5\r\nhello\r\n0;done=yes\r\n\r\n", "hello");
    done("trailer", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", "hello");
    done("two trailers", "0\r\nA: 1\r\nB:  two words \r\n\r\n", "");
    done("trailer empty value", "0\r\nX:\r\n\r\n", "");
    done("trailer obs-text", "0\r\nX: \xa0\xff\r\n\r\n", "");
    done("pipelined request after", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", "abc",
         "GET / HTTP/1.1\r\n\r\n");
    // HOSTILE-INPUTS 7 "extra byte after the last chunk" and 1's "G": the decoder stops at the
    // end of the message; the byte is the next request's first byte, for the head parser.
    done("7 extra byte after last chunk", "0\r\n\r\nG", "", "G");
    done("extra CRLF after last chunk", "0\r\n\r\n\r\n", "", "\r\n");
    rows.append(
        {"max body exactly reached", "5\r\nhello\r\n0\r\n\r\n", Status::Done, "hello", {}, 5});
    rows.append({"max body 0 with empty body", "0\r\n\r\n", Status::Done, "", {}, 0});
    {
        // Trailer section of exactly maxTrailerBytes (field lines with their CRLFs).
        const QByteArray line = "T: " + QByteArray(8 * 1024 - 5, 't') + "\r\n";
        done("trailer at maxTrailerBytes", "0\r\n" + line + "\r\n", "");
        bad("trailer one over maxTrailerBytes", "0\r\nT: t" + line.mid(3) + "\r\n");
        bad("trailer over, many small lines", "0\r\n" + QByteArray("A: 1\r\n").repeated(2000));
    }
    {
        const QByteArray ext = ";" + QByteArray(4 * 1024 - 1, 'e');
        done("extension at 4 KiB", "1" + ext + "\r\nx\r\n0\r\n\r\n", "x");
        bad("extension over 4 KiB", "1" + ext + "e\r\nx\r\n0\r\n\r\n");
    }

    // --- incomplete
    more("nothing", {}, {});
    more("size only", "5", {});
    more("size line", "5\r\n", {});
    more("partial data", "5\r\nhel", "hel");
    more("data without CRLF yet", "5\r\nhello", "hello");
    more("data CR", "5\r\nhello\r", "hello");
    more("after a chunk", "5\r\nhello\r\n", "hello");
    more("last chunk", "5\r\nhello\r\n0\r\n", "hello");
    more("last chunk CR", "0\r\n\r", {});
    more("in trailer", "0\r\nX: 1\r\n", {});
    more("in extension", "5;a=\"b", {});
    more("announced huge chunk, no limit", "7fffffffffffffff\r\nabc", "abc");

    // --- 7. bad chunk sizes and framing
    bad("7 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n");
    bad("7 plus sign", "+5\r\nhello\r\n0\r\n\r\n");
    bad("7 minus sign", "-1\r\nhello\r\n0\r\n\r\n");
    bad("7 leading space", " 5\r\nhello\r\n0\r\n\r\n");
    bad("7 leading tab", "\t5\r\nhello\r\n0\r\n\r\n");
    bad("7 trailing space", "5 \r\nhello\r\n0\r\n\r\n");
    bad("7 space before extension", "5 ;ext\r\nhello\r\n0\r\n\r\n");
    bad("7 tab before extension", "5\t;ext\r\nhello\r\n0\r\n\r\n");
    bad("7 empty size", "\r\nhello\r\n0\r\n\r\n");
    bad("7 extension without size", ";a\r\nhello\r\n0\r\n\r\n");
    bad("7 17 hex digits", "00000000000000005\r\nhello\r\n0\r\n\r\n");
    bad("7 non-hex digit", "g\r\n");
    bad("7 size then garbage", "5x\r\nhello\r\n0\r\n\r\n");
    bad("7 data longer than size", "3\r\nhello\r\n0\r\n\r\n", "hel");
    bad("7 data shorter than size", "5\r\nhel\r\n0\r\n\r\n", "hel\r\n");
    bad("7 bare CR in extension", "5;a=b\rX\r\nhello\r\n0\r\n\r\n");
    bad("7 bare CR after size", "5\rhello\r\n0\r\n\r\n");
    bad("7 CR CR LF after size", "5\r\r\nhello\r\n0\r\n\r\n");
    bad("7 bare LF after size", "5\nhello\r\n0\r\n\r\n");
    bad("7 missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", "hello");
    bad("7 bare CR after data", "5\r\nhello\rX0\r\n\r\n", "hello");
    bad("7 bare LF after data", "5\r\nhello\n0\r\n\r\n", "hello");
    bad("7 missing CRLF then next chunk", "5\r\nhello0\r\n\r\n", "hello");
    bad("7 empty size line between chunks", "5\r\nhello\r\n\r\n0\r\n\r\n", "hello");
    bad("7 NUL in size", B("5\0\r\nhello\r\n0\r\n\r\n"));
    bad("7 bare LF after last chunk", "0\n\r\n");
    bad("7 bare LF ends body", "0\r\n\n");
    bad("7 CR X ends body", "0\r\n\rX");
    bad("extension with BWS", "5; a=b\r\nhello\r\n0\r\n\r\n");
    bad("extension space before =", "5;a =b\r\nhello\r\n0\r\n\r\n");
    bad("extension space after =", "5;a= b\r\nhello\r\n0\r\n\r\n");
    bad("extension without name", "5;=b\r\nhello\r\n0\r\n\r\n");
    bad("extension empty value", "5;a=\r\nhello\r\n0\r\n\r\n");
    bad("extension empty", "5;\r\nhello\r\n0\r\n\r\n");
    bad("extension double semicolon", "5;a;;b\r\nhello\r\n0\r\n\r\n");
    bad("extension value with space", "5;a=b c\r\nhello\r\n0\r\n\r\n");
    bad("extension unterminated quote", "5;a=\"b\r\nhello\r\n0\r\n\r\n");
    bad("extension after quote", "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n");
    bad("extension NUL in quoted", B("5;a=\"\0\"\r\nhello\r\n0\r\n\r\n"));
    bad("extension CTL quoted-pair", "5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n");
    bad("extension bad name byte", "5;a@b\r\nhello\r\n0\r\n\r\n");
    bad("trailer obs-fold", "0\r\nX: 1\r\n folded\r\n\r\n");
    bad("trailer whitespace before colon", "0\r\nX : 1\r\n\r\n");
    bad("trailer without colon", "0\r\nX\r\n\r\n");
    bad("trailer empty name", "0\r\n: v\r\n\r\n");
    bad("trailer NUL", B("0\r\nX: a\0b\r\n\r\n"));
    bad("trailer bare CR", "0\r\nX: a\rb\r\n\r\n");
    bad("trailer bare LF", "0\r\nX: a\n\r\n");
    bad("trailer DEL", "0\r\nX: \x7f\r\n\r\n");
    bad("trailer space in name", "0\r\nX Y: 1\r\n\r\n");

    // --- 20. body over the limit: refused when the size is announced, before its data
    large("20 first chunk over", "6\r\nhello!\r\n0\r\n\r\n", 5);
    large("20 grows past the limit", "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 8, "hello");
    large("20 huge announcement", "ffffffff\r\n", 1024 * 1024);
    large("20 limit 0", "1\r\nx\r\n0\r\n\r\n", 0);
    large("overflow with no limit", "ffffffffffffffff\r\n", -1);
    large("overflow across chunks", "1\r\nx\r\n7fffffffffffffff\r\n", -1, "x");
    return rows;
}

// One seed file per row, named after the row.
QByteArray corpusFileName(const QByteArray &rowName)
{
    QByteArray file;
    for (char c : rowName)
        file += (std::isalnum(uchar(c)) ? c : '_');
    return file;
}

void writeCorpus(const char *dirName, const QList<ChunkRow> &rows)
{
    const QByteArray root = qgetenv("BERTH_WRITE_CORPUS");
    if (root.isEmpty())
        return;
    QDir dir(QFile::decodeName(root));
    dir.mkpath(QFile::decodeName(dirName));
    for (const ChunkRow &r : rows) {
        QFile f(dir.filePath(QFile::decodeName(dirName) + u'/' +
                             QString::fromLatin1(corpusFileName(r.name))));
        if (f.open(QIODevice::WriteOnly))
            f.write(r.input);
    }
}

} // namespace

Q_DECLARE_METATYPE(ChunkRow)

class TestChunkedDecoder : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void decode_data();
    void decode();
    void splitAtEveryByte_data() { decode_data(); }
    void splitAtEveryByte();
    void tooLargeBeforeData();
    void dataPointsIntoInput();
    void oneSpanPerCall();
    void stickyAfterEnd();
    void resetForNextBody();
    void bigBodyInOnePiece();
};

void TestChunkedDecoder::initTestCase()
{
    QSet<QByteArray> files;
    for (const ChunkRow &r : chunkRows()) {
        QVERIFY2(!files.contains(corpusFileName(r.name)), "row names must differ in [A-Za-z0-9]");
        files.insert(corpusFileName(r.name));
    }
    // BERTH_WRITE_CORPUS=fuzz/corpus turns the rows into the fuzzer's seed corpus.
    writeCorpus("chunked", chunkRows());
}

void TestChunkedDecoder::decode_data()
{
    QTest::addColumn<ChunkRow>("row");
    for (const ChunkRow &r : chunkRows())
        QTest::newRow(r.name.constData()) << r;
}

void TestChunkedDecoder::decode()
{
    QFETCH(ChunkRow, row);
    const Outcome o = runPieces(row, {});
    QCOMPARE(statusName(o.status), statusName(row.status));
    QCOMPARE(o.body, row.body);
    QCOMPARE(o.decodedBytes, row.body.size());
    QCOMPARE(o.violation, QByteArray());
    if (row.status == Status::Done)
        QCOMPARE(o.leftover, row.leftover);
    if (row.status == Status::Error || row.status == Status::TooLarge)
        QVERIFY(!o.reason.isEmpty());
}

void TestChunkedDecoder::splitAtEveryByte()
{
    QFETCH(ChunkRow, row);
    const Outcome whole = runPieces(row, {});
    const Outcome bytes = runByteByByte(row);
    QVERIFY2(bytes == whole, describe(bytes) + " != " + describe(whole));
    const qsizetype stride = row.input.size() > 2048 ? 61 : 1;
    for (qsizetype cut = 1; cut < row.input.size(); cut += stride) {
        const Outcome two = runPieces(row, {cut});
        QVERIFY2(two == whole, "cut " + QByteArray::number(cut) + ": " + describe(two) +
                                   " != " + describe(whole));
    }
    // Three pieces around the middle too: state must survive more than one boundary.
    const qsizetype n = row.input.size();
    if (n >= 3 && n <= 512) {
        for (qsizetype a = 1; a < n - 1; ++a) {
            const Outcome three = runPieces(row, {a, a + (n - a) / 2});
            QVERIFY2(three == whole, describe(three) + " != " + describe(whole));
        }
    }
}

void TestChunkedDecoder::tooLargeBeforeData()
{
    // The 413 must come from the announcement alone: no data byte of that chunk is read,
    // and a slow client can't make us wait for it (HOSTILE-INPUTS 17, 20).
    ChunkedDecoder d(10);
    QCOMPARE(d.decode("8\r\n01234567\r\n"), Status::Data);
    QCOMPARE(d.decodedBytes(), 8);
    QCOMPARE(d.decode(QByteArrayView("8\r\n01234567\r\n").sliced(d.consumed())), Status::NeedMore);
    QCOMPARE(d.decode("3"), Status::TooLarge);
    QCOMPARE(d.decodedBytes(), 8);
    QCOMPARE(d.errorReason(), "chunked body too large");
}

void TestChunkedDecoder::dataPointsIntoInput()
{
    const QByteArray in = "4;x=y\r\nabcd\r\n0\r\n\r\n";
    ChunkedDecoder d;
    QCOMPARE(d.decode(in), Status::Data);
    QCOMPARE(d.data().data(), in.constData() + in.indexOf("abcd"));
    QCOMPARE(d.data().size(), 4);
    QCOMPARE(d.consumed(), in.indexOf("abcd") + 4);
    QCOMPARE(d.decode(QByteArrayView(in).sliced(d.consumed())), Status::Done);
}

void TestChunkedDecoder::oneSpanPerCall()
{
    // Two chunks in one input give two Data results, each consuming up to its span.
    const QByteArray in = "1\r\na\r\n1\r\nb\r\n0\r\n\r\nNEXT";
    ChunkedDecoder d;
    QByteArrayView rest(in);
    QCOMPARE(d.decode(rest), Status::Data);
    QCOMPARE(d.data(), "a");
    rest = rest.sliced(d.consumed());
    QCOMPARE(d.decode(rest), Status::Data);
    QCOMPARE(d.data(), "b");
    rest = rest.sliced(d.consumed());
    QCOMPARE(d.decode(rest), Status::Done);
    QCOMPARE(rest.sliced(d.consumed()), "NEXT");
}

void TestChunkedDecoder::stickyAfterEnd()
{
    ChunkedDecoder d;
    QCOMPARE(d.decode("0\r\n\r\n"), Status::Done);
    QCOMPARE(d.decode("5\r\nhello\r\n"), Status::Done);
    QCOMPARE(d.consumed(), 0);
    ChunkedDecoder e;
    QCOMPARE(e.decode("x"), Status::Error);
    QCOMPARE(e.decode("0\r\n\r\n"), Status::Error);
}

void TestChunkedDecoder::resetForNextBody()
{
    ChunkedDecoder d(3);
    QCOMPARE(d.decode("4\r\n"), Status::TooLarge);
    d.reset(-1);
    QCOMPARE(d.decode("4\r\nabcd\r\n0\r\n\r\n"), Status::Data);
    QCOMPARE(d.decodedBytes(), 4);
    d.reset(-1);
    QCOMPARE(d.decodedBytes(), 0);
    QCOMPARE(d.decode("0\r\n\r\n"), Status::Done);
}

void TestChunkedDecoder::bigBodyInOnePiece()
{
    QByteArray in;
    QByteArray expected;
    for (int i = 0; i < 200; ++i) {
        const QByteArray chunk(i * 37 % 1000 + 1, char('a' + i % 26));
        in += QByteArray::number(chunk.size(), 16) + "\r\n" + chunk + "\r\n";
        expected += chunk;
    }
    in += "0\r\n\r\n";
    const Outcome o = runPieces({"big", in, Status::Done, expected, {}}, {});
    QCOMPARE(statusName(o.status), "Done");
    QCOMPARE(o.body, expected);
    const Outcome pieces = runPieces({"big", in, Status::Done, expected, {}}, {1000, 5000, 5001});
    QVERIFY(pieces == o);
}

QTEST_APPLESS_MAIN(TestChunkedDecoder)
#include "tst_chunkeddecoder.moc"
