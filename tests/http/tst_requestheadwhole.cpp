// The hot-path helpers of issue #16 against plain references: the one-pass parser of whole
// heads (RequestHeadParser::parseWhole, taken when a head is fed whole) against the resumable
// scanner (the same head fed byte by byte), the word-at-a-time ByteScan helpers against byte
// loops, and normalizePath's plain-path shortcut against a reference normaliser.
#include "http/bytescan.h"
#include "http/pathnormalizer.h"
#include "http/requestheadparser.h"

#include <QRandomGenerator>
#include <QTest>

#include <vector>

using namespace Berth::Http;
using Status = RequestHeadParser::Status;

namespace {

// A pointer-free rendering of a parse result (as the fuzz target's), to compare two runs.
QByteArray render(Status s, const RequestHeadParser &p, const RequestHead &h)
{
    QByteArray out = QByteArray::number(int(s)) + ' ' + QByteArray::number(p.errorStatus()) + ' ' +
                     p.errorReason() + ' ' + QByteArray::number(p.consumed());
    if (s != Status::Done)
        return out;
    out += '\n' + h.method.toByteArray() + '|' + h.target.toByteArray() + '|' +
           h.path.toByteArray() + '|' + h.query.toByteArray() + '|' + h.authority.toByteArray() +
           '|' + h.host.toByteArray() + '|' + QByteArray::number(h.contentLength) + ' ' +
           QByteArray::number(p.framing().chunked) + QByteArray::number(p.framing().keepAlive) +
           QByteArray::number(p.framing().expectContinue) +
           QByteArray::number(p.framing().upgrade) + QByteArray::number(p.framing().versionMinor) +
           QByteArray::number(h.bodyFollows);
    for (const HeaderField &f : h.fields)
        out += '\n' + f.name.toByteArray() + ": [" + f.value.toByteArray() + ']';
    return out;
}

QByteArray parsedWhole(const QByteArray &input, const HeadLimits &limits)
{
    RequestHeadParser parser(limits);
    RequestHead head;
    const Status s = parser.parse(input, head);
    return render(s, parser, head);
}

QByteArray parsedByteByByte(const QByteArray &input, const HeadLimits &limits)
{
    RequestHeadParser parser(limits);
    RequestHead head;
    QByteArray buffer;
    Status s = Status::NeedMore;
    for (qsizetype i = 0; i < input.size() && s == Status::NeedMore; ++i) {
        buffer.append(input[i]);
        s = parser.parse(buffer, head);
    }
    if (s != Status::NeedMore && buffer.size() < input.size()) {
        buffer = input;
        s = parser.parse(buffer, head);
    }
    return render(s, parser, head);
}

const QByteArray kSeeds[] = {
    "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:56423\r\nuser-agent: h2load nghttp2/1.52.0\r\n\r\n",
    "POST /up?x=1&y HTTP/1.1\r\nHost: a.example\r\nContent-Length: 12\r\nExpect: 100-continue\r\n"
    "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "PUT /a/b HTTP/1.1\r\nHOST: [::1]:8080\r\nTransfer-Encoding: gzip, chunked\r\nX:\t v "
    "\t\r\n\r\n",
    "GET http://Example.ORG:80/p?q HTTP/1.0\r\nConnection: close\r\nX-Long-Header-Name: "
    "a value that is longer than eight bytes\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
    "CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /%2e%2E/ HTTP/1.1\r\nHost: h\r\ncontent-length: 0\r\ncontent-length: 0\r\n\r\n",
    "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
};

// Bytes a mutation inserts: every delimiter and class boundary of the grammar.
const char kInteresting[] = " \t\r\n:;,?#%/.*@[]\"()\x00\x01\x7f\x80\xff"
                            "aZ09-_~Hh";

QByteArray mutate(QByteArray s, QRandomGenerator &rng)
{
    const int edits = 1 + int(rng.bounded(3));
    for (int e = 0; e < edits && !s.isEmpty(); ++e) {
        const qsizetype at = qsizetype(rng.bounded(quint32(s.size())));
        const char c = kInteresting[rng.bounded(quint32(sizeof(kInteresting) - 1))];
        switch (rng.bounded(4)) {
        case 0:
            s[at] = c;
            break;
        case 1:
            s.insert(at, c);
            break;
        case 2:
            s.remove(at, 1);
            break;
        default: // a long run, to cross words and limits
            s.insert(at, QByteArray(int(rng.bounded(40)), c == '\r' ? 'x' : c));
            break;
        }
    }
    return s;
}

quint64 word(const char *bytes)
{
    return ByteScan::load64(bytes);
}

} // namespace

