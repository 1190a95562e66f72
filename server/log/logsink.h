#pragma once

#include <QByteArray>
#include <QMutex>
#include <QString>

namespace Berth::Log {

// An append-only log destination shared by every thread: a file opened with O_APPEND, or
// stderr. Lines are buffered and written in batches (at 64 KiB, or by flush(), which the server
// calls every 100 ms), so logging costs no system call per request.
class LogSink
{
public:
    // Empty path: stderr.
    explicit LogSink(const QString &path = QString());
    ~LogSink();
    LogSink(const LogSink &) = delete;
    LogSink &operator=(const LogSink &) = delete;

    bool open(QString *error = nullptr);
    // Closes and opens the path again (logrotate moved the file: USR1).
    bool reopen(QString *error = nullptr);
    void append(QByteArrayView line); // one line, without its newline
    void flush();
    const QString &path() const { return m_path; }
    int fd() const { return m_fd; }

private:
    void writeLocked();

    QString m_path;
    int m_fd = -1;
    QMutex m_mutex;
    QByteArray m_buffer;
};

} // namespace Berth::Log
