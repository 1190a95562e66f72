#pragma once

#include <QByteArrayView>
#include <QtGlobal>

#include <vector>

namespace Berth::Apps {

// One satisfiable byte range of a representation, both ends inclusive and inside [0, size).
struct ByteRange
{
    qint64 first = 0;
    qint64 last = 0;

    qint64 length() const { return last - first + 1; }
    friend bool operator==(const ByteRange &, const ByteRange &) = default;
};

// What the static file app should do with a Range header field (RFC 9110 §14.2).
struct RangeRequest
{
    enum class Kind {
        Ignore, // no usable Range: malformed, not "bytes", or abusive -> 200 with the whole file
        Unsatisfiable, // well-formed, but no range overlaps the file -> 416
        Ranges,        // one range (-> 206) or several (-> 206 multipart/byteranges)
    };

    Kind kind = Kind::Ignore;
    std::vector<ByteRange> ranges; // in the order requested; only for Kind::Ranges
};

// Parses `bytes=a-b, a-, -n` against a representation of `size` bytes.
//
// Abuse is answered with the whole file rather than many parts (the "Apache Killer",
// CVE-2011-3192, sent hundreds of overlapping ranges to make the server build huge responses):
// more than maxRanges range-specs, overlapping satisfiable ranges, or satisfiable ranges that add
// up to more than the file give Kind::Ignore. Parsing stops after maxRanges + 1 specs, so the
// work is bounded whatever the field holds. Numbers too large for 64 bits saturate instead of
// overflowing; an end past the file is clamped to its last byte.
RangeRequest parseRangeHeader(QByteArrayView value, qint64 size, int maxRanges = 16);

} // namespace Berth::Apps
