#pragma once

#include "responsestore.h"

#include <QString>

#include <atomic>

namespace Berth::Gateway::Cache {

// The cache's disk tier (`cache_dir`, `cache_disk`): every stored response is also written to
// a file, so the cache survives a restart of the server (the shared memory does not). A miss in
// memory looks here before asking a member and copies what it finds back into memory.
//
// Files: DIR/<purge tag>/<key>, both as 32 hex digits, each written to a temporary name and
// renamed, so a reader sees a whole file or none (a crash leaves only a temporary, removed on
// the next trim). A read touches the file's mtime; past `cache_disk` bytes the files with the
// oldest mtime go (LRU). Every process keeps its own estimate of the total from a scan at
// start and its own writes, and rescans when it passes the bound.
//
// Blocking file I/O of at most cache_max_entry bytes, on the event loop, as nginx does without
// aio: the files are in the page cache for the hot entries.
class DiskStore
{
public:
    DiskStore(const QString &dir, qint64 limitBytes);

    bool read(const Key &key, const Key &tag, StoredResponse *out);
    void write(const Key &key, const Key &tag, const StoredResponse &response);
    int purge(const Key &tag);

private:
    QString pathOf(const Key &key, const Key &tag) const;
    void trim();

    QString m_dir;
    qint64 m_limit = 0;
    std::atomic<qint64> m_bytes{0}; // the event-loop threads of a worker share the store
};

} // namespace Berth::Gateway::Cache
