#include "openfilecache.h"

#include "runtime/sharedstate.h"

#include <atomic>
#include <cerrno>

#include <sys/resource.h>
#include <unistd.h>

namespace Berth::Apps {

namespace {

// Every cache of the process draws on one budget of fds: each thread's cache of each static
// app would otherwise be free to hold `capacity` fds, and threads × apps × 1000 fds under the
// usual 1024 soft limit would leave none for connections. Relaxed ordering: the count is a
// budget, not a guard of other memory, and is only touched when an entry is stored or dropped.
std::atomic<qint64> g_cachedFds{0};

// -1 until first use: then a quarter of the soft RLIMIT_NOFILE (or what a test set).
std::atomic<qint64> g_fdBudget{-1};

qint64 fdBudget()
{
    qint64 budget = g_fdBudget.load(std::memory_order_relaxed);
    if (budget >= 0)
        return budget;
    rlimit limit = {};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        budget = 4096;
    else
        budget = qint64(limit.rlim_cur / 4);
    g_fdBudget.store(budget, std::memory_order_relaxed); // threads racing here agree anyway
    return budget;
}

bool takeFdFromBudget()
{
    if (g_cachedFds.fetch_add(1, std::memory_order_relaxed) < fdBudget())
        return true;
    g_cachedFds.fetch_sub(1, std::memory_order_relaxed);
    return false;
}

} // namespace

void OpenFileCache::setFdBudget(qint64 fds)
{
    g_fdBudget.store(fds, std::memory_order_relaxed);
}

qint64 OpenFileCache::cachedFds()
{
    return g_cachedFds.load(std::memory_order_relaxed);
}

void closeQuietly(int fd)
{
    if (fd < 0)
        return;
    const int saved = errno;
    ::close(fd);
    errno = saved;
}

OpenFileCache::OpenFileCache(qsizetype capacity, std::int64_t validMs, Clock clock)
    : m_capacity(qMax<qsizetype>(1, capacity))
    , m_validMs(qMax<std::int64_t>(0, validMs))
    , m_clock(clock ? std::move(clock) : Clock(&Core::monotonicMs))
{
    // Grown as paths arrive beyond this: a large capacity on a small site costs nothing.
    m_index.reserve(qMin<qsizetype>(m_capacity, 1024));
}

OpenFileCache::~OpenFileCache()
{
    for (Node &node : m_lru)
        release(node.entry);
}

void OpenFileCache::release(OpenFileEntry &entry)
{
    if (entry.fd >= 0) {
        closeQuietly(entry.fd);
        entry.fd = -1;
        g_cachedFds.fetch_sub(1, std::memory_order_relaxed);
    }
}

const OpenFileEntry *OpenFileCache::find(const QByteArray &key, State &state)
{
    const auto found = m_index.constFind(key);
    if (found == m_index.constEnd()) {
        state = State::Missing;
        return nullptr;
    }
    const List::iterator node = *found;
    if (node != m_lru.begin())
        m_lru.splice(m_lru.begin(), m_lru, node); // no allocation: the node moves
    // A clock that went back (it is monotonic, but tests inject one) counts as stale too.
    const std::int64_t age = m_clock() - node->entry.checkedMs;
    state = age >= 0 && age < m_validMs ? State::Fresh : State::Stale;
    return &node->entry;
}

const OpenFileEntry &OpenFileCache::store(const QByteArray &key, OpenFileEntry &&entry)
{
    if (entry.fd >= 0 && !takeFdFromBudget()) {
        closeQuietly(entry.fd);
        entry.fd = -1;
    }
    const auto found = m_index.constFind(key);
    if (found != m_index.constEnd()) {
        const List::iterator node = *found;
        release(node->entry);
        node->entry = std::move(entry);
        entry.fd = -1; // the cache owns it now
        m_lru.splice(m_lru.begin(), m_lru, node);
        return node->entry;
    }
    while (m_index.size() >= m_capacity && !m_lru.empty()) {
        Node &oldest = m_lru.back();
        release(oldest.entry);
        m_index.remove(oldest.key);
        m_lru.pop_back();
    }
    m_lru.push_front(Node{key, std::move(entry)});
    entry.fd = -1;
    m_index.insert(key, m_lru.begin());
    return m_lru.front().entry;
}

void OpenFileCache::remove(const QByteArray &key)
{
    const auto found = m_index.constFind(key);
    if (found == m_index.constEnd())
        return;
    const List::iterator node = *found;
    m_index.erase(found);
    release(node->entry);
    m_lru.erase(node);
}

} // namespace Berth::Apps
