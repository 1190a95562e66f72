#include "ratelimiter.h"

#include "sharedregion.h"

#include <QRegularExpression>

#include <algorithm>
#include <ctime>

namespace Berth::Core {

namespace {

constexpr std::int64_t NsPerSecond = 1'000'000'000;

std::int64_t monotonicNs()
{
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * NsPerSecond + ts.tv_nsec;
}

std::int64_t ceilSeconds(std::int64_t ns)
{
    return ns <= 0 ? 0 : (ns + NsPerSecond - 1) / NsPerSecond;
}

int roundUpToPowerOfTwo(int n)
{
    int p = 1;
    while (p < n && p < (1 << 24))
        p <<= 1;
    return p;
}

} // namespace

QString RateSpec::toString() const
{
    const QChar unit = periodNs == 3600 * NsPerSecond ? u'h'
                       : periodNs == 60 * NsPerSecond ? u'm'
                                                      : u's';
    return QStringLiteral("%1/%2 burst=%3").arg(count).arg(unit).arg(burst);
}

bool RateSpec::parse(const QString &text, RateSpec *out, QString *error)
{
    static const QRegularExpression pattern(
        QStringLiteral("^\\s*(\\d{1,9})\\s*/\\s*(s|sec|second|m|min|minute|h|hour)\\s*"
                       "(?:\\s+burst\\s*=\\s*(\\d{1,9}))?\\s*$"),
        QRegularExpression::CaseInsensitiveOption);
    const QRegularExpressionMatch match = pattern.match(text);
    if (!match.hasMatch()) {
        if (error)
            *error = QStringLiteral("rate \"%1\": expected N/s, N/m or N/h, optionally followed "
                                    "by burst=N (such as 100/s burst=200)")
                         .arg(text.trimmed());
        return false;
    }
    RateSpec spec;
    spec.count = match.captured(1).toLongLong();
    const QChar unit = match.captured(2).at(0).toLower();
    spec.periodNs = (unit == u'h' ? 3600 : unit == u'm' ? 60 : 1) * NsPerSecond;
    spec.burst = match.hasCaptured(3) ? match.captured(3).toLongLong() : spec.count;
    if (spec.count <= 0 || spec.burst <= 0) {
        if (error)
            *error = QStringLiteral("rate \"%1\": the rate and the burst must be at least 1")
                         .arg(text.trimmed());
        return false;
    }
    if (out)
        *out = spec;
    return true;
}

RateLimiter::RateLimiter(const QString &regionName, RateSpec spec, Clock clock, int buckets)
    : m_regionName(regionName)
    , m_spec(spec)
    , m_clock(clock ? std::move(clock) : Clock(monotonicNs))
    , m_buckets(roundUpToPowerOfTwo(std::max(buckets, ProbeWindow)))
{}

RateLimiter::~RateLimiter() = default;

std::uint64_t RateLimiter::hashKey(QByteArrayView key)
{
    // FNV-1a, then a splitmix64 finaliser to spread the low bits the table indexes by.
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (char c : key) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1;
}

QString RateLimiter::regionNameFor(const QString &what, int buckets)
{
    QString name = QStringLiteral("ratelimit.") + what;
    for (QChar &c : name) {
        const bool ok = (c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z') ||
                        (c >= u'0' && c <= u'9') || c == u'.' || c == u'-' || c == u'_';
        if (!ok)
            c = u'_';
    }
    return name.left(140) + u'.' + QString::number(roundUpToPowerOfTwo(buckets));
}

void RateLimiter::attach()
{
    if (!m_regionName.isEmpty()) {
        m_region = SharedRegion::open(m_regionName, sizeof(RateBucket) * std::size_t(m_buckets), {},
                                      &m_regionError);
        if (m_region) {
            m_table = static_cast<RateBucket *>(m_region->data());
            return;
        }
    }
    // Zeroed memory is an empty table, as a new region is.
    m_local = std::make_unique<RateBucket[]>(std::size_t(m_buckets));
    for (int i = 0; i < m_buckets; ++i) {
        m_local[i].key.store(0, std::memory_order_relaxed);
        m_local[i].tatNs.store(0, std::memory_order_relaxed);
        m_local[i].lastLoggedNs.store(0, std::memory_order_relaxed);
    }
    m_table = m_local.get();
}

RateBucket *RateLimiter::bucketFor(std::uint64_t hash, std::int64_t now)
{
    const std::uint64_t mask = std::uint64_t(m_buckets) - 1;
    for (int attempt = 0; attempt < 4; ++attempt) {
        RateBucket *free = nullptr;
        RateBucket *oldest = nullptr;
        std::uint64_t oldestKey = 0;
        std::int64_t oldestTat = 0;
        for (int i = 0; i < ProbeWindow; ++i) {
            RateBucket &b = m_table[(hash + std::uint64_t(i)) & mask];
            const std::uint64_t k = b.key.load(std::memory_order_acquire);
            if (k == hash)
                return &b;
            if (k == 0) {
                if (!free)
                    free = &b;
                continue;
            }
            const std::int64_t tat = b.tatNs.load(std::memory_order_relaxed);
            if (!oldest || tat < oldestTat) {
                oldest = &b;
                oldestKey = k;
                oldestTat = tat;
            }
        }
        // Claim a free bucket, else evict the least recently busy key of the window. Losing
        // the CAS means another process changed the window meanwhile: look again.
        RateBucket *target = free ? free : oldest;
        std::uint64_t expected = free ? 0 : oldestKey;
        if (target->key.compare_exchange_strong(expected, hash, std::memory_order_acq_rel)) {
            if (!free && oldestTat > now) {
                // A busy key was evicted (the table is full): start the new key afresh rather
                // than with the old key's debt, unless someone already charged it.
                std::int64_t tat = oldestTat;
                target->tatNs.compare_exchange_strong(tat, 0, std::memory_order_acq_rel);
            }
            return target;
        }
    }
    return nullptr;
}

RateLimiter::Decision RateLimiter::check(QByteArrayView key)
{
    std::call_once(m_attached, [this] { attach(); });
    Decision d;
    d.limit = m_spec.burst;
    const std::int64_t now = m_clock();
    const std::int64_t interval = std::max<std::int64_t>(1, m_spec.intervalNs());
    const std::int64_t tolerance = interval * m_spec.burst;
    RateBucket *bucket = bucketFor(hashKey(key), now);
    if (!bucket) {
        // Four lost races in a row: the window is being rewritten under us. Let it through
        // rather than refuse a client for others' contention.
        d.remaining = m_spec.burst - 1;
        return d;
    }
    std::int64_t tat = bucket->tatNs.load(std::memory_order_acquire);
    for (;;) {
        const std::int64_t newTat = std::max(tat, now) + interval;
        if (newTat - now > tolerance) {
            d.allowed = false;
            d.remaining = 0;
            d.retryAfterSeconds = std::max<std::int64_t>(1, ceilSeconds(newTat - tolerance - now));
            d.resetSeconds = std::max<std::int64_t>(1, ceilSeconds(tat - now));
            std::int64_t logged = bucket->lastLoggedNs.load(std::memory_order_relaxed);
            const std::int64_t window = std::max(m_spec.periodNs, NsPerSecond);
            if ((logged == 0 || now - logged >= window) &&
                bucket->lastLoggedNs.compare_exchange_strong(logged, now ? now : 1,
                                                             std::memory_order_relaxed))
                d.logEvent = true;
            return d;
        }
        if (bucket->tatNs.compare_exchange_weak(tat, newTat, std::memory_order_acq_rel,
                                                std::memory_order_acquire)) {
            d.remaining = std::max<std::int64_t>(0, (tolerance - (newTat - now)) / interval);
            d.resetSeconds = ceilSeconds(newTat - now);
            return d;
        }
    }
}

} // namespace Berth::Core
