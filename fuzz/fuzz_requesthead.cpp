// libFuzzer target for the HTTP/1.x request-head parser (and, on what it accepts, the path
// normaliser). Seed corpus: fuzz/corpus/requesthead/, one file per unit-test row.
//
// Oracles, each a hard abort so libFuzzer records the input:
//  - API invariants: consumed() within the buffer, every view inside the buffer, limits held,
//    an error always has a status the engine knows and a reason for the log;
//  - split consistency: the input fed whole, in two pieces (through a buffer that moves) and,
//    for short inputs, byte by byte gives the same status, error, consumed() and head.
#include "http/pathnormalizer.h"
#include "http/requestheadparser.h"

#include <QByteArray>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace Berth::Http;
using Status = RequestHeadParser::Status;

namespace {

[[noreturn]] void violated(const char *what)
{
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
}

void check(bool ok, const char *what)
{
    if (!ok)
        violated(what);
}

bool inside(QByteArrayView v, QByteArrayView buffer)
{
    if (v.isNull())
        return true;
    return v.data() >= buffer.data() && v.data() + v.size() <= buffer.data() + buffer.size();
}

// A pointer-free rendering of a result, to compare runs over different buffers.
QByteArray render(Status s, const RequestHeadParser &p, const RequestHead &h)
{
    QByteArray out = QByteArray::number(int(s)) + ' ' + QByteArray::number(p.errorStatus()) + ' ' +
                     p.errorReason() + ' ' + QByteArray::number(p.consumed());
    if (s != Status::Done)
        return out;
    out += '\n' + h.method.toByteArray() + '\n' + h.target.toByteArray() + '\n' +
           h.path.toByteArray() + '\n' + h.query.toByteArray() + '\n' + h.authority.toByteArray() +
           '\n' + h.host.toByteArray() + '\n' + QByteArray::number(h.contentLength) + ' ' +
           QByteArray::number(p.framing().chunked) + ' ' +
           QByteArray::number(p.framing().keepAlive) + ' ' +
           QByteArray::number(p.framing().expectContinue) + ' ' +
           QByteArray::number(p.framing().upgrade) + ' ' +
           QByteArray::number(p.framing().versionMajor) + '.' +
           QByteArray::number(p.framing().versionMinor) + ' ' + QByteArray::number(h.bodyFollows);
    for (const HeaderField &f : h.fields)
        out += '\n' + f.name.toByteArray() + ": " + f.value.toByteArray();
    return out;
}

void checkResult(Status s, const RequestHeadParser &p, const RequestHead &h, QByteArrayView buffer,
                 const HeadLimits &limits)
{
    check(p.consumed() >= 0 && p.consumed() <= buffer.size(), "consumed() out of range");
    if (s == Status::Error) {
        const int st = p.errorStatus();
        check(st == 400 || st == 414 || st == 417 || st == 431 || st == 501 || st == 505,
              "unexpected error status");
        check(p.errorReason() && *p.errorReason(), "error without reason");
        return;
    }
    if (s != Status::Done)
        return;
    const qsizetype used = p.consumed();
    check(used >= 4 && std::memcmp(buffer.data() + used - 4, "\r\n\r\n", 4) == 0,
          "head does not end with CRLF CRLF");
    check(used <= limits.maxHeaderBytes + 2 * 8, "head longer than maxHeaderBytes");
    check(qsizetype(h.fields.size()) <= limits.maxHeaders, "more fields than maxHeaders");
    const QByteArrayView head = buffer.first(used);
    for (QByteArrayView v : {h.method, h.target, h.path, h.query, h.authority, h.host})
        check(inside(v, head), "view outside the head");
    for (const HeaderField &f : h.fields) {
        check(inside(f.name, head) && inside(f.value, head), "field view outside the head");
        check(!f.name.isEmpty(), "empty field name");
        for (char c : f.value)
            check(c != '\r' && c != '\n' && c != '\0', "CR, LF or NUL in a field value");
    }
    check(!h.method.isEmpty() && h.method.size() <= 32, "bad method size");
    check(h.target.size() <= limits.maxUriBytes, "target longer than maxUriBytes");
    const Http1Framing &fr = p.framing();
    check(fr.versionMajor == 1 && (fr.versionMinor == 0 || fr.versionMinor == 1), "bad version");
    check(!(fr.chunked && h.contentLength >= 0), "both chunked and Content-Length");
    check(fr.chunked == h.bodyFollows, "bodyFollows disagrees with chunked");
    check(h.contentLength >= -1, "negative Content-Length");
    check(!(fr.chunked && !fr.isHttp11()), "chunked in HTTP/1.0");
    check(h.fieldCount("Content-Length") <= 1 && h.fieldCount("Transfer-Encoding") <= 1 &&
              h.fieldCount("Host") <= 1,
          "duplicate framing field accepted");
    check(!fr.isHttp11() || h.fieldCount("Host") == 1, "HTTP/1.1 without Host accepted");
    if (h.method == "CONNECT") {
        check(h.path.isEmpty(), "CONNECT with a path");
    } else {
        check(h.path == "*" || h.path.startsWith('/'), "path does not start with '/'");
        QByteArray normalized;
        if (h.path != "*" && normalizePath(h.path, normalized))
            check(normalized.startsWith('/'), "normalised path does not start with '/'");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));

