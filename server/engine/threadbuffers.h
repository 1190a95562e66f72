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

// An empty byte buffer, with capacity when the pool had one.
QByteArray takeBytes();
// Takes bytes (left null) into the pool, or frees it (shared, too large, pool full).
void giveBytes(QByteArray &bytes);

// An empty header-field vector, with capacity when the pool had one.
std::vector<Http::HeaderField> takeFields();
// Takes fields (left empty, no capacity) into the pool, or frees it.
void giveFields(std::vector<Http::HeaderField> &fields);

// Raw memory for the objects a connection is made of (the connection, its plain transport),
// which a `Connection: close` request makes and destroys once each: a few blocks of each size
// are kept per thread and reused, so accepting a connection costs no heap allocation. Blocks
// come from ::operator new; one given back in another thread (or after the thread's pool is
// gone) is kept there or freed.
void *takeBlock(std::size_t size);
void giveBlock(void *block, std::size_t size);
// Blocks of `size` the calling thread keeps (tests).
int pooledBlocks(std::size_t size);

} // namespace Berth::Engine::ThreadBuffers
