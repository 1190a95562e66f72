#include "http/requestheadparser.h"

#include "requestheadrows.h"

#include <QDir>
#include <QFile>
#include <QSet>
#include <QTest>

#include <cctype>
#include <cstdlib>
#include <new>

using namespace Berth::Http;
using Status = RequestHeadParser::Status;
using namespace RequestHeadRows;

// Counts heap allocations made while g_countAllocations is set, to prove that parse() does not
// allocate once the head's field vector has its capacity.
static bool g_countAllocations = false;
static long g_allocations = 0;

void *operator new(std::size_t size)
{
    if (g_countAllocations)
        ++g_allocations;
    void *p = std::malloc(size ? size : 1);
    if (!p)
        std::abort();
    return p;
}
void *operator new[](std::size_t size)
{
    return operator new(size);
}
void operator delete(void *p) noexcept
{
    std::free(p);
}
void operator delete[](void *p) noexcept
{
    std::free(p);
}
void operator delete(void *p, std::size_t) noexcept
{
    std::free(p);
}
void operator delete[](void *p, std::size_t) noexcept
{
    std::free(p);
}

namespace {

// One line that states what the parser derived: method|path|query|authority|host|
// contentLength|flags|version|field count, flags from C(hunked) K(eep-alive) E(xpect) U(pgrade).
QByteArray summary(const RequestHead &h, const Http1Framing &f)
{
    QByteArray flags;
    if (f.chunked)
        flags += 'C';
    if (f.keepAlive)
        flags += 'K';
    if (f.expectContinue)
        flags += 'E';
    if (f.upgrade)
        flags += 'U';
    return h.method.toByteArray() + '|' + h.path.toByteArray() + '|' + h.query.toByteArray() + '|' +
           h.authority.toByteArray() + '|' + h.host.toByteArray() + '|' +
           QByteArray::number(h.contentLength) + '|' + flags + '|' +
           QByteArray::number(f.versionMajor) + '.' + QByteArray::number(f.versionMinor) + '|' +
           QByteArray::number(qsizetype(h.fields.size()));
}

// What one parse run ended with.
struct Outcome
{
    Status status = Status::NeedMore;
    int httpStatus = 0;
    QByteArray reason;
    qsizetype consumed = 0;
    QByteArray summary;

    bool operator==(const Outcome &o) const
    {
        return status == o.status && httpStatus == o.httpStatus && reason == o.reason &&
               consumed == o.consumed && summary == o.summary;
    }
};

const char *statusName(Status s)
{
    switch (s) {
    case Status::NeedMore:
        return "NeedMore";
    case Status::Done:
        return "Done";
    case Status::Error:
        return "Error";
    case Status::EmptyClose:
        return "EmptyClose";
    }
    return "?";
}

QByteArray describe(const Outcome &o)
{
    return QByteArray(statusName(o.status)) + ' ' + QByteArray::number(o.httpStatus) + " \"" +
           o.reason + "\" consumed=" + QByteArray::number(o.consumed) + ' ' + o.summary;
}

// True if every view of the head points inside buffer: the engine moves a head to its own
// storage by rebasing the views, so none may point anywhere else (not even to a static "/").
bool viewsInside(const RequestHead &h, QByteArrayView buffer)
{
    const auto inside = [&](QByteArrayView v) {
        if (v.isNull())
            return true;
        return v.data() >= buffer.data() && v.data() + v.size() <= buffer.data() + buffer.size();
    };
    if (!(inside(h.method) && inside(h.target) && inside(h.path) && inside(h.query) &&
          inside(h.authority) && inside(h.host)))
        return false;
    for (const HeaderField &f : h.fields) {
        if (!inside(f.name) || !inside(f.value))
            return false;
    }
    return true;
}

Outcome finish(const RequestHeadParser &parser, Status status, const RequestHead &head,
               QByteArrayView buffer)
{
    Outcome o;
    o.status = status;
    o.consumed = parser.consumed();
    if (status == Status::Error) {
        o.httpStatus = parser.errorStatus();
        o.reason = parser.errorReason();
    }
    if (status == Status::Done) {
        o.summary = summary(head, parser.framing());
        if (!viewsInside(head, buffer))
            o.summary += " VIEWS-OUTSIDE-BUFFER";
    }
    return o;
}

Outcome parseWhole(const QByteArray &input, const HeadLimits &limits = {})
{
    RequestHeadParser parser(limits);
    RequestHead head;
    const Status s = parser.parse(input, head);
    return finish(parser, s, head, input);
}

// The engine's way: a buffer that grows by append (and may move), parsed after each piece.
Outcome parsePieces(const QByteArray &input, const QList<qsizetype> &cuts,
                    const HeadLimits &limits = {})
{
    RequestHeadParser parser(limits);
    RequestHead head;
    QByteArray buffer;
    qsizetype from = 0;
    Status s = Status::NeedMore;
    for (qsizetype i = 0; i <= cuts.size(); ++i) {
        const qsizetype to = i < cuts.size() ? cuts[i] : input.size();
        buffer.append(input.constData() + from, to - from);
        buffer.squeeze(); // force a reallocation now and then
        from = to;
        s = parser.parse(buffer, head);
        if (s != Status::NeedMore)
            break;
    }
    return finish(parser, s, head, buffer);
}

Outcome parseByteByByte(const QByteArray &input, const HeadLimits &limits = {})
{
    RequestHeadParser parser(limits);
    RequestHead head;
    QByteArray buffer;
    Status s = parser.parse(buffer, head);
    for (qsizetype i = 0; i < input.size() && s == Status::NeedMore; ++i) {
        buffer.append(input[i]);
        s = parser.parse(buffer, head);
    }
    return finish(parser, s, head, buffer);
}

// One seed file per row, named after the row.
QByteArray corpusFileName(const QByteArray &rowName)
{
    QByteArray file;
    for (char c : rowName)
        file += (std::isalnum(uchar(c)) ? c : '_');
    return file;
}

void writeCorpus(const char *dirName, const QList<QPair<QByteArray, QByteArray>> &items)
{
    const QByteArray root = qgetenv("BERTH_WRITE_CORPUS");
    if (root.isEmpty())
        return;
    QDir dir(QFile::decodeName(root));
    dir.mkpath(QFile::decodeName(dirName));
    for (const auto &[name, data] : items) {
        QFile f(dir.filePath(QFile::decodeName(dirName) + u'/' +
                             QString::fromLatin1(corpusFileName(name))));
        if (f.open(QIODevice::WriteOnly))
            f.write(data);
    }
}

} // namespace

