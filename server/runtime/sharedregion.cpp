#include "sharedregion.h"

#include <QByteArray>
#include <QDir>
#include <QRegularExpression>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

// Regions are POSIX shared memory objects ("/berth.<instance>.<name>", i.e. files in /dev/shm on
// Linux) rather than memfds inherited from the master: a region is sized by configuration the
// master never reads (a group's cache_memory), it must outlive one generation of workers, and
// openers find it by name without the supervisor knowing which features exist.

namespace Berth::Core {

namespace {

constexpr std::uint64_t Magic = 0x4e4745525f485442ull; // "BTH_REGN" little-endian
constexpr std::uint32_t Version = 1;
constexpr const char *Prefix = "berth.";
constexpr const char *ShmDirectory = "/dev/shm";

// Precedes the caller's bytes; one cache line so data() stays aligned.
struct alignas(SharedRegion::Alignment) Header
{
    std::atomic<std::uint64_t> magic; // written last (release): the region is initialised
    std::uint32_t version;
    std::uint32_t reserved;
    std::uint64_t bytes;
};
static_assert(sizeof(Header) == SharedRegion::Alignment);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

QString systemError(const QString &what)
{
    return QStringLiteral("%1: %2").arg(what, QString::fromLocal8Bit(std::strerror(errno)));
}

bool validName(const QString &name)
{
    static const QRegularExpression pattern(QStringLiteral("^[A-Za-z0-9_.-]{1,160}$"));
    return pattern.match(name).hasMatch();
}

QByteArray objectName(const QString &instance, const QString &name)
{
    return QByteArray("/") + Prefix + instance.toLatin1() + '.' + name.toLatin1();
}

// Holds the object's fd locked while the opener works, and unlocks and closes it when the opener
// returns, whatever path it takes. The unlock must be explicit: the mapping keeps the open file
// description (and so a flock on it) alive after close().
class LockedFile
{
public:
    explicit LockedFile(int fd)
        : m_fd(fd)
    {
        while (::flock(m_fd, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
    ~LockedFile()
    {
        ::flock(m_fd, LOCK_UN);
        ::close(m_fd);
    }
    LockedFile(const LockedFile &) = delete;
    LockedFile &operator=(const LockedFile &) = delete;

private:
    int m_fd;
};

} // namespace

SharedRegion::~SharedRegion()
{
    if (m_mapping)
        ::munmap(m_mapping, m_mappingBytes);
}

std::unique_ptr<SharedRegion> SharedRegion::open(const QString &name, std::size_t bytes,
                                                 const Initialiser &init, QString *error)
{
    if (!validName(name)) {
        *error = QStringLiteral("shared region name '%1' is not valid").arg(name);
        return nullptr;
    }
    if (bytes == 0) {
        *error = QStringLiteral("shared region '%1' has no size").arg(name);
        return nullptr;
    }
    const QByteArray object = objectName(instanceId(), name);
    const int fd = ::shm_open(object.constData(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        *error = systemError(QStringLiteral("shared region '%1'").arg(name));
        return nullptr;
    }
    // Every opener takes the lock, so the creator's ftruncate + init is seen whole.
    const LockedFile locked(fd);
    const std::size_t dataBytes = (bytes + Alignment - 1) / Alignment * Alignment;
    const std::size_t total = sizeof(Header) + dataBytes;
    struct stat st
    {};
    if (::fstat(fd, &st) != 0) {
        *error = systemError(QStringLiteral("shared region '%1'").arg(name));
        return nullptr;
    }
    const bool fresh = st.st_size == 0;
    if (fresh && ::ftruncate(fd, off_t(total)) != 0) {
        *error = systemError(QStringLiteral("shared region '%1' (%2 bytes)").arg(name).arg(total));
        return nullptr;
    }
    if (!fresh && std::size_t(st.st_size) != total) {
        *error = QStringLiteral("shared region '%1' exists with %2 bytes, not %3")
                     .arg(name)
                     .arg(st.st_size)
                     .arg(total);
        return nullptr;
    }
    void *mapping = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapping == MAP_FAILED) {
        *error = systemError(QStringLiteral("shared region '%1' (mmap)").arg(name));
        return nullptr;
    }
    auto *header = static_cast<Header *>(mapping);
    std::unique_ptr<SharedRegion> region(new SharedRegion);
    region->m_name = name;
    region->m_mapping = mapping;
    region->m_mappingBytes = total;
    region->m_data = static_cast<char *>(mapping) + sizeof(Header);
    region->m_bytes = dataBytes;
    if (header->magic.load(std::memory_order_acquire) != Magic) {
        // Fresh (ftruncate gave zero pages, left untouched so a large region costs memory
        // only as it is used), or its creator died before finishing: start from zero again.
        if (!fresh)
            std::memset(region->m_data, 0, dataBytes);
        header->version = Version;
        header->bytes = dataBytes;
        if (init)
            init(region->m_data, dataBytes);
        header->magic.store(Magic, std::memory_order_release);
    } else if (header->version != Version || header->bytes != dataBytes) {
        *error = QStringLiteral("shared region '%1' has another layout").arg(name);
        return nullptr;
    }
    return region;
}

QString SharedRegion::instanceId()
{
    const QByteArray value = qgetenv(InstanceVariable);
    bool ok = false;
    const qint64 pid = value.toLongLong(&ok);
    if (ok && pid > 0)
        return QString::number(pid);
    return QString::number(::getpid());
}

bool SharedRegion::inServer()
{
    return !qgetenv(InstanceVariable).isEmpty();
}

void SharedRegion::becomeInstance()
{
    qputenv(InstanceVariable, QByteArray::number(qint64(::getpid())));
}

void SharedRegion::removeInstanceRegions()
{
    const QString prefix = QLatin1StringView(Prefix) + instanceId() + u'.';
    const QStringList entries = QDir(QLatin1StringView(ShmDirectory))
                                    .entryList({prefix + u'*'}, QDir::Files | QDir::System);
    for (const QString &entry : entries)
        ::shm_unlink((u'/' + entry).toLatin1().constData());
}

void SharedRegion::removeStaleRegions()
{
    static const QRegularExpression pattern(QStringLiteral("^berth\\.(\\d+)\\."));
    const QStringList entries =
        QDir(QLatin1StringView(ShmDirectory))
            .entryList({QLatin1StringView(Prefix) + u'*'}, QDir::Files | QDir::System);
    for (const QString &entry : entries) {
        const QRegularExpressionMatch match = pattern.match(entry);
        if (!match.hasMatch())
            continue;
        const pid_t pid = pid_t(match.captured(1).toLongLong());
        if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH)
            ::shm_unlink((u'/' + entry).toLatin1().constData());
    }
}

} // namespace Berth::Core
