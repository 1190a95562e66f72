#include "socketappsettings.h"

#include <config/config.h>

#include <climits>

namespace Berth::Services {

SocketAppSettings SocketAppSettings::fromConfig(const Config::Config &config,
                                                const QString &section)
{
    SocketAppSettings s;
    s.datagram = section.startsWith(QLatin1String("udp:"));
    s.section = section;
    s.name = section.mid(section.indexOf(QLatin1Char(':')) + 1);
    s.call = config.getString(section, QStringLiteral("call"));
    s.listen.ip = config.getString(section, QStringLiteral("ip"));
    s.listen.port = quint16(config.getInt(section, QStringLiteral("port")));
    s.listen.socket =
        s.datagram ? Core::ListenSpec::Socket::Datagram : Core::ListenSpec::Socket::Stream;
    s.workers =
        int(qBound(qint64(1), config.getInt(section, QStringLiteral("workers")), qint64(1024)));
    s.threads =
        int(qBound(qint64(1), config.getInt(section, QStringLiteral("threads")), qint64(256)));
    s.gracefulTimeoutMs =
        config.getDuration(QStringLiteral("server"), QStringLiteral("graceful_timeout")).count();
    if (s.datagram) {
        s.maxDatagramBytes =
            int(qBound(qint64(1), config.getInt(section, QStringLiteral("max_datagram_bytes")),
                       qint64(65535)));
        return s;
    }
    s.listen.tls = config.getBool(section, QStringLiteral("tls"));
    s.maxConnections = int(qBound(
        qint64(0), config.getInt(section, QStringLiteral("max_connections")), qint64(INT_MAX)));
    s.idleTimeoutMs = config.getDuration(section, QStringLiteral("idle_timeout")).count();
    s.sendTimeoutMs = config.getDuration(section, QStringLiteral("send_timeout")).count();
    s.outputBuffer = qMax<qsizetype>(1, config.getSize(section, QStringLiteral("output_buffer")));
    return s;
}

QList<SocketAppSettings> SocketAppSettings::all(const Config::Config &config, bool datagram)
{
    QList<SocketAppSettings> list;
    const QString prefix = datagram ? QStringLiteral("udp:") : QStringLiteral("tcp:");
    for (const Config::Section *section : config.sectionsWithPrefix(prefix))
        list.append(fromConfig(config, section->name));
    return list;
}

} // namespace Berth::Services
