#pragma once

#include <QByteArrayView>
#include <QString>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <type_traits>

namespace Berth::Core {

class SharedRegion;

// `rate = 100/s burst=200`: `count` requests per period (/s, /m or /h), with up to `burst`
// answered at once after a quiet spell (default: `count`).
struct RateSpec
{
    std::int64_t count = 0;
    std::int64_t periodNs = 0;
    std::int64_t burst = 0;

    bool isValid() const { return count > 0 && periodNs > 0 && burst > 0; }
    // Time one request "costs": the GCRA emission interval.
    std::int64_t intervalNs() const { return periodNs / count; }
    QString toString() const;
    // False and *error (a sentence without the location; the caller adds file:line) when text
    // is not `N/s|m|h [burst=N]`.
    static bool parse(const QString &text, RateSpec *out, QString *error);
};

// One key's state in the table: which key (a 64-bit hash, 0 = free) and its GCRA theoretical
// arrival time. Lock-free words only, so a worker killed mid-update can leave a slightly wrong
// time but never a held lock.
struct alignas(32) RateBucket
{
    std::atomic<std::uint64_t> key;
    std::atomic<std::int64_t> tatNs;        // CLOCK_MONOTONIC ns; <= now: the key is idle
    std::atomic<std::int64_t> lastLoggedNs; // last CEF event for this key (one per window)
    std::int64_t reserved;
};
static_assert(std::is_standard_layout_v<RateBucket>);
static_assert(sizeof(RateBucket) == 32);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

// A GCRA rate limiter (nginx's limit_req, Redis-cell) whose table lives in a SharedRegion, so
// every worker of the server counts against one limit: with N workers each keeping its own
// table a client would get N times the rate.
//
// The table is open-addressed with a fixed number of buckets (bounded memory): a key probes
// ProbeWindow buckets from its hash. A new key takes a free bucket, else the bucket of the
// window with the oldest theoretical arrival time — the least recently busy key, an approximate
// LRU. Evicting an idle key (its time in the past) loses nothing: GCRA treats it as fresh.
//
// Memory ordering: each bucket word is updated by its own CAS. A key is claimed with a CAS on
// `key` (acq_rel) and its time advanced with a CAS loop on `tatNs` (acq_rel), so two processes
// admitting the same key never both use the same slot of time: the sum of what they allow is
// bounded by rate and burst. The two words are not updated together; a process racing an
// eviction may charge one request to the key that replaced its own (an approximation only when
// the table is full of busy keys).
class RateLimiter
{
public:
    static constexpr int DefaultBuckets = 16384; // 512 KiB
    static constexpr int ProbeWindow = 8;

    struct Decision
    {
        bool allowed = true;
        bool logEvent = false;  // denied, and the first denial of this key in its window
        std::int64_t limit = 0; // RateLimit-Limit: the burst
        std::int64_t remaining = 0;
        std::int64_t resetSeconds = 0;      // until the key is back at its full burst
        std::int64_t retryAfterSeconds = 0; // denied: until one request fits again (>= 1)
    };
    using Clock = std::function<std::int64_t()>; // monotonic ns

    // `regionName` names the SharedRegion ([A-Za-z0-9_.-]); opened on the first check, not
    // here, so building an app (berthd check) has no side effect. Empty: process-local table.
    RateLimiter(const QString &regionName, RateSpec spec, Clock clock = {},
                int buckets = DefaultBuckets);
    ~RateLimiter();
    RateLimiter(const RateLimiter &) = delete;
    RateLimiter &operator=(const RateLimiter &) = delete;

    Decision check(QByteArrayView key);
    const RateSpec &spec() const { return m_spec; }
    // Why the shared table could not be opened (the limiter then counts per process).
    QString regionError() const { return m_regionError; }

    // A stable 64-bit hash (the same in every process; qHash is seeded per process), never 0.
    static std::uint64_t hashKey(QByteArrayView key);
    // Region names may only hold [A-Za-z0-9_.-]: anything else becomes '_'.
    static QString regionNameFor(const QString &what, int buckets);

private:
    void attach();
    RateBucket *bucketFor(std::uint64_t hash, std::int64_t now);

    QString m_regionName;
    RateSpec m_spec;
    Clock m_clock;
    int m_buckets;
    std::once_flag m_attached;
    std::unique_ptr<SharedRegion> m_region;
    std::unique_ptr<RateBucket[]> m_local;
    RateBucket *m_table = nullptr;
    QString m_regionError;
};

} // namespace Berth::Core
