#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>

#include <utility>
#include <vector>

namespace Berth::Gateway::Cache {

using Fields = std::vector<std::pair<QByteArray, QByteArray>>;

// The Cache-Control directives the gateway's cache acts on (RFC 9111 §5.2), from every
// Cache-Control field of a request or a response. Durations in seconds, -1 when absent.
struct Directives
{
    bool noStore = false;
    bool noCache = false;
    bool isPrivate = false;
    bool isPublic = false;
    bool mustRevalidate = false; // must-revalidate or proxy-revalidate
    bool onlyIfCached = false;
    qint64 maxAge = -1;
    qint64 sMaxAge = -1;
    qint64 staleWhileRevalidate = -1;
    qint64 staleIfError = -1;

    static Directives parse(const QList<QByteArrayView> &values);
};

// An IMF-fixdate, RFC 850 or asctime date (RFC 9110 §5.6.7) as seconds since the epoch; -1
// when it does not parse (an invalid Expires means "already expired", the caller decides).
qint64 parseHttpDate(QByteArrayView text);
QByteArray formatHttpDate(qint64 seconds);

// Whether a status is cacheable without explicit freshness (RFC 9110 §15.1, "heuristically
// cacheable"); the cache then uses the group's `cache` TTL.
bool isHeuristicallyCacheable(int status);

// What to do with a member's response to a GET.
struct StorePlan
{
    bool store = false;
    const char *reason = ""; // why not, for the debug log ("no-store", "private", ...)
    qint64 freshSeconds = 0; // freshness lifetime
    qint64 initialAge = 0;   // corrected initial age (RFC 9111 §4.2.3)
    qint64 staleWhileRevalidate = 0;
    qint64 staleIfError = 0;
    bool mustRevalidate = false; // no stale serving once expired (also after no-cache)
};

// RFC 9111 §3 and §4.2 for a shared cache: `defaultTtl` (seconds) is the group's `cache`,
// applied when the member gives no freshness; `now` is the local clock in seconds.
StorePlan planStore(int status, const Fields &responseFields, bool requestHasAuthorization,
                    qint64 defaultTtl, qint64 now);

// Values of every field called `name`.
QList<QByteArrayView> fieldValues(const Fields &fields, QByteArrayView name);

// RFC 9110 §13.2.2 for a stored response to a GET or HEAD: true when the client's conditional
// fields (every If-None-Match value, the If-Modified-Since value; empty when absent) say it
// already has the stored representation, so a 304 answers. If-None-Match, when present, decides
// alone (weak comparison against the stored ETag, `*` matches); otherwise If-Modified-Since is
// compared with the stored Last-Modified (an unparsable date is ignored).
bool clientHasRepresentation(const QList<QByteArrayView> &ifNoneMatch,
                             QByteArrayView ifModifiedSince, const Fields &storedFields);

// The request header names a response varies on, lower case; {"*"} for `Vary: *`.
QList<QByteArray> varyNames(const Fields &responseFields);

} // namespace Berth::Gateway::Cache
