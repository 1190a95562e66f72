#include "groupsettings.h"

#include <config/config.h>

namespace Berth::Gateway {

using Config::Diagnostic;

bool GroupSettings::fromConfig(const Config::Config &config, const QString &section,
                               GroupSettings *s)
{
    auto error = [&](const QString &key, const QString &text) {
        config.addDiagnostic({Diagnostic::Severity::Error, config.location(section, key),
                              QStringLiteral("[%1] %2: %3").arg(section, key, text)});
        return false;
    };
    s->name = section;
    const QString balance = config.getString(section, QStringLiteral("balance"));
    if (!Balancer::parseMethod(balance, &s->balance))
        return error(QStringLiteral("balance"),
                     QStringLiteral("\"%1\": expected round_robin, least_conn, ip_hash or "
                                    "random_two")
                         .arg(balance));
    const int maxConns = int(config.getInt(section, QStringLiteral("max_conns")));
    // "a:5000 weight=3, b:5000, c:5000 backup": the list splits on spaces too, so an option
    // belongs to the member before it.
    const QStringList tokens = config.getList(section, QStringLiteral("members"));
    for (const QString &token : tokens) {
        if (token == QLatin1String("backup") || token.startsWith(QLatin1String("weight=")) ||
            token.startsWith(QLatin1String("max_conns="))) {
            if (s->members.isEmpty())
                return error(QStringLiteral("members"),
                             QStringLiteral("\"%1\" before any member").arg(token));
            MemberSpec &last = s->members.last();
            if (token == QLatin1String("backup")) {
                last.backup = true;
                continue;
            }
            bool ok = false;
            const int value = token.section(u'=', 1).toInt(&ok);
            if (!ok || value < (token.startsWith(u'w') ? 1 : 0) || value > 1000)
                return error(QStringLiteral("members"), QStringLiteral("bad \"%1\"").arg(token));
            (token.startsWith(u'w') ? last.weight : last.maxConns) = value;
            continue;
        }
        MemberSpec member;
        QString why;
        if (!Upstream::MemberAddress::parse(token, &member.address, &why))
            return error(QStringLiteral("members"), why);
        member.maxConns = maxConns;
        s->members.append(member);
    }
    if (s->members.isEmpty())
        return error(QStringLiteral("members"), QStringLiteral("no member given"));
    if (s->members.size() > 64)
        return error(QStringLiteral("members"), QStringLiteral("at most 64 members"));
    s->keepalive = int(config.getInt(section, QStringLiteral("keepalive")));
    s->keepaliveTimeout = config.getDuration(section, QStringLiteral("keepalive_timeout"));
    s->connectTimeout = config.getDuration(section, QStringLiteral("connect_timeout"));
    s->responseTimeout =
        config.isSet(section, QStringLiteral("response_timeout"))
            ? config.getDuration(section, QStringLiteral("response_timeout"))
            : config.getDuration(QStringLiteral("limits"), QStringLiteral("response_timeout"));
    s->readTimeout = config.getDuration(section, QStringLiteral("read_timeout"));
    s->queueTimeout = config.getDuration(section, QStringLiteral("queue_timeout"));
    s->retries = int(config.getInt(section, QStringLiteral("retries")));
    s->maxFails = int(config.getInt(section, QStringLiteral("max_fails")));
    s->failTimeout = config.getDuration(section, QStringLiteral("fail_timeout"));
    s->ssl = config.getBool(section, QStringLiteral("ssl"));
    s->sslVerify = config.getBool(section, QStringLiteral("ssl_verify"));
    s->sslCa = config.getPath(section, QStringLiteral("ssl_ca"));
    s->sslCert = config.getPath(section, QStringLiteral("ssl_cert"));
    s->sslKey = config.getPath(section, QStringLiteral("ssl_key"));
    s->sslName = config.getString(section, QStringLiteral("ssl_name"));
    s->host = config.getString(section, QStringLiteral("host"));
    if (s->host.isEmpty())
        s->host = QStringLiteral("pass");
    s->stripPrefix = config.getBool(section, QStringLiteral("strip_prefix"));
    s->via = config.getBool(section, QStringLiteral("via"));
    s->healthCheck = config.getString(section, QStringLiteral("health_check")).trimmed();
    if (!s->healthCheck.isEmpty() && !s->healthCheck.startsWith(u'/'))
        return error(QStringLiteral("health_check"),
                     QStringLiteral("must be a path starting with /"));
    s->healthInterval = config.getDuration(section, QStringLiteral("health_interval"));
    s->resolveInterval = config.getDuration(section, QStringLiteral("resolve_interval"));
    s->healthTimeout = config.getDuration(section, QStringLiteral("health_timeout"));
    if (s->healthInterval.count() <= 0)
        return error(QStringLiteral("health_interval"), QStringLiteral("must be above 0"));
    const QString status = config.getString(section, QStringLiteral("health_status"));
    const QStringList bounds = status.split(u'-');
    bool okMin = false;
    bool okMax = false;
    s->healthStatusMin = bounds.value(0).trimmed().toInt(&okMin);
    s->healthStatusMax =
        bounds.size() > 1 ? bounds.value(1).trimmed().toInt(&okMax) : s->healthStatusMin;
    if (bounds.size() == 1)
        okMax = okMin;
    if (!okMin || !okMax || bounds.size() > 2 || s->healthStatusMin < 100 ||
        s->healthStatusMax > 599 || s->healthStatusMin > s->healthStatusMax)
        return error(
            QStringLiteral("health_status"),
            QStringLiteral("\"%1\": expected a status or a range like 200-399").arg(status));
    s->cache = !config.getString(section, QStringLiteral("cache")).trimmed().isEmpty();
    if (s->cache) {
        s->cacheTtl = config.getDuration(section, QStringLiteral("cache"));
        s->cacheMemory = config.getSize(section, QStringLiteral("cache_memory"));
        s->cacheMaxEntry = config.getSize(section, QStringLiteral("cache_max_entry"));
        s->cacheLockTimeout = config.getDuration(section, QStringLiteral("cache_lock_timeout"));
        s->cacheDir = config.getPath(section, QStringLiteral("cache_dir"));
        s->cacheDisk = config.getSize(section, QStringLiteral("cache_disk"));
        if (s->cacheMemory < 64 * 1024) {
            config.addDiagnostic({Diagnostic::Severity::Error,
                                  config.location(section, QStringLiteral("cache_memory")),
                                  QStringLiteral("[%1] cache_memory: at least 64K").arg(section)});
            return false;
        }
        // A record must fit in half the ring (see ResponseStore).
        s->cacheMaxEntry = qBound<qint64>(0, s->cacheMaxEntry, s->cacheMemory / 2 - 4096);
    }
    s->rise = int(config.getInt(section, QStringLiteral("rise")));
    s->fall = int(config.getInt(section, QStringLiteral("fall")));
    return true;
}

QString GroupSettings::healthStatName(int member) const
{
    QString stat = QStringLiteral("hc:%1:%2").arg(name, members[member].address.text());
    if (stat.toUtf8().size() > 47)
        stat = QStringLiteral("hc:%1:#%2").arg(name).arg(member);
    return stat;
}

QString GroupSettings::drainStatName(int member) const
{
    QString stat = QStringLiteral("dr:%1:%2").arg(name, members[member].address.text());
    if (stat.toUtf8().size() > 47)
        stat = QStringLiteral("dr:%1:#%2").arg(name).arg(member);
    return stat;
}

QString GroupSettings::memberStatPrefix(int member) const
{
    // Stat names are short (shared memory): 47 bytes with the longest suffix ("latency_us").
    QString prefix = QStringLiteral("gw:%1:%2:").arg(name, members[member].address.text());
    if (prefix.toUtf8().size() + 10 > 47)
        prefix = QStringLiteral("gw:%1:#%2:").arg(name).arg(member);
    return prefix;
}

} // namespace Berth::Gateway
