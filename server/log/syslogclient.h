#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <mutex>

namespace Berth::Log {

// A client of the local syslog daemon: each message is one RFC 3164 datagram
// "<PRI>Mmm dd hh:mm:ss berthd[PID]: message" on a unix datagram socket (/dev/log unless given),
// the framing glibc's syslog(3) uses, so rsyslog and journald read it the same. Thread-safe;
// send() is a blocking syscall (a datagram: it does not wait for the daemon to read it). When
// the daemon is missing, messages are dropped silently, like syslog(3).
class SyslogClient
{
public:
    static constexpr const char *DefaultPath = "/dev/log";

    // Connects at once: before a privilege drop or chroot could make the socket unreachable.
    explicit SyslogClient(QByteArray socketPath = DefaultPath, QByteArray ident = "berthd");
    ~SyslogClient();
    SyslogClient(const SyslogClient &) = delete;
    SyslogClient &operator=(const SyslogClient &) = delete;

    // priority = facility | severity (LOG_DAEMON | LOG_INFO...). One message per datagram.
    void send(int priority, QByteArrayView message);

    // The datagram send() writes for a message stamped at msecsSinceEpoch (local time).
    static QByteArray format(int priority, QByteArrayView ident, qint64 pid, qint64 msecsSinceEpoch,
                             QByteArrayView message);

    // The process's client on /dev/log, created (and connected) on the first call.
    static SyslogClient &process();

private:
    bool connectLocked();

    const QByteArray m_path;
    const QByteArray m_ident;
    std::mutex m_mutex; // guards m_fd: send() reconnects after the daemon restarts
    int m_fd = -1;
};

} // namespace Berth::Log
