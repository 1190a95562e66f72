#pragma once

#include "preconditions.h"

#include <QByteArray>
#include <QHash>

#include <cstdint>
#include <functional>
#include <list>

#include <sys/types.h>

namespace Berth::Apps {

// What a request path of a static app leads to: a file to serve, a directory (answered with a
// redirect to "dir/"), or a status (only 404 is ever cached). Everything the response needs is
// formatted once, when the path is looked up, so a request served from a cached entry formats
// and allocates nothing.
struct OpenFileEntry
{
    enum class Kind : std::uint8_t { File, Directory, Status };

    Kind kind = Kind::Status;
    int status = 404; // Kind::Status: the answer
    // Kind::File: open read-only, or -1 when only the metadata is kept (the fd budget was spent):
    // the file is then reopened per request and must still be this device and inode.
    int fd = -1;
    qint64 size = 0;
    dev_t device = 0;
    ino_t inode = 0;
    QByteArray path;         // Kind::File: where the lookup opened it (below the root)
    Validators validators;   // ETag and Last-Modified (seconds)
    QByteArray lastModified; // the Last-Modified field value (an HTTP-date)
    QByteArray contentType;
    std::int64_t checkedMs = 0; // when the path was last looked up (the cache's clock)
};

// An open-file cache as nginx's open_file_cache, one per static app per event-loop thread (apps
// are never shared between threads, so nothing here locks). Bounded: past `capacity` entries the
// least recently used one is dropped, and its fd closed. An entry is fresh for `validMs` after
// its lookup; a stale one is looked up again by the app (the whole resolution, containment and
// symlink checks included) and replaced. Every fd the cache holds is closed when it is
// destroyed, i.e. when the app is (a reload builds new apps).
class OpenFileCache
{
public:
    using Clock = std::function<std::int64_t()>; // milliseconds, monotonic

    // clock defaults to Core::monotonicMs.
    OpenFileCache(qsizetype capacity, std::int64_t validMs, Clock clock = {});
    ~OpenFileCache();
    OpenFileCache(const OpenFileCache &) = delete;
    OpenFileCache &operator=(const OpenFileCache &) = delete;

    enum class State { Fresh, Stale, Missing };
    // The entry for key (made the most recently used), or nullptr. `state` says whether it may
    // be served as it is (Fresh) or must be looked up again first (Stale).
    const OpenFileEntry *find(const QByteArray &key, State &state);
    // Stores entry (taking its fd) as key's, replacing and closing a previous one; evicts the
    // least recently used entry when full. Keeps the fd only while the process-wide budget of
    // cached fds allows (a quarter of RLIMIT_NOFILE, so connections are never starved of fds);
    // otherwise the entry keeps the metadata and the fd is closed. Returns the stored entry.
    const OpenFileEntry &store(const QByteArray &key, OpenFileEntry &&entry);
    // Drops key's entry, if any (a lookup that failed in a way that must not be cached).
    void remove(const QByteArray &key);

    std::int64_t now() const { return m_clock(); }
    qsizetype size() const { return m_index.size(); }
    qsizetype capacity() const { return m_capacity; }
    std::int64_t validMs() const { return m_validMs; }

    // The process-wide budget of fds all caches may keep open (default: a quarter of the soft
    // RLIMIT_NOFILE, read at first use); tests lower it, and a negative value restores the
    // default. cachedFds(): how many are kept now.
    static void setFdBudget(qint64 fds);
    static qint64 cachedFds();

    // Paths longer than this are looked up every time, never stored: a flood of long random
    // names (each a negative entry) can't make the cache hold megabytes.
    static constexpr qsizetype MaxKeyLength = 1024;

private:
    struct Node
    {
        QByteArray key;
        OpenFileEntry entry;
    };
    using List = std::list<Node>; // most recently used first

    void release(OpenFileEntry &entry);

    qsizetype m_capacity;
    std::int64_t m_validMs;
    Clock m_clock;
    List m_lru;
    QHash<QByteArray, List::iterator> m_index;
};

// Closes fd, unless it is -1; keeps errno (callers report the error that made them close).
void closeQuietly(int fd);

} // namespace Berth::Apps