class TestRequestHeadParser : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void parse_data();
    void parse();
    void incrementalMatchesWhole_data() { parse_data(); }
    void incrementalMatchesWhole();
    void fieldViews();
    void reuseAcrossRequests();
    void noAllocation();
    void customLimits_data();
    void customLimits();
    void earlyLimitsWithoutLineEnd();
    void everyLimitValue_data();
    void everyLimitValue();
    void parseAgainAfterDone();
    void helpers();
};

void TestRequestHeadParser::initTestCase()
{
    // BERTH_WRITE_CORPUS=fuzz/corpus turns the rows into the fuzzer's seed corpus.
    QList<QPair<QByteArray, QByteArray>> items;
    QSet<QByteArray> files;
    for (const HeadRow &r : headRows()) {
        items.append({r.name, r.input});
        QVERIFY2(!files.contains(corpusFileName(r.name)), "row names must differ in [A-Za-z0-9]");
        files.insert(corpusFileName(r.name));
    }
    writeCorpus("requesthead", items);
}

void TestRequestHeadParser::parse_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("httpStatus");
    QTest::addColumn<QByteArray>("expected");
    QTest::addColumn<qsizetype>("consumed");
    for (const HeadRow &r : headRows()) {
        QTest::newRow(r.name.constData())
            << r.input << int(r.status) << r.httpStatus << r.expected
            << (r.consumed < 0 && r.status == Status::Done ? r.input.size() : r.consumed);
    }
}

void TestRequestHeadParser::parse()
{
    QFETCH(QByteArray, input);
    QFETCH(int, status);
    QFETCH(int, httpStatus);
    QFETCH(QByteArray, expected);
    QFETCH(qsizetype, consumed);

    const Outcome o = parseWhole(input);
    QCOMPARE(statusName(o.status), statusName(Status(status)));
    if (o.status == Status::Error) {
        QCOMPARE(o.httpStatus, httpStatus);
        QCOMPARE(o.reason, expected);
    }
    if (o.status == Status::Done) {
        QCOMPARE(o.summary, expected);
        QCOMPARE(o.consumed, consumed);
    }
}

void TestRequestHeadParser::incrementalMatchesWhole()
{
    QFETCH(QByteArray, input);
    const Outcome whole = parseWhole(input);

    const Outcome bytes = parseByteByByte(input);
    QVERIFY2(bytes == whole, describe(bytes) + " != " + describe(whole));

    // Two pieces, cut at every offset (at a stride for the big rows, to keep the run short).
    const qsizetype stride = input.size() > 2048 ? 97 : 1;
    for (qsizetype cut = 1; cut < input.size(); cut += stride) {
        const Outcome two = parsePieces(input, {cut});
        QVERIFY2(two == whole, "cut " + QByteArray::number(cut) + ": " + describe(two) +
                                   " != " + describe(whole));
    }
}

