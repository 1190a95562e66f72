#include "byteranges.h"

#include <algorithm>
#include <limits>

namespace Berth::Apps {

namespace {

constexpr qint64 saturated = std::numeric_limits<qint64>::max();

bool isDigit(char c)
{
    return c >= '0' && c <= '9';
}

bool isOws(char c)
{
    return c == ' ' || c == '\t';
}

// 1*DIGIT, saturating at INT64_MAX: "bytes=99999999999999999999999-" must not wrap around into a
// small (satisfiable) offset.
bool parseNumber(QByteArrayView text, qsizetype &pos, qint64 &value)
{
    const qsizetype start = pos;
    value = 0;
    while (pos < text.size() && isDigit(text[pos])) {
        const int digit = text[pos] - '0';
        value = value > (saturated - digit) / 10 ? saturated : value * 10 + digit;
        ++pos;
    }
    return pos > start;
}

} // namespace

RangeRequest parseRangeHeader(QByteArrayView value, qint64 size, int maxRanges)
{
    RangeRequest ignore;
    value = value.trimmed();
    constexpr QByteArrayView unit = "bytes=";
    // The range unit is a case-insensitive token; anything but bytes is ignored (RFC 9110 §14.1).
    if (value.size() <= unit.size() ||
        value.first(unit.size()).compare(unit, Qt::CaseInsensitive) != 0)
        return ignore;

    std::vector<ByteRange> ranges;
    int specCount = 0;
    qsizetype pos = unit.size();
    while (true) {
        // #rule: elements separated by commas with optional whitespace; empty ones are allowed.
        while (pos < value.size() && (isOws(value[pos]) || value[pos] == ','))
            ++pos;
        if (pos == value.size())
            break;
        if (++specCount > maxRanges)
            return ignore;

        if (value[pos] == '-') {
            // suffix-range: the last n bytes.
            ++pos;
            qint64 suffix = 0;
            if (!parseNumber(value, pos, suffix))
                return ignore;
            // "-0" asks for nothing: it is well-formed but unsatisfiable. An empty file has no
            // last bytes either.
            if (suffix > 0 && size > 0)
                ranges.push_back({size - std::min(suffix, size), size - 1});
        } else {
            qint64 first = 0;
            qint64 last = saturated;
            if (!parseNumber(value, pos, first) || pos == value.size() || value[pos] != '-')
                return ignore;
            ++pos;
            if (pos < value.size() && isDigit(value[pos])) {
                parseNumber(value, pos, last);
                // An invalid range-spec makes the whole field invalid: ignore it (§14.1.1).
                if (last < first)
                    return ignore;
            }
            if (first < size)
                ranges.push_back({first, std::min(last, size - 1)});
        }

        while (pos < value.size() && isOws(value[pos]))
            ++pos;
        if (pos < value.size() && value[pos] != ',')
            return ignore;
    }

    if (specCount == 0)
        return ignore;
    if (ranges.empty())
        return {RangeRequest::Kind::Unsatisfiable, {}};

    if (ranges.size() > 1) {
        // Overlaps and oversized totals are how range requests amplify work; a client that asks
        // for them gets the plain 200 (§14.2 lets a server ignore Range; nginx and Apache do
        // likewise since CVE-2011-3192).
        std::vector<ByteRange> sorted = ranges;
        std::sort(sorted.begin(), sorted.end(),
                  [](const ByteRange &a, const ByteRange &b) { return a.first < b.first; });
        qint64 total = 0;
        for (std::size_t i = 0; i < sorted.size(); ++i) {
            if (i > 0 && sorted[i].first <= sorted[i - 1].last)
                return ignore;
            total += sorted[i].length();
        }
        if (total > size)
            return ignore;
    }
    return {RangeRequest::Kind::Ranges, std::move(ranges)};
}

} // namespace Berth::Apps
