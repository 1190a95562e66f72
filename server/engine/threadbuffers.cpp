#include "threadbuffers.h"

#include <array>
#include <new>
#include <utility>

namespace Berth::Engine::ThreadBuffers {

namespace {

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

namespace Detail {

namespace {

// Owns the calling thread's pools: they go when the thread ends, and nothing is pooled after.
thread_local bool t_poolsGone = false;

struct PoolsOwner
{
    Pools *pools = nullptr;
    ~PoolsOwner()
    {
        t_poolsGone = true;
        poolsSlot() = nullptr;
        delete pools;
    }
};

} // namespace

Pools *createPools()
{
    if (t_poolsGone)
        return nullptr;
    thread_local PoolsOwner owner;
    owner.pools = new Pools;
    poolsSlot() = owner.pools;
    return owner.pools;
}

void drop(QByteArray &bytes)
{
    bytes = QByteArray();
}

void drop(std::vector<Http::HeaderField> &fields)
{
    std::vector<Http::HeaderField>().swap(fields);
}

} // namespace Detail

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
