#pragma once

#include <QByteArray>
#include <QString>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

namespace Berth::Core {
class SharedRegion;
}

namespace Berth::Gateway::Cache {

// A cache key: the first 128 bits of SHA-256 over what identifies a stored response.
struct Key
{
    quint64 hi = 0;
    quint64 lo = 0;
    bool operator==(const Key &) const = default;
    static Key of(QByteArrayView text);
};

// One stored response as the proxy reads and writes it. Times are the wall clock in
// milliseconds since the epoch (every process of the server shares it).
struct StoredResponse
{
    int status = 0;
    QByteArray fields; // "Name: value\r\n" lines, without framing and hop-by-hop fields
    QByteArray body;
    qint64 storedAtMs = 0;
    qint64 initialAgeMs = 0;
    qint64 freshMs = 0;
    qint64 staleWhileRevalidateMs = 0;
    qint64 staleIfErrorMs = 0;
    bool mustRevalidate = false;
    // A Vary marker: stored under the primary key, it names the request fields whose values
    // make the variant key ("accept-encoding,user-agent"); `body` is empty.
    bool varyMarker = false;
    QByteArray varyNames;

    qint64 ageMs(qint64 nowMs) const
    {
        return initialAgeMs + std::max<qint64>(0, nowMs - storedAtMs);
    }
    bool fresh(qint64 nowMs) const { return ageMs(nowMs) < freshMs; }
};

// The responses of one group, shared by every process of the server through a SharedRegion
// ("cache.<group>.<bytes>") so a hit does not depend on which worker took the request.
//
// Layout: a header, an index of fixed-size entries (open addressing, a short probe window) and
// a byte ring holding each entry's record (status, fields, body). Records are appended at the
// ring's write position, a monotonic 64-bit offset; an entry whose record has been overwritten
// (written more than the ring's size ago) is gone. Eviction is therefore FIFO on the ring, made
// an LRU approximation by re-appending a record that is hit while in the older half of the ring
// (a "second chance"): entries nobody reads age out, the ones read keep moving to the front.
//
// One spin lock per region guards the index and the ring. Its word holds the owner's pid: a
// process killed while holding it (a crashed worker) is noticed by the next one to spin
// (kill(pid, 0) fails) which takes the lock over and drops the entry the dead owner was
// changing (recorded in the header before any change), so the cache is never wedged nor torn.
// Critical sections are memcpy-bound (at most cache_max_entry bytes).
class ResponseStore
{
public:
    enum class Lookup { Hit, Miss, Pending };

    ~ResponseStore();
    // The group's store, created on first use; nullptr and *error when the region can't be
    // mapped. `bytes` is cache_memory.
    static std::unique_ptr<ResponseStore> open(const QString &group, qint64 bytes, QString *error);
    // A store in this process's memory only (tests, a failed region).
    static std::unique_ptr<ResponseStore> local(qint64 bytes);

    // Hit: *out filled (fresh or not: the caller decides). Pending: no record, and another
    // request is fetching this key until its claim's deadline. With `claimMs` > 0, a miss or a
    // stale hit nobody is fetching makes this caller the one that fetches it (*claimed): the
    // others see Pending (or their stale hit) until it stores, releases or `claimMs` passes.
    Lookup lookup(const Key &key, qint64 nowMs, StoredResponse *out, qint64 claimMs = 0,
                  bool *claimed = nullptr);
    // Stores (replacing the key's entry and ending its claim). False when it does not fit.
    bool store(const Key &key, const Key &purgeTag, const StoredResponse &response, qint64 nowMs);
    // Updates the freshness of a stored entry after a 304 (fields replaced too).
    bool refresh(const Key &key, const StoredResponse &response, qint64 nowMs);
    // Ends this caller's claim without storing.
    void release(const Key &key);
    // Removes every entry stored with this purge tag (all variants of a URL); how many.
    int purge(const Key &purgeTag);

    struct Counters
    {
        qint64 entries = 0;
        qint64 bytes = 0; // bytes of live records
        qint64 evicted = 0;
    };
    Counters counters();
    qint64 capacity() const { return m_ringBytes; }

    struct Layout; // in the .cpp: header, entries, ring

private:
    ResponseStore() = default;
    void attach(void *data, std::size_t bytes);
    void lock();
    void unlock();

    std::unique_ptr<Core::SharedRegion> m_region;
    std::unique_ptr<char[]> m_localMemory;
    Layout *m_layout = nullptr;
    struct Entry *m_entries = nullptr;
    char *m_ring = nullptr;
    quint32 m_entryCount = 0;
    quint64 m_ringBytes = 0;
};

} // namespace Berth::Gateway::Cache
