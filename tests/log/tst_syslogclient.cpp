// SyslogClient: RFC 3164 datagrams "<PRI>Mmm dd hh:mm:ss berthd[PID]: message" on a unix
// datagram socket, here a temporary one standing in for /dev/log; facility and severity in PRI;
// a daemon that starts after the client is still reached; LogSink sends each line on its own.
#include "log/logsink.h"
#include "log/syslogclient.h"

#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

using namespace Berth;
using Log::SyslogClient;

namespace {

// A fake syslog daemon: a bound unix datagram socket.
class FakeDaemon
{
public:
    explicit FakeDaemon(const QByteArray &path)
    {
        m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, path.constData(), size_t(path.size()));
        m_bound = ::bind(m_fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) == 0;
    }
    ~FakeDaemon() { ::close(m_fd); }
    bool bound() const { return m_bound; }
    // The next datagram, or empty after timeoutMs.
    QByteArray receive(int timeoutMs = 2000)
    {
        pollfd p{m_fd, POLLIN, 0};
        if (::poll(&p, 1, timeoutMs) != 1)
            return {};
        QByteArray buffer(8192, Qt::Uninitialized);
        const ssize_t n = ::recv(m_fd, buffer.data(), size_t(buffer.size()), 0);
        return n < 0 ? QByteArray() : buffer.left(n);
    }

private:
    int m_fd = -1;
    bool m_bound = false;
};

QByteArray socketPath(const QTemporaryDir &dir)
{
    return QFile::encodeName(dir.filePath(QStringLiteral("log")));
}

} // namespace

class tst_SyslogClient : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void formatIsRfc3164();
    void messagesReachTheDaemonWithFacilityAndSeverity();
    void aDaemonStartedLaterIsReached();
    void noDaemonDropsSilently();
    void logSinkSendsEachLine();
};

void tst_SyslogClient::formatIsRfc3164()
{
    const QByteArray oldTz = qgetenv("TZ");
    qputenv("TZ", "UTC");
    ::tzset();
    // 2026-01-02 03:04:05 UTC: the day is space-padded, as in syslog(3).
    const qint64 msecs = 1767323045'000LL;
    const QByteArray line =
        SyslogClient::format(LOG_DAEMON | LOG_WARNING, "berthd", 42, msecs, "[warning] disk full");
    if (oldTz.isNull())
        qunsetenv("TZ");
    else
        qputenv("TZ", oldTz);
    ::tzset();
    QCOMPARE(line, QByteArray("<28>Jan  2 03:04:05 berthd[42]: [warning] disk full"));
    // PRI = facility * 8 + severity (RFC 3164 4.1.1).
    QVERIFY(SyslogClient::format(LOG_AUTH | LOG_WARNING, "x", 1, msecs, "m").startsWith("<36>"));
    QVERIFY(SyslogClient::format(LOG_DAEMON | LOG_INFO, "x", 1, msecs, "m").startsWith("<30>"));
}

void tst_SyslogClient::messagesReachTheDaemonWithFacilityAndSeverity()
{
    QTemporaryDir dir;
    FakeDaemon daemon(socketPath(dir));
    QVERIFY(daemon.bound());
    SyslogClient client(socketPath(dir));
    client.send(LOG_AUTH | LOG_WARNING, "CEF:0|Berth|berthd|1|auth|failed|5|src=10.0.0.1");
    client.send(LOG_DAEMON | LOG_ERR, "second");
    static const QRegularExpression stamp(
        QStringLiteral("^<36>[A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] "
                       "berthd\\[%1\\]: CEF:0\\|Berth\\|berthd\\|1\\|auth\\|failed\\|5\\|"
                       "src=10\\.0\\.0\\.1$")
            .arg(::getpid()));
    const QByteArray first = daemon.receive();
    QVERIFY2(stamp.match(QString::fromUtf8(first)).hasMatch(), first.constData());
    const QByteArray second = daemon.receive();
    QVERIFY2(second.startsWith("<27>") && second.endsWith("]: second"), second.constData());
}

void tst_SyslogClient::aDaemonStartedLaterIsReached()
{
    QTemporaryDir dir;
    SyslogClient client(socketPath(dir));
    client.send(LOG_DAEMON | LOG_INFO, "lost: nobody listens yet");
    FakeDaemon daemon(socketPath(dir));
    QVERIFY(daemon.bound());
    client.send(LOG_DAEMON | LOG_INFO, "after the daemon started");
    QVERIFY(daemon.receive().endsWith("]: after the daemon started"));
    QVERIFY(daemon.receive(100).isEmpty());
}

void tst_SyslogClient::noDaemonDropsSilently()
{
    SyslogClient client("/nonexistent/berth-test/log");
    for (int i = 0; i < 3; ++i)
        client.send(LOG_DAEMON | LOG_INFO, "dropped"); // neither blocks nor crashes
}

void tst_SyslogClient::logSinkSendsEachLine()
{
    QTemporaryDir dir;
    FakeDaemon daemon(socketPath(dir));
    QVERIFY(daemon.bound());
    SyslogClient client(socketPath(dir));
    {
        Log::LogSink sink(dir.filePath(QStringLiteral("request.log")));
        sink.setSyslogPriority(LOG_DAEMON | LOG_INFO, &client);
        QVERIFY(sink.open());
        sink.append("GET /a 200");
        sink.append("GET /b 404");
        QVERIFY(sink.sync());
    }
    const QByteArray a = daemon.receive();
    const QByteArray b = daemon.receive();
    QVERIFY2(a.startsWith("<30>") && a.endsWith("]: GET /a 200"), a.constData());
    QVERIFY2(b.startsWith("<30>") && b.endsWith("]: GET /b 404"), b.constData());
    QVERIFY(daemon.receive(100).isEmpty());
}

QTEST_GUILESS_MAIN(tst_SyslogClient)
#include "tst_syslogclient.moc"