void TestRequestHeadParser::fieldViews()
{
    const QByteArray input = "PUT /up HTTP/1.1\r\nHost:  a.example \r\nX-Empty:\r\n"
                             "x-multi: one \t two\t\r\nContent-Length: 4\r\n\r\nbody";
    RequestHeadParser parser;
    RequestHead head;
    QCOMPARE(parser.parse(input, head), Status::Done);
    QCOMPARE(parser.consumed(), input.size() - 4);
    QCOMPARE(head.fields.size(), std::size_t(4));
    QCOMPARE(head.fields[0].name, "Host");
    QCOMPARE(head.fields[0].value, "a.example");
    QCOMPARE(head.fields[1].name, "X-Empty");
    QVERIFY(head.fields[1].value.isEmpty());
    QCOMPARE(head.fields[2].name, "x-multi");
    QCOMPARE(head.fields[2].value, "one \t two");
    QCOMPARE(head.field("X-MULTI"), "one \t two");
    QCOMPARE(head.fieldCount("x-empty"), 1);
    QCOMPARE(head.fieldCount("missing"), 0);
    QVERIFY(head.field("missing").isNull());
    QCOMPARE(head.target, "/up");
    QCOMPARE(head.contentLength, 4);
    QVERIFY(head.hasBody());
    QVERIFY(parser.framing().isHttp11());
    // Views point into the caller's buffer: no copies.
    QCOMPARE(head.method.data(), input.constData());
    QCOMPARE(head.fields[0].value.data(), input.constData() + input.indexOf("a.example"));
}

void TestRequestHeadParser::reuseAcrossRequests()
{
    // The engine keeps one parser and one head per connection: reset() and parse again.
    const QByteArray first = get11("A: 1\r\nB: 2\r\n");
    const QByteArray second = "POST /x HTTP/1.0\r\nContent-Length: 2\r\n\r\n";
    RequestHeadParser parser;
    RequestHead head;
    QCOMPARE(parser.parse(first, head), Status::Done);
    QCOMPARE(summary(head, parser.framing()), "GET|/|||a|-1|K|1.1|3");
    const auto capacity = head.fields.capacity();
    QVERIFY(capacity >= 32);
    parser.reset();
    QCOMPARE(parser.parse(second, head), Status::Done);
    QCOMPARE(summary(head, parser.framing()), "POST|/x||||2||1.0|1");
    QCOMPARE(head.fields.capacity(), capacity);
    // An error is sticky until reset().
    parser.reset();
    QCOMPARE(parser.parse("BAD\x01", head), Status::Error);
    QCOMPARE(parser.parse(first, head), Status::Error);
    parser.reset();
    QCOMPARE(parser.parse(first, head), Status::Done);
}

void TestRequestHeadParser::noAllocation()
{
    QByteArray fields;
    for (int i = 0; i < 29; ++i)
        fields += "X-Field-" + QByteArray::number(i) + ": value " + QByteArray::number(i) + "\r\n";
    const QByteArray input = post11("Content-Length: 10\r\nConnection: keep-alive\r\n" + fields);
    RequestHeadParser parser;
    RequestHead head;
    head.fields.reserve(32);
    g_allocations = 0;
    g_countAllocations = true;
    Status s = Status::NeedMore;
    for (qsizetype i = 1; i <= input.size() && s == Status::NeedMore; ++i)
        s = parser.parse(QByteArrayView(input).first(i), head);
    parser.reset();
    const Status again = parser.parse(input, head);
    g_countAllocations = false;
    QCOMPARE(s, Status::Done);
    QCOMPARE(again, Status::Done);
    QCOMPARE(head.fields.size(), std::size_t(32));
    QCOMPARE(g_allocations, 0L);
}

