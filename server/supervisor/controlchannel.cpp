#include "controlchannel.h"

#include <QDeadlineTimer>
#include <QFile>
#include <QFileInfo>
#include <QLocalServer>
#include <QLocalSocket>
#include <QSocketNotifier>

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace Berth::Supervisor {

namespace {

constexpr qsizetype MaxRequestBytes = 4096;

} // namespace

QString controlSocketPath(const QString &pidFile)
{
    if (pidFile.isEmpty())
        return {};
    if (pidFile.endsWith(QLatin1String(".pid")))
        return pidFile.chopped(4) + QLatin1String(".sock");
    return pidFile + QLatin1String(".sock");
}

ControlReply::ControlReply(QLocalSocket *socket)
    : m_socket(socket)
{}

void ControlReply::finish(const QStringList &lines, bool ok)
{
    if (!m_socket)
        return;
    QByteArray out;
    for (const QString &line : lines)
        out += line.toUtf8() + '\n';
    out += ok ? "OK\n" : "FAILED\n";
    m_socket->write(out);
    m_socket->disconnectFromServer(); // after the write is flushed
    m_socket = nullptr;
}

ControlChannel::ControlChannel(Handler handler, QObject *parent)
    : QObject(parent)
    , m_handler(std::move(handler))
{}

ControlChannel::~ControlChannel()
{
    close();
}

bool ControlChannel::listen(const QString &path, QString *error)
{
    const QByteArray native = QFile::encodeName(path);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (native.size() >= qsizetype(sizeof(address.sun_path))) {
        *error = QStringLiteral("control socket path %1 is longer than %2 bytes")
                     .arg(path)
                     .arg(sizeof(address.sun_path) - 1);
        return false;
    }
    std::memcpy(address.sun_path, native.constData(), std::size_t(native.size()));
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error = QStringLiteral("control socket: %1").arg(qt_error_string(errno));
        return false;
    }
    // Only a socket file: the master owns the pid file beside it, so what is there is stale.
    QFileInfo existing(path);
    if (existing.exists() && !existing.isDir() && !existing.isFile())
        ::unlink(native.constData());
    // The umask makes the socket owner-only from its creation; chmod says so explicitly.
    const mode_t old = ::umask(0177);
    const int bound = ::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address));
    ::umask(old);
    if (bound != 0 || ::chmod(native.constData(), 0600) != 0 || ::listen(fd, 16) != 0) {
        *error = QStringLiteral("control socket %1: %2").arg(path, qt_error_string(errno));
        ::close(fd);
        return false;
    }
    m_server = new QLocalServer(this);
    if (!m_server->listen(qintptr(fd))) {
        *error = QStringLiteral("control socket %1: %2").arg(path, m_server->errorString());
        ::close(fd);
        return false;
    }
    m_path = path;
    connect(m_server, &QLocalServer::newConnection, this, &ControlChannel::onConnection);
    return true;
}

void ControlChannel::close(bool unlinkPath)
{
    if (!m_server)
        return;
    if (!unlinkPath) {
        // QLocalServer::close() and its destructor remove the file at its path, which is the
        // other master's socket now. Leave the server be, deaf (its notifier off) and unowned:
        // this master is exiting or rebinding after a failed upgrade (one fd each time).
        for (QSocketNotifier *notifier : m_server->findChildren<QSocketNotifier *>())
            notifier->setEnabled(false);
        m_server->disconnect(this);
        m_server->setParent(nullptr);
        m_server = nullptr;
        return;
    }
    m_server->close();
    ::unlink(QFile::encodeName(m_path).constData());
    m_server = nullptr;
}

void ControlChannel::onConnection()
{
    while (QLocalSocket *socket = m_server->nextPendingConnection()) {
        connect(socket, &QLocalSocket::disconnected, socket, &QObject::deleteLater);
        connect(socket, &QLocalSocket::readyRead, this, [this, socket] {
            if (socket->property("berthAnswered").toBool())
                return;
            if (!socket->canReadLine()) {
                if (socket->bytesAvailable() > MaxRequestBytes)
                    socket->abort();
                return;
            }
            socket->setProperty("berthAnswered", true);
            const QString line = QString::fromUtf8(socket->readLine(MaxRequestBytes)).trimmed();
            QStringList words = line.split(QLatin1Char(' '), Qt::SkipEmptyParts);
            const QString command = words.isEmpty() ? QString() : words.takeFirst();
            m_handler(command, words, ControlReply(socket));
        });
    }
}

bool controlRequest(const QString &path, const QString &request, int timeoutMs, QStringList *lines,
                    bool *ok, QString *error)
{
    QLocalSocket socket;
    QDeadlineTimer deadline(timeoutMs);
    socket.connectToServer(path);
    if (!socket.waitForConnected(int(qMax<qint64>(1, deadline.remainingTime())))) {
        *error =
            QStringLiteral("cannot reach the master at %1: %2").arg(path, socket.errorString());
        return false;
    }
    socket.write(request.toUtf8() + '\n');
    socket.waitForBytesWritten(int(qMax<qint64>(1, deadline.remainingTime())));
    QByteArray answer;
    while (socket.state() == QLocalSocket::ConnectedState && !deadline.hasExpired()) {
        if (socket.waitForReadyRead(int(qMax<qint64>(1, deadline.remainingTime()))))
            answer += socket.readAll();
    }
    answer += socket.readAll();
    QStringList all = QString::fromUtf8(answer).split(QLatin1Char('\n'));
    while (!all.isEmpty() && all.last().isEmpty())
        all.removeLast();
    if (all.isEmpty() ||
        (all.last() != QLatin1String("OK") && all.last() != QLatin1String("FAILED"))) {
        *error = deadline.hasExpired()
                     ? QStringLiteral("the master did not answer within %1 s").arg(timeoutMs / 1000)
                     : QStringLiteral("the master closed the control connection");
        *lines = all;
        return false;
    }
    *ok = all.takeLast() == QLatin1String("OK");
    *lines = all;
    return true;
}

} // namespace Berth::Supervisor
