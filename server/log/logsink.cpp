#include "logsink.h"

#include <QFile>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace Berth::Log {

namespace {
constexpr qsizetype FlushThreshold = 64 * 1024;
}

LogSink::LogSink(const QString &path)
    : m_path(path)
{
    m_buffer.reserve(FlushThreshold * 2);
}

LogSink::~LogSink()
{
    flush();
    if (m_fd > STDERR_FILENO)
        ::close(m_fd);
}

bool LogSink::open(QString *error)
{
    QMutexLocker lock(&m_mutex);
    if (m_path.isEmpty()) {
        m_fd = STDERR_FILENO;
        return true;
    }
    const QByteArray native = QFile::encodeName(m_path);
    const int fd = ::open(native.constData(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        if (error)
            *error = QStringLiteral("cannot open log file '%1': %2")
                         .arg(m_path, QString::fromLocal8Bit(std::strerror(errno)));
        return false;
    }
    if (m_fd > STDERR_FILENO)
        ::close(m_fd);
    m_fd = fd;
    return true;
}

bool LogSink::reopen(QString *error)
{
    flush();
    return open(error);
}

void LogSink::append(QByteArrayView line)
{
    QMutexLocker lock(&m_mutex);
    m_buffer.append(line);
    m_buffer.append('\n');
    if (m_buffer.size() >= FlushThreshold)
        writeLocked();
}

void LogSink::flush()
{
    QMutexLocker lock(&m_mutex);
    writeLocked();
}

void LogSink::writeLocked()
{
    const int fd = m_fd >= 0 ? m_fd : STDERR_FILENO;
    const char *data = m_buffer.constData();
    qsizetype left = m_buffer.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, data, size_t(left));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; // disk full or closed: drop the batch rather than block the server
        data += n;
        left -= n;
    }
    m_buffer.resize(0); // keeps the capacity: the next batch doesn't regrow it
}

} // namespace Berth::Log
