#include "logfiles.h"

#include <config/config.h>

namespace Berth::Log {

using namespace Qt::StringLiterals;

QStringList logNames()
{
    return {u"server"_s, u"request"_s, u"app"_s,        u"cef"_s,
            u"cron"_s,   u"smtpda"_s,  u"admin-audit"_s};
}

QList<LogFile> logFiles(const Config::Config &config)
{
    const QStringList files{
        QString::fromLatin1(ServerLogFile),
        QString::fromLatin1(RequestLogFile),
        QString::fromLatin1(AppLogFile),
        QString::fromLatin1(CefLogFile),
        // The services' own logs: their section names the file (a name in log_dir).
        config.getString(u"cron"_s, u"log"_s),
        config.getString(u"mailer"_s, u"log"_s),
        QString::fromLatin1(AdminAuditLogFile),
    };
    const QStringList names = logNames();
    Q_ASSERT(names.size() == files.size());
    QList<LogFile> out;
    for (qsizetype i = 0; i < names.size(); ++i)
        out.append({names[i], files[i]});
    return out;
}

} // namespace Berth::Log
