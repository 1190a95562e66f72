#include "logfiles.h"

#include <config/config.h>

namespace Berth::Log {

using namespace Qt::StringLiterals;

QList<LogFile> logFiles(const Config::Config &config)
{
    QList<LogFile> files{
        {u"server"_s, QString::fromLatin1(ServerLogFile)},
        {u"request"_s, QString::fromLatin1(RequestLogFile)},
        {u"app"_s, QString::fromLatin1(AppLogFile)},
        {u"cef"_s, QString::fromLatin1(CefLogFile)},
    };
    // The services' own logs: their section names the file (a name in log_dir).
    files.append({u"cron"_s, config.getString(u"cron"_s, u"log"_s)});
    files.append({u"smtpda"_s, config.getString(u"mailer"_s, u"log"_s)});
    files.append({u"admin-audit"_s, QString::fromLatin1(AdminAuditLogFile)});
    return files;
}

} // namespace Berth::Log
