#pragma once

#include <QList>
#include <QString>
#include <QStringList>

namespace Berth::Config {
class Config;
}

namespace Berth::Log {

// The files Logging::setup opens in [server] log_dir.
inline constexpr char ServerLogFile[] = "server.log";
inline constexpr char RequestLogFile[] = "request.log";
inline constexpr char AppLogFile[] = "app.log";
inline constexpr char CefLogFile[] = "cef.log";
// The admin API's audit trail ([admin], docs/admin-api.md).
inline constexpr char AdminAuditLogFile[] = "admin-audit.log";

// One log the server writes in log_dir, by the name `berthd log -s NAME` knows it by.
struct LogFile
{
    QString name; // "server", "request", "app", "cef", "cron", "smtpda", "admin-audit"
    QString file; // "server.log"; for the services' logs what their section's `log` says
};

// The names of logFiles(), in its order, without a configuration: for help texts.
QStringList logNames();

// Every log the server writes, in this order: the four of Logging and the logs of the services
// that keep their own ([cron] log, [mailer] log). The one list `berthd log` and the docs take
// the names from; a new log is added here.
QList<LogFile> logFiles(const Config::Config &config);

} // namespace Berth::Log