    // Small limits for a third of the inputs, so that every limit check is reachable.
    HeadLimits limits;
    if (size % 3 == 0) {
        limits.maxUriBytes = 24;
        limits.maxFieldBytes = 40;
        limits.maxHeaders = 4;
        limits.maxHeaderBytes = 160;
    }

    RequestHeadParser whole(limits);
    RequestHead wholeHead;
    const Status s = whole.parse(input, wholeHead);
    checkResult(s, whole, wholeHead, input, limits);
    const QByteArray expected = render(s, whole, wholeHead);
    if (s == Status::Done) {
        // Sticky: a second call refills the same head.
        check(whole.parse(input, wholeHead) == Status::Done, "Done is not sticky");
        check(render(Status::Done, whole, wholeHead) == expected, "second Done differs");
    }

    // Two pieces through a growing, moving buffer, cut at a point the input chooses.
    if (size >= 2) {
        const qsizetype cut = qsizetype((size_t(data[0]) * 257 + data[size - 1]) % size);
        RequestHeadParser split(limits);
        RequestHead splitHead;
        QByteArray buffer = input.first(cut);
        Status t = split.parse(buffer, splitHead);
        if (t == Status::NeedMore) {
            buffer.append(input.constData() + cut, input.size() - cut);
            buffer.squeeze();
            t = split.parse(buffer, splitHead);
        } else {
            buffer.append(input.constData() + cut, input.size() - cut);
            // Parsed again with the full buffer, a terminal result must not change.
            t = split.parse(buffer, splitHead);
        }
        checkResult(t, split, splitHead, buffer, limits);
        if (render(t, split, splitHead) != expected)
            violated("two-piece result differs from whole");
    }

    // Byte by byte, for inputs short enough to keep the fuzzer fast.
    if (size <= 2048) {
        RequestHeadParser bytes(limits);
        RequestHead bytesHead;
        QByteArray buffer;
        Status t = bytes.parse(buffer, bytesHead);
        for (qsizetype i = 0; i < input.size() && t == Status::NeedMore; ++i) {
            buffer.append(input[i]);
            t = bytes.parse(buffer, bytesHead);
        }
        if (t != Status::NeedMore && buffer.size() < input.size()) {
            buffer.append(input.constData() + buffer.size(), input.size() - buffer.size());
            t = bytes.parse(buffer, bytesHead);
        }
        checkResult(t, bytes, bytesHead, buffer, limits);
        if (render(t, bytes, bytesHead) != expected)
            violated("byte-by-byte result differs from whole");
    }
    return 0;
}
