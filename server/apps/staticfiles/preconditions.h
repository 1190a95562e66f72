#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace Berth::Http {
struct RequestHead;
}

namespace Berth::Apps {

// The validators of one file and the conditional-request checks of RFC 9110 §13 that the static
// file app applies, in the order §13.2.2 prescribes.
struct Validators
{
    QByteArray entityTag;    // strong, nginx's format: "<mtime hex>-<size hex>" with the quotes
    qint64 lastModified = 0; // seconds since the epoch

    static Validators forFile(qint64 mtimeSeconds, qint64 size);
};

enum class Precondition {
    Proceed,            // serve normally (Range may still apply)
    NotModified,        // 304
    PreconditionFailed, // 412
};

// Evaluates If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since for a GET or
// HEAD of an existing file. A list split over several field lines counts as one list.
Precondition evaluatePreconditions(const Http::RequestHead &head, const Validators &validators);

// If-Range (§13.1.5): true when the Range field should be honoured, i.e. there is no If-Range or
// it matches the current representation (strong entity-tag comparison, or an HTTP-date equal to
// Last-Modified).
bool ifRangeAllowsRange(const Http::RequestHead &head, const Validators &validators);

// True if the entity-tag list `list` ("*", or `"a", W/"b"`) matches `entityTag`. Weak
// comparison ignores W/ (If-None-Match); strong comparison never matches a weak tag (If-Match).
// A malformed list matches nothing.
enum class TagComparison { Weak, Strong };
bool entityTagListMatches(QByteArrayView list, QByteArrayView entityTag, TagComparison comparison);

} // namespace Berth::Apps
