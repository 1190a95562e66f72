#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <ctime>
#include <limits>
#include <optional>

namespace Berth::Http {

// HTTP-date (RFC 9110 §5.6.7) in the preferred IMF-fixdate form, always GMT and always English:
// "Sun, 06 Nov 1994 08:49:37 GMT". Seconds outside years 0000-9999 are clamped.
QByteArray formatHttpDate(qint64 secondsSinceEpoch);

// Parses IMF-fixdate and the two obsolete forms recipients must still accept: RFC 850
// ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994"). Returns seconds
// since the Unix epoch, or nullopt for anything else (a malformed date is then ignored, as
// RFC 9110 requires for If-Modified-Since and friends).
std::optional<qint64> parseHttpDate(QByteArrayView text);

// The Date header value for "now", formatted at most once per second per thread: every response
// needs one, and formatting a date per request shows up in profiles. The hit (the same second as
// the last call on this thread) is inline: a clock read and a compare.
struct DateCacheEntry
{
    qint64 seconds = std::numeric_limits<qint64>::min(); // never a clamped real value
    char text[29] = {};
};

class DateCache final
{
public:
    // The current time as an IMF-fixdate. The view points into a thread-local buffer: it stays
    // valid on this thread until a later call returns a different second.
    static QByteArrayView now() { return at(currentSeconds()); }
    // Same cache, explicit time (tests, or a caller that already read the clock).
    static QByteArrayView at(qint64 secondsSinceEpoch)
    {
        if (s_cache.seconds != secondsSinceEpoch)
            refill(secondsSinceEpoch);
        return QByteArrayView(s_cache.text, TextSize);
    }
    // Wall-clock seconds since the epoch, from the cheap coarse clock (a vDSO read).
    static qint64 currentSeconds()
    {
        timespec ts{};
        if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0)
            return qint64(std::time(nullptr));
        return qint64(ts.tv_sec);
    }

private:
    static constexpr int TextSize = sizeof(DateCacheEntry::text);
    static void refill(qint64 secondsSinceEpoch);

    // One entry per thread: no locking, and the engine's threads each ask about once per
    // response, so the hit rate is near 100% under load. Constant-initialised: no TLS guard.
    static inline thread_local DateCacheEntry s_cache;
};

} // namespace Berth::Http