void TestRequestHeadParser::customLimits_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("httpStatus");
    // Limits: 10-byte target, 20-byte field line, 3 fields, 64-byte head.
    QTest::newRow("all at the limits")
        << QByteArray("GET /123456789 HTTP/1.1\r\nHost: abcdefg\r\nX: 12345678901234567\r\n\r\n")
        << int(Status::Done) << 0;
    QTest::newRow("target over") << QByteArray("GET /1234567890 HTTP/1.1\r\n") << int(Status::Error)
                                 << 414;
    QTest::newRow("target over, partial")
        << QByteArray("GET /1234567890") << int(Status::Error) << 414;
    QTest::newRow("target at limit, partial")
        << QByteArray("GET /123456789") << int(Status::NeedMore) << 0;
    QTest::newRow("field over") << QByteArray("GET / HTTP/1.1\r\nX: 1234567890123456789\r\n")
                                << int(Status::Error) << 431;
    QTest::newRow("field at limit, CR pending")
        << QByteArray("GET / HTTP/1.1\r\nX: 12345678901234567\r") << int(Status::NeedMore) << 0;
    QTest::newRow("fourth field") << QByteArray("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD")
                                  << int(Status::Error) << 431;
    QTest::newRow("head at limit, partial")
        << QByteArray("GET /123456789 HTTP/1.1\r\nHost: abcdefg\r\nX: 12345678901234567\r\nYY")
        << int(Status::NeedMore) << 0;
    QTest::newRow("head over, partial")
        << QByteArray("GET /123456789 HTTP/1.1\r\nHost: abcdefg\r\nX: 12345678901234567\r\nYYY")
        << int(Status::Error) << 431;
    QTest::newRow("head over by the final LF")
        << QByteArray("GET /123456789 HTTP/1.1\r\nHost: abcdefgh\r\nX: 12345678901234567\r\n\r\n")
        << int(Status::Error) << 431;
    QTest::newRow("bad byte before the limit wins") << QByteArray("GET /12\x01"
                                                                  "4567890 HTTP/1.1\r\n")
                                                    << int(Status::Error) << 400;
}

void TestRequestHeadParser::customLimits()
{
    QFETCH(QByteArray, input);
    QFETCH(int, status);
    QFETCH(int, httpStatus);
    HeadLimits limits;
    limits.maxUriBytes = 10;
    limits.maxFieldBytes = 20;
    limits.maxHeaders = 3;
    limits.maxHeaderBytes = 64;
    const Outcome whole = parseWhole(input, limits);
    QCOMPARE(statusName(whole.status), statusName(Status(status)));
    QCOMPARE(whole.httpStatus, httpStatus);
    const Outcome bytes = parseByteByByte(input, limits);
    QVERIFY2(bytes == whole, describe(bytes) + " != " + describe(whole));
}

void TestRequestHeadParser::earlyLimitsWithoutLineEnd()
{
    // The parser must not wait for a line end that an attacker never sends (HOSTILE-INPUTS
    // 18/19): each limit fires from a partial buffer just past it.
    RequestHeadParser parser;
    RequestHead head;
    QByteArray buffer = "GET /";
    QCOMPARE(parser.parse(buffer, head), Status::NeedMore);
    buffer += QByteArray(8 * 1024 - 1, 'a');
    QCOMPARE(parser.parse(buffer, head), Status::NeedMore);
    buffer += 'a';
    QCOMPARE(parser.parse(buffer, head), Status::Error);
    QCOMPARE(parser.errorStatus(), 414);

    parser.reset();
    buffer = "GET / HTTP/1.1\r\nX: " + QByteArray(8 * 1024 - 3, 'v');
    QCOMPARE(parser.parse(buffer, head), Status::NeedMore);
    buffer += 'v';
    QCOMPARE(parser.parse(buffer, head), Status::Error);
    QCOMPARE(parser.errorStatus(), 431);
    QCOMPARE(parser.errorReason(), "header field too large");

    parser.reset();
    buffer = QByteArray(32, 'M');
    QCOMPARE(parser.parse(buffer, head), Status::NeedMore);
    buffer += 'M';
    QCOMPARE(parser.parse(buffer, head), Status::Error);
    QCOMPARE(parser.errorStatus(), 400);
    QCOMPARE(parser.errorReason(), "method too long");
}

void TestRequestHeadParser::everyLimitValue_data()
{
    QTest::addColumn<int>("which");
    QTest::newRow("maxHeaderBytes") << 0;
    QTest::newRow("maxFieldBytes") << 1;
    QTest::newRow("maxUriBytes") << 2;
    QTest::newRow("maxHeaders") << 3;
}

