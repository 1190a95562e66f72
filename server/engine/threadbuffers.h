#pragma once

#include "http/requesthead.h"

#include <QByteArray>

#include <cstddef>
#include <vector>

namespace Berth::Engine::ThreadBuffers {

// Buffers an event-loop thread lends to its connections for the length of an exchange, as
// nginx lends its buffers: a keep-alive connection between requests holds none, and the next
// exchange (on this connection or another one of the thread) borrows them back without an
// allocation. Without this every idle connection kept (or, once released, left behind as heap
// fragments among the live connection objects) ~1.8 KB of head, header-field and output
// buffers. Bounded: a few of each kind are kept, large ones are freed. Thread-local; a buffer
// may still be freed in any thread.
//
// A keep-alive request takes and gives back several of these, so the common case is inline
// (a few instructions each, no call); the pools themselves are fixed arrays.

// An empty byte buffer, with capacity when the pool had one.
Q_ALWAYS_INLINE QByteArray takeBytes();
// Takes bytes (left null) into the pool, or frees it (shared, too large, pool full).
Q_ALWAYS_INLINE void giveBytes(QByteArray &bytes);

// An empty header-field vector, with capacity when the pool had one.
Q_ALWAYS_INLINE std::vector<Http::HeaderField> takeFields();
// Takes fields (left empty, no capacity) into the pool, or frees it.
Q_ALWAYS_INLINE void giveFields(std::vector<Http::HeaderField> &fields);

// Sets the size of bytes as QByteArray::resize() does (contents up to size kept, NUL after
// them), inline when the buffer is not shared and has the room: resize() is an out-of-line
// call of ~30 instructions, which a request made several times over on these buffers.
Q_ALWAYS_INLINE void setSize(QByteArray &bytes, qsizetype size)
{
    QByteArray::DataPointer &d = bytes.data_ptr();
    if (size >= 0 && !d.needsDetach() && size - d.size <= d.freeSpaceAtEnd()) {
        d.size = size;
        d.data()[size] = '\0';
    } else {
        bytes.resize(size);
    }
}

// Raw memory for the objects a connection is made of (the connection, its plain transport),
// which a `Connection: close` request makes and destroys once each: a few blocks of each size
// are kept per thread and reused, so accepting a connection costs no heap allocation. Blocks
// come from ::operator new; one given back in another thread (or after the thread's pool is
// gone) is kept there or freed.
void *takeBlock(std::size_t size);
void giveBlock(void *block, std::size_t size);
// Blocks of `size` the calling thread keeps (tests).
int pooledBlocks(std::size_t size);

// --- implementation of the inline calls ---
namespace Detail {

// One exchange in progress per thread at a time on the synchronous path; more for exchanges
// that wait on an app (a proxied request waits for its member): with 64 clients through the
// gateway, 16 made 0.6 of an allocation per request for each kind of buffer, as every
// response of a batch gave its buffers back and the next batch of requests took them again.
// Kept buffers are small (a head's size; MaxPooledBytes at most, rarely reached).
constexpr int MaxPooled = 128;
constexpr qsizetype MaxPooledBytes = 64 * 1024;   // a larger buffer served a large response
constexpr qsizetype MaxPooledTotal = 1024 * 1024; // all the byte buffers kept by a thread
constexpr size_t MaxPooledFields = 256;

struct Pools
{
    int byteCount = 0;
    int fieldCount = 0;
    qsizetype bytesTotal = 0; // the capacity of the kept byte buffers
    QByteArray bytes[MaxPooled];
    std::vector<Http::HeaderField> fields[MaxPooled];
};

// The calling thread's pools, made on first use; null once the thread's pools were destroyed
// (thread exit: what is given back then is freed). A plain pointer in TLS (constant-initialised,
// no guard), so reaching the pools costs one load.
inline Pools *&poolsSlot()
{
    thread_local Pools *p = nullptr;
    return p;
}
Pools *createPools();
// Frees what is not kept (out of line: the inline callers stay small).
void drop(QByteArray &bytes);
void drop(std::vector<Http::HeaderField> &fields);

Q_ALWAYS_INLINE Pools *pools()
{
    Pools *p = poolsSlot();
    return Q_LIKELY(p) ? p : createPools();
}

} // namespace Detail

Q_ALWAYS_INLINE QByteArray takeBytes()
{
    Detail::Pools *p = Detail::pools();
    QByteArray bytes;
    if (p && p->byteCount > 0) {
        bytes.swap(p->bytes[--p->byteCount]);
        p->bytesTotal -= bytes.capacity();
    }
    return bytes;
}

Q_ALWAYS_INLINE void giveBytes(QByteArray &bytes)
{
    Detail::Pools *p = Detail::pools();
    const qsizetype capacity = bytes.capacity();
    // A shared buffer would detach (allocate) on its next write: not worth keeping.
    if (!p || capacity == 0 || capacity > Detail::MaxPooledBytes || !bytes.isDetached() ||
        p->byteCount >= Detail::MaxPooled || p->bytesTotal + capacity > Detail::MaxPooledTotal) {
        Detail::drop(bytes);
        return;
    }
    setSize(bytes, 0); // keeps the capacity
    p->bytesTotal += capacity;
    p->bytes[p->byteCount++].swap(bytes); // the slot was null: bytes is now
}

Q_ALWAYS_INLINE std::vector<Http::HeaderField> takeFields()
{
    Detail::Pools *p = Detail::pools();
    std::vector<Http::HeaderField> fields;
    if (p && p->fieldCount > 0)
        fields.swap(p->fields[--p->fieldCount]);
    return fields;
}

Q_ALWAYS_INLINE void giveFields(std::vector<Http::HeaderField> &fields)
{
    Detail::Pools *p = Detail::pools();
    if (!p || fields.capacity() == 0 || fields.capacity() > Detail::MaxPooledFields ||
        p->fieldCount >= Detail::MaxPooled) {
        Detail::drop(fields);
        return;
    }
    fields.clear();
    p->fields[p->fieldCount++].swap(fields); // the slot had no capacity: fields now has none
}

} // namespace Berth::Engine::ThreadBuffers
