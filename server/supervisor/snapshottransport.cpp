#include "snapshottransport.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace Berth::Supervisor {

namespace {

QString systemError(const char *what)
{
    return QStringLiteral("%1: %2").arg(QLatin1StringView(what),
                                        QString::fromLocal8Bit(std::strerror(errno)));
}

} // namespace

int snapshotMemfd(const Config::Snapshot &snapshot, QString *error)
{
    const int fd = ::memfd_create("berth-config-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        *error = systemError("memfd_create");
        return -1;
    }
    const QByteArray &text = snapshot.text();
    qsizetype written = 0;
    while (written < text.size()) {
        const ssize_t n =
            ::write(fd, text.constData() + written, std::size_t(text.size() - written));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *error = systemError("configuration snapshot: write");
            ::close(fd);
            return -1;
        }
        written += n;
    }
    // Sealed, a child can't change what its siblings will read.
    ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    return fd;
}

std::optional<Config::Snapshot> readSnapshotFromEnvironment(QString *error)
{
    bool ok = false;
    const int fd = qEnvironmentVariableIntValue(SnapshotFdVariable, &ok);
    qunsetenv(SnapshotFdVariable);
    if (!ok || fd < 3) {
        *error = QStringLiteral("no configuration snapshot from the master (%1)")
                     .arg(QLatin1StringView(SnapshotFdVariable));
        return std::nullopt;
    }
    QByteArray text;
    char buffer[65536];
    off_t offset = 0;
    for (;;) {
        // pread: the offset of an fd shared with siblings must not matter.
        const ssize_t n = ::pread(fd, buffer, sizeof(buffer), offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *error = systemError("configuration snapshot: read");
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0)
            break;
        text.append(buffer, n);
        offset += n;
    }
    ::close(fd);
    return Config::Snapshot::fromText(text, error);
}

} // namespace Berth::Supervisor
