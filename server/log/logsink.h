#pragma once

#include <QByteArray>
#include <QString>

#include <functional>
#include <memory>

namespace Berth::Log {

class SyslogClient;

// An append-only log destination shared by every thread: a file opened with O_APPEND, or
// stderr. Serving threads never wait on it: append() copies the line into a buffer of the
// calling thread's own, and a writer thread of the sink's own collects the buffers and writes
// them (every 100 ms, or sooner when much is pending; a writer with nothing to write sleeps
// until the next line comes, so an idle sink costs no wake-ups). A sink that stops taking data
// (a full disk on a blocking device, a pipe nobody reads) stalls only its writer: lines beyond
// a bound held in memory are dropped and counted, and once the sink moves again the drop
// reporter says how many were lost (server.log: "dropped N log lines: sink stalled").
class LogSink
{
public:
    // Told, from the writer thread, how many lines were dropped since the last report.
    using DropReporter = std::function<void(const LogSink &sink, qint64 dropped)>;

    // Empty path: stderr.
    explicit LogSink(const QString &path = QString());
    // Writes what is pending (bounded: a stalled sink is given up on) and stops the writer.
    ~LogSink();
    LogSink(const LogSink &) = delete;
    LogSink &operator=(const LogSink &) = delete;

    bool open(QString *error = nullptr);
    // Opens the path again (logrotate moved the file: USR1); the writer switches to the new
    // file after the batch it is writing.
    bool reopen(QString *error = nullptr);
    void append(QByteArrayView line); // one line, without its newline; never blocks on I/O
    // Formats one line straight into the calling thread's buffer, for lines written per request
    // (request.log): format gets room for maxBytes at out and returns the end of what it wrote
    // (the line without its newline; it may scribble up to out + maxBytes). No copy, and no
    // allocation once the buffer has grown. format runs under the thread buffer's lock: it must
    // not log to this sink.
    using LineFormatter = char *(*)(char *out, const void *context);
    void appendFormatted(qsizetype maxBytes, LineFormatter format, const void *context);
    // Asks the writer to write what is pending now, without waiting for it.
    void flush();
    // Calls done once every line appended before the call is written: at once
    // (in the calling thread) when it already is, else later in the writer thread. Never, if
    // the sink stays stalled or goes away first. For an answer that promises "it is on disk"
    // without waiting for it (post the rest back to your own thread).
    void whenWritten(std::function<void()> done);
    // Waits until every line appended before the call is written, at most timeoutMs, and not
    // at all while the writer is stuck in a write (a stalled sink). True when all was written.
    bool sync(int timeoutMs = 2000);
    const QString &path() const { return m_path; }
    int fd() const;
    qint64 droppedLines() const;
    void setDropReporter(DropReporter reporter);
    // Also send every line to syslog with this priority (facility included), through client
    // (the process's /dev/log one unless given; it must outlive the sink), from the writer
    // thread: the threads that append never wait for syslog. Negative: off. Call before lines
    // are appended.
    void setSyslogPriority(int priority, SyslogClient *client = nullptr);

    // The writer is woken at once when a thread has this many bytes pending (64 KiB unless set;
    // request_log_buffer): fewer, larger writes under load. Call before lines are appended.
    void setEagerBytes(qsizetype bytes);

    // A thread's buffer for one sink holds at most this many bytes; lines beyond are dropped.
    static constexpr qsizetype MaxPendingBytes = 1024 * 1024;

    // True while the writer sleeps with no deadline: a whole interval passed without a line,
    // and none came since (the next one wakes it). For tests and diagnostics.
    bool isWriterParked() const;
    // The rounds the writer has made (each a wake-up: a line, a flush or the interval); a
    // parked writer makes none. For tests and diagnostics.
    quint64 writerRounds() const;

private:
    struct State;
    struct ThreadBuffer;
    ThreadBuffer &threadBuffer();

    QString m_path;
    std::shared_ptr<State> m_state; // shared with the writer thread
};

} // namespace Berth::Log