void TestRequestHeadParser::everyLimitValue()
{
    // Sweeps one limit over every value around the request's own size, so the check sits at
    // every byte position once (request line, field bytes, each CR and LF): the request must
    // pass exactly when it fits, and fail with the limit's status otherwise, however it is fed.
    QFETCH(int, which);
    const QByteArray lead = "\r\n";
    const QByteArray head = "POST /p?q HTTP/1.1\r\nHost: a\r\nX-Long: some value\r\n"
                            "Content-Length: 0\r\n\r\n";
    const QByteArray input = lead + head;
    const qsizetype longestField = QByteArray("X-Long: some value").size();
    const qsizetype target = QByteArray("/p?q").size();
    const int fields = 3;
    const qsizetype need[] = {head.size(), longestField, target, fields};
    const int failStatus[] = {431, 431, 414, 431};
    for (qsizetype limit = 0; limit <= need[which] + 2; ++limit) {
        HeadLimits limits;
        switch (which) {
        case 0:
            limits.maxHeaderBytes = limit;
            break;
        case 1:
            limits.maxFieldBytes = limit;
            break;
        case 2:
            limits.maxUriBytes = limit;
            break;
        default:
            limits.maxHeaders = int(limit);
            break;
        }
        const Outcome whole = parseWhole(input, limits);
        const QByteArray where = "limit " + QByteArray::number(limit) + ": " + describe(whole);
        if (limit >= need[which]) {
            QVERIFY2(whole.status == Status::Done, where);
            QCOMPARE(whole.consumed, input.size());
        } else {
            QVERIFY2(whole.status == Status::Error, where);
            QCOMPARE(whole.httpStatus, failStatus[which]);
        }
        const Outcome bytes = parseByteByByte(input, limits);
        QVERIFY2(bytes == whole, where + " != " + describe(bytes));
    }
}

void TestRequestHeadParser::parseAgainAfterDone()
{
    // Done is sticky: a second call with the (possibly moved) buffer refills the views.
    const QByteArray input = get11("X: 1\r\n");
    RequestHeadParser parser;
    RequestHead head;
    QCOMPARE(parser.parse(input, head), Status::Done);
    const QByteArray copy = input + "next";
    QCOMPARE(parser.parse(copy, head), Status::Done);
    QCOMPARE(parser.consumed(), input.size());
    QVERIFY(viewsInside(head, copy));
    QCOMPARE(parser.parse(QByteArrayView(input).first(3), head), Status::Error);
}

void TestRequestHeadParser::helpers()
{
    QVERIFY(equalsIgnoreCase("Content-Length", "content-LENGTH"));
    QVERIFY(!equalsIgnoreCase("Content-Length", "Content-Lengt"));
    QVERIFY(!equalsIgnoreCase("a", "b"));
    QVERIFY(equalsIgnoreCase("", ""));
    QVERIFY(listContainsToken("keep-alive, Upgrade", "upgrade"));
    QVERIFY(listContainsToken("  close  ", "close"));
    QVERIFY(listContainsToken("a,,close,", "close"));
    QVERIFY(!listContainsToken("closed", "close"));
    QVERIFY(!listContainsToken("", "close"));
    QVERIFY(!listContainsToken("x-close, closer", "close"));
    QVERIFY(isToken("chunked"));
    QVERIFY(!isToken(""));
    QVERIFY(!isToken("a b"));
    QVERIFY(isValidHostPort("a:1", false, true));
    QVERIFY(!isValidHostPort("a", false, true));
    QVERIFY(!isValidHostPort("a:", false, true));
    QVERIFY(isValidHostPort("a:", false, false));
    QVERIFY(!isValidHostPort(":80", false, false));
    QVERIFY(isValidHostPort(":80", true, false));
    QVERIFY(isValidHostPort("[::]", false, false));
    QVERIFY(isValidHostPort("[1::]", false, false));
    QVERIFY(!isValidHostPort("[1::2::3]", false, false));
    QVERIFY(!isValidHostPort("[12345::1]", false, false));
    QVERIFY(!isValidHostPort("[::1.2.3]", false, false));
    QVERIFY(!isValidHostPort("[::01.2.3.4]", false, false));
    QVERIFY(!isValidHostPort("[::1.2.3.256]", false, false));
    QVERIFY(!isValidHostPort("[v1.x]", false, false));
    QVERIFY(!isValidHostPort("[::1]x", false, false));
    QVERIFY(!isValidHostPort("a:123456", false, false));
    QVERIFY(!isValidHostPort("a:000080", false, false));
    QVERIFY(isValidHostPort("a:00080", false, false));
    QVERIFY(!isValidHostPort("[1:2:3:4::5:6:7:8]", false, false));
    QVERIFY(isValidHostPort("[1:2:3::5:6:7:8]", false, false));
    QVERIFY(!isValidHostPort("[1:2:3:4:5:6:7]", false, false));
    QVERIFY(!isValidHostPort("[1:2:3:4:5:6:7:]", false, false));
    QVERIFY(isValidHostPort("[1:2:3:4:5:6:1.2.3.4]", false, false));
    QVERIFY(!isValidHostPort("[1:2:3:4:5:6:7:1.2.3.4]", false, false));
    QVERIFY(!isValidHostPort("[]", false, false));
}

QTEST_APPLESS_MAIN(TestRequestHeadParser)
#include "tst_requestheadparser.moc"
