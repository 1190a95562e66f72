#include "listeners.h"

#include "listener.h"

#include <config/config.h>

#include <QFile>
#include <QHostAddress>
#include <QSet>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace Berth::Core {

namespace {

constexpr int FirstPassedFd = 3; // SD_LISTEN_FDS_START

// A socket's identity for matching passed sockets to specs: type, then the local address as
// "ip:port" (IPv4-mapped and wildcard forms normalised by QHostAddress) or "unix:PATH".
QString socketKey(bool datagram, const QString &address)
{
    return (datagram ? QStringLiteral("udp ") : QStringLiteral("tcp ")) + address;
}

QString addressKey(const QHostAddress &address, quint16 port)
{
    return address.toString() + QLatin1Char(':') + QString::number(port);
}

QString specKey(const ListenSpec &spec)
{
    const bool datagram = spec.socket == ListenSpec::Socket::Datagram;
    if (spec.isUnix())
        return socketKey(datagram, QStringLiteral("unix:") + spec.path);
    QHostAddress address(QHostAddress::AnyIPv4);
    if (!spec.ip.isEmpty() && spec.ip != QLatin1String("*"))
        address.setAddress(spec.ip);
    return socketKey(datagram, addressKey(address, spec.port));
}

QString localKey(int fd, bool datagram)
{
    sockaddr_storage addr{};
    socklen_t length = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &length) != 0)
        return {};
    if (addr.ss_family == AF_UNIX) {
        const auto *sa = reinterpret_cast<const sockaddr_un *>(&addr);
        const qsizetype max = qsizetype(length) - qsizetype(offsetof(sockaddr_un, sun_path));
        const QByteArray path(sa->sun_path, qMax<qsizetype>(0, qstrnlen(sa->sun_path, max)));
        return socketKey(datagram, QStringLiteral("unix:") + QFile::decodeName(path));
    }
    const QHostAddress address(reinterpret_cast<const sockaddr *>(&addr));
    const quint16 port =
        ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&addr)->sin6_port
                                         : reinterpret_cast<sockaddr_in *>(&addr)->sin_port);
    return socketKey(datagram, addressKey(address, port));
}

// A socket handed to this process.
struct Passed
{
    int fd = -1;
    QString key;  // socketKey() of its local address
    QString name; // its FileDescriptorName, "" when none was given
};

// The listening (TCP, unix) and bound (UDP) sockets handed to this process.
QList<Passed> passedListeners()
{
    QList<Passed> passed;
    const QByteArray pid = qgetenv("LISTEN_PID");
    const int count = qEnvironmentVariableIntValue("LISTEN_FDS");
    const QList<QByteArray> names = qgetenv("LISTEN_FDNAMES").split(':');
    if (count > 0 && pid.toLongLong() == qint64(::getpid())) {
        for (int fd = FirstPassedFd; fd < FirstPassedFd + count; ++fd) {
            int type = 0;
            socklen_t length = sizeof(type);
            if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0)
                continue;
            int listening = 0;
            length = sizeof(listening);
            if (type != SOCK_DGRAM &&
                (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 ||
                 !listening))
                continue;
            const qsizetype index = fd - FirstPassedFd;
            // systemd names unnamed sockets "unknown" (or the socket unit's name).
            QString name = index < names.size() ? QString::fromUtf8(names[index]) : QString();
            passed.append({fd, localKey(fd, type == SOCK_DGRAM), name});
        }
    }
    qunsetenv("LISTEN_PID");
    qunsetenv("LISTEN_FDS");
    qunsetenv("LISTEN_FDNAMES");
    return passed;
}

bool parsePort(QStringView text, quint16 *port)
{
    bool ok = false;
    const uint value = text.toUInt(&ok);
    if (!ok || value > 65535)
        return false;
    *port = quint16(value);
    return true;
}

