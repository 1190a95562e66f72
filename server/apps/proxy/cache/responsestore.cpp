#include "responsestore.h"

#include "runtime/sharedregion.h"

#include <QCryptographicHash>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

namespace Berth::Gateway::Cache {

namespace {

constexpr quint32 ProbeWindow = 8;
constexpr quint32 AverageRecordBytes = 4096; // sizes the index: one entry per 4 KiB of ring
constexpr quint32 StateFree = 0;
constexpr quint32 StateReady = 1;
constexpr quint32 FlagMustRevalidate = 1;
constexpr quint32 FlagVaryMarker = 2;
constexpr quint32 RecordHeaderBytes = 12; // status, fields length, vary-names length

} // namespace

// Every field but the lock word is read and written under the lock only; the lock's acquire
// (taking it) and release (leaving it) order them between processes.
struct ResponseStore::Layout
{
    std::atomic<qint32> lockOwner; // pid of the holder, 0 when free
    qint32 changing;               // entry being changed by the holder, -1 when none
    quint32 entryCount;
    quint32 reserved;
    quint64 ringBytes;
    quint64 writePos; // monotonic: the ring offset is writePos % ringBytes
    quint64 evicted;  // entries whose records the ring overwrote, noticed when reused
    char pad[24];
};
static_assert(sizeof(ResponseStore::Layout) == 64);
static_assert(std::atomic<qint32>::is_always_lock_free);

struct Entry
{
    quint64 keyHi, keyLo;
    quint64 tagHi, tagLo; // purge tag: the URL's primary key
    quint32 state;
    quint32 flags;
    qint32 claimPid; // a request of this process fetches the key...
    qint32 status;
    qint64 claimUntilMs; // ...until then
    quint64 pos;         // the record's ring offset
    quint64 recordBytes;
    qint64 storedAtMs, initialAgeMs, freshMs, staleWhileRevalidateMs, staleIfErrorMs;
    char pad[16];
};
static_assert(sizeof(Entry) == 128);

Key Key::of(QByteArrayView text)
{
    const QByteArray digest = QCryptographicHash::hash(text, QCryptographicHash::Sha256);
    Key key;
    std::memcpy(&key.hi, digest.constData(), 8);
    std::memcpy(&key.lo, digest.constData() + 8, 8);
    return key;
}

ResponseStore::~ResponseStore() = default;

static quint32 entriesFor(qint64 bytes)
{
    return quint32(std::clamp<qint64>(bytes / AverageRecordBytes, 64, 1 << 20));
}

static std::size_t regionBytes(qint64 bytes)
{
    return sizeof(ResponseStore::Layout) + std::size_t(entriesFor(bytes)) * sizeof(Entry) +
           std::size_t(bytes);
}

static void initialise(void *data, qint64 bytes)
{
    auto *layout = new (data) ResponseStore::Layout{};
    layout->changing = -1;
    layout->entryCount = entriesFor(bytes);
    layout->ringBytes = quint64(bytes);
}

std::unique_ptr<ResponseStore> ResponseStore::open(const QString &group, qint64 bytes,
                                                   QString *error)
{
    QString name = group;
    name.remove(u'@');
    const QString regionName = QStringLiteral("cache.%1.%2").arg(name).arg(bytes);
    auto region = Core::SharedRegion::open(
        regionName, regionBytes(bytes),
        [bytes](void *data, std::size_t) { initialise(data, bytes); }, error);
    if (!region)
        return nullptr;
    std::unique_ptr<ResponseStore> store(new ResponseStore);
    store->attach(region->data(), region->size());
    store->m_region = std::move(region);
    return store;
}

std::unique_ptr<ResponseStore> ResponseStore::local(qint64 bytes)
{
    std::unique_ptr<ResponseStore> store(new ResponseStore);
    store->m_localMemory.reset(new char[regionBytes(bytes)]());
    initialise(store->m_localMemory.get(), bytes);
    store->attach(store->m_localMemory.get(), regionBytes(bytes));
    return store;
}

void ResponseStore::attach(void *data, std::size_t)
{
    m_layout = static_cast<Layout *>(data);
    m_entryCount = m_layout->entryCount;
    m_ringBytes = m_layout->ringBytes;
    m_entries = reinterpret_cast<Entry *>(static_cast<char *>(data) + sizeof(Layout));
    m_ring = reinterpret_cast<char *>(m_entries + m_entryCount);
}

void ResponseStore::lock()
{
    const qint32 me = qint32(::getpid());
    for (unsigned spins = 1;; ++spins) {
        qint32 expected = 0;
        if (m_layout->lockOwner.compare_exchange_weak(expected, me, std::memory_order_acquire,
                                                      std::memory_order_relaxed))
            return;
        if (spins % 256 != 0)
            continue;
        // A holder that no longer exists died inside the critical section: take over and drop
        // the entry it was changing (its record may be half written).
        if (expected != 0 && expected != me && ::kill(expected, 0) != 0 && errno == ESRCH &&
            m_layout->lockOwner.compare_exchange_strong(expected, me, std::memory_order_acquire,
                                                        std::memory_order_relaxed)) {
            if (m_layout->changing >= 0 && quint32(m_layout->changing) < m_entryCount)
                m_entries[m_layout->changing].state = StateFree;
            m_layout->changing = -1;
            return;
        }
        ::sched_yield();
    }
}

void ResponseStore::unlock()
{
    m_layout->lockOwner.store(0, std::memory_order_release);
}

namespace {

struct Locked
{
    explicit Locked(std::function<void()> unlock)
        : m_unlock(std::move(unlock))
    {}
    ~Locked() { m_unlock(); }
    std::function<void()> m_unlock;
};

} // namespace

// Helpers that run under the lock.
namespace {

bool recordLive(const ResponseStore::Layout &layout, const Entry &entry)
{
    return entry.state == StateReady && layout.writePos - entry.pos <= layout.ringBytes;
}

bool claimLive(const Entry &entry, qint64 nowMs)
{
    if (entry.claimPid == 0 || entry.claimUntilMs <= nowMs)
        return false;
    return entry.claimPid == ::getpid() || ::kill(entry.claimPid, 0) == 0 || errno != ESRCH;
}

void ringRead(const char *ring, quint64 ringBytes, quint64 pos, char *out, quint64 bytes)
{
    const quint64 at = pos % ringBytes;
    const quint64 first = std::min(bytes, ringBytes - at);
    std::memcpy(out, ring + at, first);
    std::memcpy(out + first, ring, bytes - first);
}

void ringWrite(char *ring, quint64 ringBytes, quint64 pos, const char *in, quint64 bytes)
{
    const quint64 at = pos % ringBytes;
    const quint64 first = std::min(bytes, ringBytes - at);
    std::memcpy(ring + at, in, first);
    std::memcpy(ring, in + first, bytes - first);
}

QByteArray encode(const StoredResponse &r)
{
    QByteArray record;
    record.reserve(RecordHeaderBytes + r.fields.size() + r.varyNames.size() + r.body.size());
    const quint32 head[3] = {quint32(r.status), quint32(r.fields.size()),
                             quint32(r.varyNames.size())};
    record.append(reinterpret_cast<const char *>(head), sizeof(head));
    record.append(r.fields);
    record.append(r.varyNames);
    record.append(r.body);
    return record;
}

void decode(const QByteArray &record, const Entry &entry, StoredResponse *out)
{
    quint32 head[3];
    std::memcpy(head, record.constData(), sizeof(head));
    out->status = int(head[0]);
    out->fields = record.mid(RecordHeaderBytes, head[1]);
    out->varyNames = record.mid(RecordHeaderBytes + head[1], head[2]);
    out->body = record.mid(RecordHeaderBytes + head[1] + head[2]);
    out->storedAtMs = entry.storedAtMs;
    out->initialAgeMs = entry.initialAgeMs;
    out->freshMs = entry.freshMs;
    out->staleWhileRevalidateMs = entry.staleWhileRevalidateMs;
    out->staleIfErrorMs = entry.staleIfErrorMs;
    out->mustRevalidate = entry.flags & FlagMustRevalidate;
    out->varyMarker = entry.flags & FlagVaryMarker;
}

} // namespace

ResponseStore::Lookup ResponseStore::lookup(const Key &key, qint64 nowMs, StoredResponse *out,
                                            qint64 claimMs, bool *claimed)
{
    if (claimed)
        *claimed = false;
    lock();
    Locked guard([this] { unlock(); });
    Entry *slot = nullptr;
    Entry *spare = nullptr; // where a claim would go
    for (quint32 i = 0; i < ProbeWindow; ++i) {
        Entry &entry = m_entries[(key.lo + i) % m_entryCount];
        const bool live = recordLive(*m_layout, entry) || claimLive(entry, nowMs);
        if (live && entry.keyHi == key.hi && entry.keyLo == key.lo) {
            slot = &entry;
            break;
        }
        if (!live && !spare)
            spare = &entry;
    }
    bool hit = false;
    if (slot && recordLive(*m_layout, *slot)) {
        QByteArray record(qsizetype(slot->recordBytes), Qt::Uninitialized);
        ringRead(m_ring, m_ringBytes, slot->pos, record.data(), slot->recordBytes);
        decode(record, *slot, out);
        hit = true;
        // Second chance: a record read in the older half of the ring moves to the front.
        if (m_layout->writePos - slot->pos > m_ringBytes / 2) {
            m_layout->changing = qint32(slot - m_entries);
            ringWrite(m_ring, m_ringBytes, m_layout->writePos, record.constData(),
                      slot->recordBytes);
            slot->pos = m_layout->writePos;
            m_layout->writePos += slot->recordBytes;
            m_layout->changing = -1;
        }
        if (out->fresh(nowMs) || claimMs <= 0)
            return Lookup::Hit;
    }
    if (slot && claimLive(*slot, nowMs))
        return hit ? Lookup::Hit : Lookup::Pending; // a stale hit: the caller may serve it
    if (claimMs > 0) {
        Entry *target = slot ? slot : spare;
        if (!target) {
            // The window is full of live entries: evict the one written longest ago.
            target = &m_entries[key.lo % m_entryCount];
            for (quint32 i = 1; i < ProbeWindow; ++i) {
                Entry &entry = m_entries[(key.lo + i) % m_entryCount];
                if (entry.claimPid == 0 && (target->claimPid != 0 || entry.pos < target->pos))
                    target = &entry;
            }
            ++m_layout->evicted;
        }
        if (target != slot) {
            if (target->state == StateReady && !recordLive(*m_layout, *target))
                ++m_layout->evicted;
            target->state = StateFree;
            target->keyHi = key.hi;
            target->keyLo = key.lo;
        }
        target->claimPid = qint32(::getpid());
        target->claimUntilMs = nowMs + claimMs;
        if (claimed)
            *claimed = true;
    }
    return hit ? Lookup::Hit : Lookup::Miss;
}

bool ResponseStore::store(const Key &key, const Key &purgeTag, const StoredResponse &response,
                          qint64 nowMs)
{
    const QByteArray record = encode(response);
    if (quint64(record.size()) > m_ringBytes / 2)
        return false;
    lock();
    Locked guard([this] { unlock(); });
    Entry *target = nullptr;
    Entry *oldest = nullptr;
    for (quint32 i = 0; i < ProbeWindow; ++i) {
        Entry &entry = m_entries[(key.lo + i) % m_entryCount];
        const bool live = recordLive(*m_layout, entry) || claimLive(entry, nowMs);
        if ((live || entry.claimPid) && entry.keyHi == key.hi && entry.keyLo == key.lo) {
            target = &entry;
            break;
        }
        if (!live && !target)
            target = &entry;
        if (live && entry.claimPid == 0 && (!oldest || entry.pos < oldest->pos))
            oldest = &entry;
    }
    if (!target) {
        if (!oldest)
            return false; // every slot of the window is being fetched
        target = oldest;
        ++m_layout->evicted;
    } else if (target->state == StateReady && !recordLive(*m_layout, *target)) {
        ++m_layout->evicted;
    }
    m_layout->changing = qint32(target - m_entries);
    ringWrite(m_ring, m_ringBytes, m_layout->writePos, record.constData(), quint64(record.size()));
    target->keyHi = key.hi;
    target->keyLo = key.lo;
    target->tagHi = purgeTag.hi;
    target->tagLo = purgeTag.lo;
    target->state = StateReady;
    target->flags = (response.mustRevalidate ? FlagMustRevalidate : 0) |
                    (response.varyMarker ? FlagVaryMarker : 0);
    target->claimPid = 0;
    target->claimUntilMs = 0;
    target->status = response.status;
    target->pos = m_layout->writePos;
    target->recordBytes = quint64(record.size());
    target->storedAtMs = response.storedAtMs;
    target->initialAgeMs = response.initialAgeMs;
    target->freshMs = response.freshMs;
    target->staleWhileRevalidateMs = response.staleWhileRevalidateMs;
    target->staleIfErrorMs = response.staleIfErrorMs;
    m_layout->writePos += quint64(record.size());
    m_layout->changing = -1;
    return true;
}

bool ResponseStore::refresh(const Key &key, const StoredResponse &response, qint64 nowMs)
{
    StoredResponse stored;
    Key tag;
    {
        lock();
        Locked guard([this] { unlock(); });
        Entry *slot = nullptr;
        for (quint32 i = 0; i < ProbeWindow && !slot; ++i) {
            Entry &entry = m_entries[(key.lo + i) % m_entryCount];
            if (recordLive(*m_layout, entry) && entry.keyHi == key.hi && entry.keyLo == key.lo)
                slot = &entry;
        }
        if (!slot)
            return false;
        tag = Key{slot->tagHi, slot->tagLo};
        QByteArray record(qsizetype(slot->recordBytes), Qt::Uninitialized);
        ringRead(m_ring, m_ringBytes, slot->pos, record.data(), slot->recordBytes);
        decode(record, *slot, &stored);
    }
    StoredResponse updated = response;
    updated.body = stored.body;
    updated.status = stored.status;
    return store(key, tag, updated, nowMs);
}

void ResponseStore::release(const Key &key)
{
    lock();
    Locked guard([this] { unlock(); });
    for (quint32 i = 0; i < ProbeWindow; ++i) {
        Entry &entry = m_entries[(key.lo + i) % m_entryCount];
        if (entry.keyHi == key.hi && entry.keyLo == key.lo && entry.claimPid == ::getpid()) {
            entry.claimPid = 0;
            entry.claimUntilMs = 0;
        }
    }
}

int ResponseStore::purge(const Key &purgeTag)
{
    lock();
    Locked guard([this] { unlock(); });
    int removed = 0;
    for (quint32 i = 0; i < m_entryCount; ++i) {
        Entry &entry = m_entries[i];
        if (recordLive(*m_layout, entry) && entry.tagHi == purgeTag.hi &&
            entry.tagLo == purgeTag.lo) {
            entry.state = StateFree;
            ++removed;
        }
    }
    return removed;
}

ResponseStore::Counters ResponseStore::counters()
{
    lock();
    Locked guard([this] { unlock(); });
    Counters c;
    for (quint32 i = 0; i < m_entryCount; ++i) {
        if (recordLive(*m_layout, m_entries[i])) {
            ++c.entries;
            c.bytes += qint64(m_entries[i].recordBytes);
        }
    }
    c.evicted = qint64(m_layout->evicted);
    return c;
}

} // namespace Berth::Gateway::Cache
