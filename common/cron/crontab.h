#pragma once

#include "cronschedule.h"

#include <config/diagnostic.h>

#include <QList>
#include <QString>
#include <QTimeZone>

#include <optional>

namespace Berth::Config {
class Config;
}

namespace Berth::Cron {

// One [crontab:line] line: when (five fields or an @word) and what (the rest, run by /bin/sh -c).
struct Job
{
    QString file; // where the line was read, as the configuration names it
    int line = 0;
    QString schedule; // as written: "*/2 * * * *", "@daily"
    QString command;  // the rest of the line, verbatim (redirections and all)
    Schedule when;

    // "FILE:LINE", as `berthd cron list` prints it and `berthd cron run` takes it.
    QString id() const { return file + QLatin1Char(':') + QString::number(line); }
};

struct LineOptions
{
    // Test schedules (only with BERTH_TEST_APPS=1): `@seconds S M H DOM MON DOW command`, a
    // seconds field in front of the five, so tests need not wait for minutes.
    bool allowSeconds = false;
};

// Parses one crontab line. @reboot, @yearly/@annually, @monthly, @weekly, @daily/@midnight and
// @hourly stand for their usual schedules. On failure error names the field and its column.
std::optional<Job> parseLine(const QString &text, const LineOptions &options, ParseError *error);

// Whether the environment enables test schedules (BERTH_TEST_APPS=1).
bool testSchedulesEnabled();

// Now (UTC), the time next runs are listed from: BERTH_TEST_NOW (ISO 8601) when test schedules
// are enabled, so `berthd cron list` and GET /api/v1/cron can be checked against fixed dates.
QDateTime listingTime();

// Every [crontab:line] job of config. Each invalid line is an error diagnostic on config at its
// file:line naming the field and column; it is left out of the list.
QList<Job> jobsFromConfig(const Config::Config &config);

// [cron] timezone, or the system's when empty. An unknown zone is an error diagnostic on config
// (and the system's zone is returned).
QTimeZone zoneFromConfig(const Config::Config &config);

} // namespace Berth::Cron