class TestRequestHeadWhole : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void wholeMatchesScanner();
    void byteScanMatchesByteLoops();
    void plainPathsAreTheirOwnNormalForm();
};

void TestRequestHeadWhole::wholeMatchesScanner()
{
    // Seeds as they are, then thousands of mutations, with the default limits and with each
    // limit alone small enough to be reached near the seeds' sizes.
    std::vector<HeadLimits> limitSets(5);
    limitSets[1].maxUriBytes = 6;
    limitSets[2].maxFieldBytes = 22;
    limitSets[3].maxHeaders = 2;
    limitSets[4].maxHeaderBytes = 80;
    QRandomGenerator rng(16);
    int cases = 0;
    for (const HeadLimits &limits : limitSets) {
        for (const QByteArray &seed : kSeeds) {
            for (int i = 0; i < 800; ++i) {
                const QByteArray input = i == 0 ? seed : mutate(seed, rng);
                const QByteArray whole = parsedWhole(input, limits);
                const QByteArray bytes = parsedByteByByte(input, limits);
                if (whole != bytes)
                    QFAIL(("input " + input.toPercentEncoding() + "\nwhole:\n" + whole +
                           "\nbyte by byte:\n" + bytes)
                              .constData());
                ++cases;
            }
        }
    }
    QCOMPARE(cases, 5 * 10 * 800);
    // The seed a benchmark client sends is accepted (the whole-head path is the one used).
    QVERIFY(parsedWhole(kSeeds[0], HeadLimits()).startsWith("1 0"));
}

