#include "threadbuffers.h"

#include <array>
#include <new>
#include <utility>

namespace Berth::Engine::ThreadBuffers {

namespace {

// One exchange in progress per thread at a time on the synchronous path; more for exchanges
// that wait on an app (a proxied request waits for its member): with 64 clients through the
// gateway, 16 made 0.6 of an allocation per request for each kind of buffer, as every
// response of a batch gave its buffers back and the next batch of requests took them again.
// Kept buffers are small (a head's size; MaxPooledBytes at most, rarely reached).
constexpr size_t MaxPooled = 128;
constexpr qsizetype MaxPooledBytes = 64 * 1024;   // a larger buffer served a large response
constexpr qsizetype MaxPooledTotal = 1024 * 1024; // all the byte buffers kept by a thread
constexpr size_t MaxPooledFields = 256;

struct Pools
{
    std::vector<QByteArray> bytes;
    qsizetype bytesTotal = 0; // the capacity of those
    std::vector<std::vector<Http::HeaderField>> fields;
};

Pools &pools()
{
    thread_local Pools p;
    return p;
}

// Blocks by size: a connection class and a transport, one or two codecs; a size that finds no
// free kind is not pooled. Enough blocks for the connections a thread closes in one loop turn
// (they are deleted together at its end) without holding a burst's peak.
constexpr size_t BlockKinds = 4;
constexpr size_t MaxPooledBlocks = 64;

struct BlockPool
{
    struct Kind
    {
        std::size_t size = 0;
        std::vector<void *> free;
    };
    std::array<Kind, BlockKinds> kinds;

    Kind *kind(std::size_t size, bool claim)
    {
        for (Kind &k : kinds) {
            if (k.size == size)
                return &k;
        }
        if (claim) {
            for (Kind &k : kinds) {
                if (k.size == 0) {
                    k.size = size;
                    return &k;
                }
            }
        }
        return nullptr;
    }
    ~BlockPool();
};

// Set when the thread's block pool is destroyed (thread exit): trivially destructible, so a
// block given back during the rest of the thread's teardown is freed instead of pooled.
thread_local bool t_blockPoolGone = false;

BlockPool::~BlockPool()
{
    t_blockPoolGone = true;
    for (Kind &k : kinds) {
        for (void *block : k.free)
            ::operator delete(block);
    }
}

BlockPool *blockPool()
{
    if (t_blockPoolGone)
        return nullptr;
    thread_local BlockPool p;
    return &p;
}

} // namespace

QByteArray takeBytes()
{
    Pools &p = pools();
    if (p.bytes.empty())
        return QByteArray();
    QByteArray bytes = std::move(p.bytes.back());
    p.bytes.pop_back();
    p.bytesTotal -= bytes.capacity();
    return bytes;
}

void giveBytes(QByteArray &bytes)
{
    Pools &p = pools();
    // A shared buffer would detach (allocate) on its next write: not worth keeping.
    if (bytes.capacity() == 0 || bytes.capacity() > MaxPooledBytes || !bytes.isDetached() ||
        p.bytes.size() >= MaxPooled || p.bytesTotal + bytes.capacity() > MaxPooledTotal) {
        bytes = QByteArray();
        return;
    }
    bytes.resize(0); // keeps the capacity
    p.bytesTotal += bytes.capacity();
    p.bytes.push_back(std::move(bytes));
    bytes = QByteArray();
}

std::vector<Http::HeaderField> takeFields()
{
    Pools &p = pools();
    if (p.fields.empty())
        return {};
    std::vector<Http::HeaderField> fields = std::move(p.fields.back());
    p.fields.pop_back();
    return fields;
}

void giveFields(std::vector<Http::HeaderField> &fields)
{
    Pools &p = pools();
    if (fields.capacity() == 0 || fields.capacity() > MaxPooledFields ||
        p.fields.size() >= MaxPooled) {
        std::vector<Http::HeaderField>().swap(fields);
        return;
    }
    fields.clear();
    p.fields.push_back(std::move(fields));
    std::vector<Http::HeaderField>().swap(fields);
}

void *takeBlock(std::size_t size)
{
    if (BlockPool *p = blockPool()) {
        if (BlockPool::Kind *k = p->kind(size, false); k && !k->free.empty()) {
            void *block = k->free.back();
            k->free.pop_back();
            return block;
        }
    }
    return ::operator new(size);
}

void giveBlock(void *block, std::size_t size)
{
    if (!block)
        return;
    BlockPool *p = blockPool();
    BlockPool::Kind *k = p ? p->kind(size, true) : nullptr;
    if (!k || k->free.size() >= MaxPooledBlocks) {
        ::operator delete(block);
        return;
    }
    if (k->free.capacity() == 0)
        k->free.reserve(MaxPooledBlocks); // one allocation per kind, not one per growth
    k->free.push_back(block);
}

int pooledBlocks(std::size_t size)
{
    BlockPool *p = blockPool();
    const BlockPool::Kind *k = p ? p->kind(size, false) : nullptr;
    return k ? int(k->free.size()) : 0;
}

} // namespace Berth::Engine::ThreadBuffers