// Binds, listens and sets up a unix-domain stream socket at spec.path; -1 with *error.
int openUnixListener(const ListenSpec &spec, QString *error)
{
    const QByteArray path = QFile::encodeName(spec.path);
    const QString where = QStringLiteral("unix:") + spec.path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= qsizetype(sizeof(addr.sun_path))) {
        *error = QStringLiteral("cannot listen on %1: the path is longer than %2 bytes")
                     .arg(where)
                     .arg(sizeof(addr.sun_path) - 1);
        return -1;
    }
    std::memcpy(addr.sun_path, path.constData(), size_t(path.size()));
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error = QStringLiteral("cannot listen on %1: %2").arg(where, qt_error_string(errno));
        return -1;
    }
    // A socket file left by a previous run (crash, kill -9) is replaced; one that a running
    // server still accepts on is not (it would silently lose its clients).
    struct stat st
    {};
    if (::lstat(path.constData(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const bool alive =
            probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0;
        if (probe >= 0)
            ::close(probe);
        if (alive) {
            ::close(fd);
            *error =
                QStringLiteral("cannot listen on %1: another process accepts on it").arg(where);
            return -1;
        }
        ::unlink(path.constData());
    }
    if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0 ||
        ::listen(fd, 1024) < 0) {
        const int err = errno;
        ::close(fd);
        *error = QStringLiteral("cannot listen on %1: %2").arg(where, qt_error_string(err));
        return -1;
    }
    if (!spec.unixGroup.isEmpty()) {
        const QByteArray group = spec.unixGroup.toLocal8Bit();
        const struct group *g = ::getgrnam(group.constData());
        if (!g || ::chown(path.constData(), uid_t(-1), g->gr_gid) != 0) {
            const int err = g ? errno : ENOENT;
            ::close(fd);
            *error = g ? QStringLiteral("cannot give %1 to group %2: %3")
                             .arg(where, spec.unixGroup, qt_error_string(err))
                       : QStringLiteral("cannot give %1 to group %2: no such group")
                             .arg(where, spec.unixGroup);
            return -1;
        }
    }
    if (spec.unixMode >= 0 && ::chmod(path.constData(), mode_t(spec.unixMode)) != 0) {
        const int err = errno;
        ::close(fd);
        *error = QStringLiteral("cannot set the mode of %1: %2").arg(where, qt_error_string(err));
        return -1;
    }
    return fd;
}

} // namespace

QString ListenSpec::toString() const
{
    if (isUnix())
        return QStringLiteral("unix:") + path + (tls ? QStringLiteral(" (tls)") : QString());
    const QString suffix = socket == Socket::Datagram ? QStringLiteral(" (udp)")
                           : tls                      ? QStringLiteral(" (tls)")
                                                      : QString();
    const QString host = ip.contains(QLatin1Char(':')) ? QStringLiteral("[%1]").arg(ip) : ip;
    return QStringLiteral("%1:%2%3").arg(host).arg(port).arg(suffix);
}

bool parseListenEntry(const QString &entry, ListenSpec *spec, QString *error)
{
    const QStringList words = entry.simplified().split(QLatin1Char(' '), Qt::SkipEmptyParts);
    if (words.isEmpty()) {
        *error = QStringLiteral("an empty listener");
        return false;
    }
    *spec = ListenSpec();
    spec->http2 = false;
    const QString &address = words.first();
    if (address.startsWith(QLatin1String("unix:"))) {
        spec->path = address.mid(5);
        if (!spec->path.startsWith(QLatin1Char('/'))) {
            *error = QStringLiteral("'%1': a unix socket needs an absolute path").arg(address);
            return false;
        }
    } else {
        const qsizetype colon = address.lastIndexOf(QLatin1Char(':'));
        QString host = colon < 0 ? QStringLiteral("*") : address.left(colon);
        const QStringView portText =
            colon < 0 ? QStringView(address) : QStringView(address).mid(colon + 1);
        if (host.startsWith(QLatin1Char('[')) && host.endsWith(QLatin1Char(']')))
            host = host.mid(1, host.size() - 2);
        else if (host.contains(QLatin1Char(':'))) {
            *error =
                QStringLiteral("'%1': write an IPv6 address in brackets, [::1]:8080").arg(address);
            return false;
        }
        QHostAddress ip;
        if (host == QLatin1String("*"))
            host = QStringLiteral("0.0.0.0");
        if (!ip.setAddress(host)) {
            *error = QStringLiteral("'%1': '%2' is not an IP address").arg(address, host);
            return false;
        }
        if (!parsePort(portText, &spec->port)) {
            *error = QStringLiteral("'%1': '%2' is not a port").arg(address, portText);
            return false;
        }
        spec->ip = host;
    }
    for (const QString &flag : words.mid(1)) {
        if (flag == QLatin1String("tls"))
            spec->tls = true;
        else if (flag == QLatin1String("http2"))
            spec->http2 = true;
        else if (flag == QLatin1String("proxy_protocol"))
            spec->proxyProtocol = true;
        else if (flag.startsWith(QLatin1String("name=")) && flag.size() > 5)
            spec->name = flag.mid(5);
        else {
            *error = QStringLiteral("'%1': unknown listener option '%2' (tls, http2, "
                                    "proxy_protocol, name=NAME)")
                         .arg(entry.simplified(), flag);
            return false;
        }
    }
    return true;
}

