#include "ticketkeys.h"

#include "sharedregion.h"

#include <QLoggingCategory>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

#include <sys/random.h>

Q_LOGGING_CATEGORY(lcTicketKeys, "berth.tls.tickets")

namespace Berth::Core {

namespace {

constexpr int KeyWords = int(sizeof(TicketKeyRing::Key) / sizeof(std::uint64_t));
static_assert(sizeof(TicketKeyRing::Key) == 80 && KeyWords == 10);
constexpr int ReadAttempts = 10'000;

// The kernel's CSPRNG (what OpenSSL's RAND_bytes seeds from): this layer does not link OpenSSL.
void randomBytes(void *buffer, std::size_t size)
{
    auto *out = static_cast<char *>(buffer);
    while (size > 0) {
        const ssize_t n = ::getrandom(out, size, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            qFatal("getrandom failed: %s", std::strerror(errno));
        }
        out += n;
        size -= std::size_t(n);
    }
}

} // namespace

// Slot generation % 3 holds the current key, (generation + 1) % 3 the next and
// (generation + 2) % 3 the previous one. Keys are stored as atomic words (relaxed) so the
// seqlock's racing reads are defined behaviour; `sequence` is odd while the writer works.
struct TicketKeyRing::Shared
{
    std::atomic<std::uint64_t> sequence{0};
    std::atomic<std::uint64_t> generation{0};
    std::atomic<std::int64_t> rotatedAtMs{0}; // the writer's own bookkeeping (0: not yet)
    std::atomic<std::uint64_t> keys[3][KeyWords]{};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

namespace {

void storeKey(std::atomic<std::uint64_t> *words, const TicketKeyRing::Key &key)
{
    std::uint64_t plain[KeyWords];
    std::memcpy(plain, &key, sizeof(plain));
    for (int i = 0; i < KeyWords; ++i)
        words[i].store(plain[i], std::memory_order_relaxed);
}

void loadKey(const std::atomic<std::uint64_t> *words, TicketKeyRing::Key *key)
{
    std::uint64_t plain[KeyWords];
    for (int i = 0; i < KeyWords; ++i)
        plain[i] = words[i].load(std::memory_order_relaxed);
    std::memcpy(key, plain, sizeof(plain));
}

TicketKeyRing::Key randomKey()
{
    TicketKeyRing::Key key;
    randomBytes(&key, sizeof(key));
    return key;
}

} // namespace

TicketKeyRing::~TicketKeyRing() = default;

TicketKeyRing *TicketKeyRing::instance()
{
    static TicketKeyRing *const ring = [] {
        if (SharedRegion::inServer()) {
            QString error;
            if (std::unique_ptr<TicketKeyRing> shared = openShared(&error))
                return shared.release();
            qCWarning(lcTicketKeys).noquote()
                << "session tickets resume only on the worker that issued them:" << error;
        }
        return createLocal().release();
    }();
    return ring;
}

std::unique_ptr<TicketKeyRing> TicketKeyRing::openShared(QString *error)
{
    // Runs once, on zeroed memory, before any other process can see the region.
    auto init = [](void *data, std::size_t) {
        auto *shared = new (data) Shared;
        for (auto &slot : shared->keys)
            storeKey(slot, randomKey());
    };
    std::unique_ptr<SharedRegion> region =
        SharedRegion::open(QLatin1StringView(RegionName), sizeof(Shared), init, error);
    if (!region)
        return nullptr;
    std::unique_ptr<TicketKeyRing> ring(new TicketKeyRing);
    // The region's creator constructed the Shared object; every opener maps the same bytes.
    ring->m_shared = static_cast<Shared *>(region->data());
    ring->m_region = std::move(region);
    return ring;
}

std::unique_ptr<TicketKeyRing> TicketKeyRing::createLocal()
{
    std::unique_ptr<TicketKeyRing> ring(new TicketKeyRing);
    ring->m_local = std::make_unique<Shared>();
    for (auto &slot : ring->m_local->keys)
        storeKey(slot, randomKey());
    ring->m_shared = ring->m_local.get();
    return ring;
}

bool TicketKeyRing::read(Keys *keys) const
{
    for (int attempt = 0; attempt < ReadAttempts; ++attempt) {
        const std::uint64_t before = m_shared->sequence.load(std::memory_order_acquire);
        if (before & 1)
            continue;
        const std::uint64_t generation = m_shared->generation.load(std::memory_order_relaxed);
        loadKey(m_shared->keys[generation % 3], &keys->current);
        loadKey(m_shared->keys[(generation + 1) % 3], &keys->next);
        loadKey(m_shared->keys[(generation + 2) % 3], &keys->previous);
        // Orders the loads above before the re-check (the seqlock's read side).
        std::atomic_thread_fence(std::memory_order_acquire);
        if (m_shared->sequence.load(std::memory_order_relaxed) == before) {
            keys->generation = generation;
            return true;
        }
    }
    return false;
}

TicketKeyRing::Match TicketKeyRing::find(const std::uint8_t *name, Key *key) const
{
    Keys keys;
    if (!read(&keys))
        return Match::None;
    const auto is = [name](const Key &k) {
        return std::memcmp(k.name.data(), name, k.name.size()) == 0;
    };
    if (is(keys.current)) {
        *key = keys.current;
        return Match::Current;
    }
    for (const Key *other : {&keys.previous, &keys.next}) {
        if (is(*other)) {
            *key = *other;
            return Match::Other;
        }
    }
    return Match::None;
}

bool TicketKeyRing::rotateIfDue(std::int64_t nowMs, std::int64_t intervalMs)
{
    const std::int64_t last = m_shared->rotatedAtMs.load(std::memory_order_relaxed);
    if (last == 0) {
        m_shared->rotatedAtMs.store(nowMs, std::memory_order_relaxed);
        return false;
    }
    if (intervalMs <= 0 || nowMs - last < intervalMs)
        return false;
    rotate(nowMs);
    return true;
}

void TicketKeyRing::rotate(std::int64_t nowMs)
{
    const Key fresh = randomKey();
    const std::uint64_t generation = m_shared->generation.load(std::memory_order_relaxed);
    const std::uint64_t sequence = m_shared->sequence.load(std::memory_order_relaxed);
    m_shared->sequence.store(sequence + 1, std::memory_order_relaxed);
    // The odd sequence is visible before any key word changes (the seqlock's write side).
    std::atomic_thread_fence(std::memory_order_release);
    // The previous key's slot becomes the new next; the old next becomes current.
    storeKey(m_shared->keys[(generation + 2) % 3], fresh);
    m_shared->generation.store(generation + 1, std::memory_order_relaxed);
    m_shared->sequence.store(sequence + 2, std::memory_order_release);
    m_shared->rotatedAtMs.store(nowMs, std::memory_order_relaxed);
}

} // namespace Berth::Core
