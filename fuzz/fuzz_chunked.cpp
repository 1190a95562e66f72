// libFuzzer target for the chunked body decoder. Seed corpus: fuzz/corpus/chunked/.
//
// Oracles (hard aborts):
//  - API invariants: consumed() within the input, Data spans non-empty and inside the consumed
//    input, NeedMore consumes everything, decodedBytes() equals the bytes handed out and never
//    passes the limit;
//  - split consistency: whole, two pieces, and (short inputs) byte by byte agree;
//  - a differential reference: a plain non-incremental decoder of the same grammar, written
//    for obviousness rather than speed, must agree on status, body and message end.
#include "http/chunkeddecoder.h"
#include "http/requesthead.h"

#include <QByteArray>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>

using namespace Berth::Http;
using Status = ChunkedDecoder::Status;

namespace {

constexpr qsizetype kMaxTrailer = 256; // small, so the fuzzer reaches it

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

struct Result
{
    Status status = Status::NeedMore;
    QByteArray body;
    qsizetype end = -1; // Done: offset of the first byte after the message

    bool operator==(const Result &o) const
    {
        return status == o.status && body == o.body && end == o.end;
    }
};

// Runs the decoder over input fed in pieces ending at the given cuts.
Result decodePieces(QByteArrayView input, const qsizetype *cuts, int cutCount, qint64 maxBody)
{
    ChunkedDecoder decoder(maxBody, kMaxTrailer);
    Result r;
    QByteArray pending;
    qsizetype fed = 0;       // bytes of input appended to pending so far
    qsizetype processed = 0; // bytes of input consumed by the decoder
    for (int i = 0; i <= cutCount; ++i) {
        const qsizetype to = i < cutCount ? cuts[i] : input.size();
        pending.append(input.data() + fed, to - fed);
        fed = to;
        for (;;) {
            const Status s = decoder.decode(pending);
            const qsizetype used = decoder.consumed();
            check(used >= 0 && used <= pending.size(), "consumed() out of range");
            if (s == Status::Data) {
                const QByteArrayView d = decoder.data();
                check(!d.isEmpty(), "empty Data");
                check(d.data() >= pending.constData() &&
                          d.data() + d.size() <= pending.constData() + used,
                      "Data outside the consumed input");
                r.body += d.toByteArray();
                check(decoder.decodedBytes() == r.body.size(), "decodedBytes() mismatch");
                check(maxBody < 0 || decoder.decodedBytes() <= maxBody, "limit passed");
                pending.remove(0, used);
                processed += used;
                continue;
            }
            if (s == Status::NeedMore) {
                check(used == pending.size(), "NeedMore did not consume everything");
                processed += used;
                pending.clear();
                break;
            }
            r.status = s;
            if (s == Status::Done)
                r.end = processed + used;
            else
                check(decoder.errorReason() && *decoder.errorReason(), "error without reason");
            check(decoder.decodedBytes() == r.body.size(), "decodedBytes() mismatch at end");
            return r;
        }
    }
    return r;
}

// --- the reference decoder: whole input at once, "ran out" means NeedMore ---

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool isTchar(char c)
{
    return CharClass::is(c, CharClass::Token);
}

Result reference(QByteArrayView in, qint64 maxBody)
{
    Result r;
    const qsizetype n = in.size();
    qsizetype p = 0;
    qint64 total = 0;
    const auto stop = [&](Status s) {
        r.status = s;
        return r;
    };
    for (;;) {
        quint64 size = 0;
        int digits = 0;
        while (p < n && hexValue(in[p]) >= 0) {
            if (digits == 16)
                return stop(Status::Error);
            size = size * 16 + quint64(hexValue(in[p++]));
            ++digits;
            if (size > quint64(std::numeric_limits<qint64>::max() - total) ||
                (maxBody >= 0 && qint64(size) > maxBody - total))
                return stop(Status::TooLarge);
        }
        if (p == n)
            return stop(Status::NeedMore);
        if (digits == 0)
            return stop(Status::Error);
        // chunk-ext, each byte counted against 4 KiB
        qsizetype extBytes = 0;
        const auto take = [&]() -> int { // -1: out of input, -2: over the limit, else the byte
            if (p == n)
                return -1;
            if (in[p] != '\r' && ++extBytes > 4096)
                return -2;
            return uchar(in[p++]);
        };
        while (in[p] == ';') {
            int c = take(); // ';'
            if (c < 0)
                return stop(c == -1 ? Status::NeedMore : Status::Error);
            c = take();
            if (c < 0)
                return stop(c == -1 ? Status::NeedMore : Status::Error);
            if (!isTchar(char(c)))
                return stop(Status::Error);
            while (p < n && isTchar(in[p])) {
                if ((c = take()) < 0)
                    return stop(Status::Error);
            }
            if (p == n)
                return stop(Status::NeedMore);
            if (in[p] == '=') {
                if (take() < 0)
                    return stop(Status::Error);
                if (p == n)
                    return stop(Status::NeedMore);
                if (in[p] == '"') {
                    if (take() < 0)
                        return stop(Status::Error);
                    for (;;) {
                        c = take();
                        if (c < 0)
                            return stop(c == -1 ? Status::NeedMore : Status::Error);
                        if (c == '"')
                            break;
                        if (c == '\\') {
                            c = take();
                            if (c < 0)
                                return stop(c == -1 ? Status::NeedMore : Status::Error);
                            if (!CharClass::is(char(c), CharClass::FieldValue))
                                return stop(Status::Error);
                        } else if (!CharClass::is(char(c), CharClass::QuotedText)) {
                            return stop(Status::Error);
                        }
                    }
                } else {
                    c = take();
                    if (c < 0)
                        return stop(c == -1 ? Status::NeedMore : Status::Error);
                    if (!isTchar(char(c)))
                        return stop(Status::Error);
                    while (p < n && isTchar(in[p])) {
                        if (take() < 0)
                            return stop(Status::Error);
                    }
                }
                if (p == n)
                    return stop(Status::NeedMore);
            }
        }
        if (in[p] != '\r') {
            // The ';' loop ends on any other byte; the decoder counts it against the limit
            // first, but an invalid byte is an error either way.
            return stop(Status::Error);
        }
        if (++p == n)
            return stop(Status::NeedMore);
        if (in[p++] != '\n')
            return stop(Status::Error);
        if (size == 0)
            break;
        const qsizetype available = n - p;
        if (quint64(available) < size) {
            r.body += in.sliced(p).toByteArray();
            return stop(Status::NeedMore);
        }
        r.body += in.sliced(p, qsizetype(size)).toByteArray();
        p += qsizetype(size);
        total += qint64(size);
        if (p == n)
            return stop(Status::NeedMore);
        if (in[p++] != '\r')
            return stop(Status::Error);
        if (p == n)
            return stop(Status::NeedMore);
        if (in[p++] != '\n')
            return stop(Status::Error);
    }
    // trailer-section: field lines counted against kMaxTrailer, then CRLF
    qsizetype trailerBytes = 0;
    for (;;) {
        if (p == n)
            return stop(Status::NeedMore);
        if (in[p] == '\r') {
            if (++p == n)
                return stop(Status::NeedMore);
            if (in[p] != '\n')
                return stop(Status::Error);
            r.status = Status::Done;
            r.end = p + 1;
            return r;
        }
        // name ':' value CR LF
        qsizetype lineBytes = 0;
        bool inValue = false;
        for (;;) {
            if (p == n)
                return stop(Status::NeedMore);
            if (++trailerBytes > kMaxTrailer)
                return stop(Status::Error);
            const char c = in[p++];
            ++lineBytes;
            if (!inValue) {
                if (c == ':' && lineBytes > 1)
                    inValue = true;
                else if (!isTchar(c))
                    return stop(Status::Error);
            } else if (c == '\r') {
                if (p == n)
                    return stop(Status::NeedMore);
                if (++trailerBytes > kMaxTrailer)
                    return stop(Status::Error);
                if (in[p++] != '\n')
                    return stop(Status::Error);
                break;
            } else if (!CharClass::is(c, CharClass::FieldValue)) {
                return stop(Status::Error);
            }
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArrayView input(reinterpret_cast<const char *>(data), qsizetype(size));
    // The body limit varies with the input: none, tiny, or moderate.
    const qint64 limits[] = {-1, 0, 7, 1000};
    const qint64 maxBody = limits[size % 4];

    const Result whole = decodePieces(input, nullptr, 0, maxBody);
    const Result ref = reference(input, maxBody);
    if (!(whole == ref)) {
        std::fprintf(stderr, "decoder %d end=%lld body=%lld, reference %d end=%lld body=%lld\n",
                     int(whole.status), (long long)whole.end, (long long)whole.body.size(),
                     int(ref.status), (long long)ref.end, (long long)ref.body.size());
        violated("decoder and reference disagree");
    }

    if (size >= 2) {
        const qsizetype cut = qsizetype((size_t(data[0]) * 131 + data[size - 1]) % size);
        const qsizetype cuts[] = {cut, cut + (qsizetype(size) - cut) / 2};
        if (!(decodePieces(input, cuts, 1, maxBody) == whole))
            violated("two-piece result differs from whole");
        if (!(decodePieces(input, cuts, 2, maxBody) == whole))
            violated("three-piece result differs from whole");
    }
    if (size <= 1024) {
        qsizetype cuts[1024];
        for (qsizetype i = 0; i + 1 < qsizetype(size); ++i)
            cuts[i] = i + 1;
        if (!(decodePieces(input, cuts, int(size) - 1 > 0 ? int(size) - 1 : 0, maxBody) == whole))
            violated("byte-by-byte result differs from whole");
    }
    return 0;
}