void assignV6Only(QList<ListenSpec> *specs)
{
    QSet<quint16> ipv4Ports;
    for (const ListenSpec &spec : std::as_const(*specs)) {
        if (!spec.isUnix() && spec.socket == ListenSpec::Socket::Stream &&
            QHostAddress(spec.ip).protocol() == QAbstractSocket::IPv4Protocol)
            ipv4Ports.insert(spec.port);
    }
    for (ListenSpec &spec : *specs) {
        if (!spec.isUnix() && QHostAddress(spec.ip).protocol() == QAbstractSocket::IPv6Protocol)
            spec.v6Only =
                spec.socket == ListenSpec::Socket::Datagram || ipv4Ports.contains(spec.port);
    }
}

QList<ListenSpec> listenSpecs(const Config::Config &config)
{
    const QString server = QStringLiteral("server");
    const QString tls = QStringLiteral("tls");
    QList<ListenSpec> specs;
    const QString listen = config.getString(server, QStringLiteral("listen")).trimmed();
    if (!listen.isEmpty()) {
        const int mode =
            config.isSet(server, QStringLiteral("unix_mode"))
                ? Config::Values::parseMode(config.getString(server, QStringLiteral("unix_mode")))
                      .value_or(-1)
                : -1;
        const QString group = config.getString(server, QStringLiteral("unix_group"));
        for (const QString &entry : listen.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
            ListenSpec spec;
            QString error;
            if (!parseListenEntry(entry, &spec, &error)) {
                config.addDiagnostic({Config::Diagnostic::Severity::Error,
                                      config.location(server, QStringLiteral("listen")),
                                      QStringLiteral("[server] listen: %1").arg(error)});
                continue;
            }
            spec.unixMode = mode;
            spec.unixGroup = group;
            bool duplicate = false;
            for (const ListenSpec &other : std::as_const(specs))
                duplicate = duplicate || other.sameSocket(spec);
            if (duplicate) {
                config.addDiagnostic(
                    {Config::Diagnostic::Severity::Error,
                     config.location(server, QStringLiteral("listen")),
                     QStringLiteral("[server] listen: %1 is listed twice").arg(spec.toString())});
                continue;
            }
            specs.append(spec);
        }
        assignV6Only(&specs);
        return specs;
    }
    ListenSpec main;
    main.ip = config.getString(server, QStringLiteral("ip"));
    main.port = quint16(config.getInt(server, QStringLiteral("port")));
    main.tls = config.getBool(tls, QStringLiteral("enabled"));
    specs.append(main);
    const int tlsPort = int(config.getInt(tls, QStringLiteral("port")));
    if (tlsPort > 0 && tlsPort != main.port) {
        ListenSpec secure = main;
        secure.port = quint16(tlsPort);
        secure.tls = true;
        specs.append(secure);
    }
    assignV6Only(&specs);
    return specs;
}

int openListener(const ListenSpec &spec, QString *error)
{
    if (spec.isUnix())
        return openUnixListener(spec, error);
    if (spec.socket == ListenSpec::Socket::Datagram)
        return openDatagramSocket(spec.ip, spec.port, error);
    return openListeningSocket(spec.ip, spec.port, error, 1024, spec.v6Only);
}

bool acquireListeners(const QList<ListenSpec> &specs, QList<int> *fds, QString *error)
{
    QList<Passed> passed = passedListeners();
    for (const ListenSpec &spec : specs) {
        const QString key = specKey(spec);
        qsizetype found = -1;
        // FileDescriptorName= first (it says what the socket is for), then the address.
        for (qsizetype i = 0; i < passed.size() && found < 0 && !spec.name.isEmpty(); ++i) {
            if (passed[i].name == spec.name)
                found = i;
        }
        for (qsizetype i = 0; i < passed.size() && found < 0; ++i) {
            if (passed[i].key == key)
                found = i;
        }
        int fd = -1;
        if (found < 0) {
            fd = openListener(spec, error);
            if (fd < 0)
                return false;
        } else {
            fd = passed.takeAt(found).fd;
            // Passed sockets keep their flags from the passer; this engine needs them
            // non-blocking and closed on exec (workers get them passed explicitly).
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        fds->append(fd);
    }
    // Sockets passed for something this configuration no longer asks for.
    for (const Passed &p : std::as_const(passed))
        ::close(p.fd);
    return true;
}

} // namespace Berth::Core