void TestRequestHeadWhole::byteScanMatchesByteLoops()
{
    using namespace ByteScan;
    QRandomGenerator rng(1616);
    const char alphabet[] = "\x00\x01\x1f !\"#%-./09:?@AZ[`az{\x7f\x80\xfe\xff";
    for (int round = 0; round < 20000; ++round) {
        char b[8];
        for (char &c : b)
            c = alphabet[rng.bounded(quint32(sizeof(alphabet) - 1))];
        const quint64 w = word(b);
        // bytesBelow / bytesEqual: the lowest flagged byte is exactly the first match.
        const auto firstOf = [&](auto pred) {
            for (int i = 0; i < 8; ++i) {
                if (pred(uchar(b[i])))
                    return i;
            }
            return 8;
        };
        const auto lowest = [](quint64 m) { return m ? firstFlagged(m) : 8; };
        QCOMPARE(lowest(bytesBelow(w, 0x20)), firstOf([](uchar c) { return c < 0x20; }));
        QCOMPARE(lowest(bytesEqual(w, '?')), firstOf([](uchar c) { return c == '?'; }));
        bool anyUnusualHostByte = false;
        for (int i = 0; i < 8; ++i) {
            const uchar c = uchar(b[i]);
            const quint64 bit = 0x80ULL << (8 * i);
            QCOMPARE(bool(bytesEqualExact(w, ':') & bit), c == ':');
            QCOMPARE(bool(bytesInRange(w, '0', '9') & bit), c >= '0' && c <= '9');
            anyUnusualHostByte |=
                !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
            const uchar lowered = uchar(lowerAscii(w) >> (8 * i));
            QCOMPARE(lowered, uchar(c >= 'A' && c <= 'Z' ? c + 32 : c));
        }
        QCOMPARE(bool(unusualHostBytes(w)), anyUnusualHostByte);
        // Case-insensitive and exact compares of every length against a byte loop.
        char other[8];
        for (int i = 0; i < 8; ++i) {
            const uchar c = uchar(b[i]);
            other[i] = rng.bounded(2) && c >= 'a' && c <= 'z' ? char(c - 32) : b[i];
        }
        if (rng.bounded(4) == 0)
            other[rng.bounded(8)] ^= char(1 << rng.bounded(8));
        for (int n = 0; n <= 8; ++n) {
            bool same = true;
            bool sameIgnoringCase = true;
            for (int i = 0; i < n; ++i) {
                const auto lower = [](uchar c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
                same &= b[i] == other[i];
                sameIgnoringCase &= lower(uchar(b[i])) == lower(uchar(other[i]));
            }
            QCOMPARE(sameBytes(b, other, n), same);
            QCOMPARE(sameBytesIgnoreCase(b, other, n), sameIgnoringCase);
        }
    }
    // tokenIs: both cases of each letter, and nothing else, match.
    QVERIFY(tokenIs("Content-Length", "content-length"));
    QVERIFY(tokenIs("TRANSFER-ENCODING", "transfer-encoding"));
    QVERIFY(tokenIs("hOsT", "host"));
    QVERIFY(!tokenIs("Hosu", "host"));
    QVERIFY(!tokenIs("Content_Length", "content-length"));
    QVERIFY(!tokenIs("Upgradf", "upgrade"));
}

void TestRequestHeadWhole::plainPathsAreTheirOwnNormalForm()
{
    // A reference normaliser: decode, then keep segments, dropping "" and "." and popping on
    // "..". Compared on random paths over the bytes that matter.
    const auto reference = [](const QByteArray &raw, QByteArray *out) {
        if (raw.isEmpty() || raw[0] != '/')
            return false;
        QByteArray decoded;
        for (qsizetype i = 0; i < raw.size(); ++i) {
            char c = raw[i];
            if (c == '%') {
                bool ok = false;
                c = char(raw.mid(i + 1, 2).toInt(&ok, 16));
                if (!ok || raw.mid(i + 1, 2).size() != 2 || raw.mid(i + 1, 2).contains('+') ||
                    raw.mid(i + 1, 2).contains('-') || raw.mid(i + 1, 2).contains(' '))
                    return false;
                i += 2;
            }
            if (uchar(c) < 0x20 || uchar(c) == 0x7f)
                return false;
            decoded += c;
        }
        std::vector<QByteArray> kept;
        const QList<QByteArray> segments = decoded.mid(1).split('/');
        bool directory = true;
        for (const QByteArray &s : segments) {
            if (s.isEmpty() || s == ".") {
                directory = true;
            } else if (s == "..") {
                if (kept.empty())
                    return false;
                kept.pop_back();
                directory = true;
            } else {
                kept.push_back(s);
                directory = false;
            }
        }
        QByteArray result = "/";
        for (const QByteArray &s : kept)
            result += s + '/';
        if (!directory && result.size() > 1)
            result.chop(1);
        *out = result;
        return true;
    };
    QRandomGenerator rng(161616);
    const char alphabet[] = "/./a.b/%2e%2F%zz~\x01\\\x7f";
    QByteArray out; // reused across calls, as the engine reuses request.path
    for (int round = 0; round < 30000; ++round) {
        QByteArray raw = "/";
        const int n = int(rng.bounded(24));
        for (int i = 0; i < n; ++i)
            raw += alphabet[rng.bounded(quint32(sizeof(alphabet) - 1))];
        QByteArray expected;
        const bool ok = reference(raw, &expected);
        QCOMPARE(normalizePath(raw, out), ok);
        if (ok)
            QCOMPARE(out, expected);
    }
}

QTEST_APPLESS_MAIN(TestRequestHeadWhole)
#include "tst_requestheadwhole.moc"
