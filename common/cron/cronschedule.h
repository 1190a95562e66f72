#pragma once

#include <QDateTime>
#include <QString>
#include <QStringView>
#include <QTimeZone>

#include <bitset>
#include <optional>

namespace Berth::Cron {

// Where a crontab line is wrong: the field ("minute", "hour", "day of month", "month",
// "day of week", "second", "command", "schedule"), the 1-based column in the line, and why.
struct ParseError
{
    QString field;
    int column = 0;
    QString message; // "minute: 61 is out of range 0-59"
};

// When a cron job runs: the five crontab(5) fields (and, for tests only, a seconds field), or
// @reboot. A value type, cheap to copy, shared by the cron agent, `berthd cron list` and the
// console (no server dependencies).
//
// Matching follows cronie: when both day of month and day of week are restricted (neither field
// starts with '*'), a day matches if either does; otherwise both must. next() follows cronie
// across daylight-saving changes: a fixed-time job (neither minute nor hour starts with '*')
// whose time falls in a skipped hour runs once right after the jump, and runs once (at the first
// occurrence) when its time is repeated; a wildcard job skips the missing times and runs in both
// occurrences of a repeated hour, as its schedule says.
class Schedule
{
public:
    enum class Field { Second, Minute, Hour, DayOfMonth, Month, DayOfWeek };

    // The five space-separated fields ("*/5 9-17 * * mon-fri"), or six with a leading seconds
    // field when withSeconds. columnOffset is added to error columns (the fields' place in
    // their line).
    static std::optional<Schedule> parse(QStringView fields, bool withSeconds, ParseError *error,
                                         int columnOffset = 0);
    static Schedule reboot();

    bool isReboot() const { return m_reboot; }
    // cronie's MIN_STAR|HR_STAR: the job repeats within a day, so DST gaps and repeats are
    // not special for it.
    bool isWildcard() const { return m_minuteStar || m_hourStar; }
    bool matches(int second, int minute, int hour, int day, int month, int dayOfWeek) const;

    // The first time strictly after `after` (second resolution) at which the job runs, in zone;
    // an invalid QDateTime for @reboot or a schedule that never matches (30 February) within
    // 28 years. The result is in zone.
    QDateTime next(const QDateTime &after, const QTimeZone &zone) const;
    // The next `count` times after `after`.
    QList<QDateTime> nextTimes(const QDateTime &after, const QTimeZone &zone, int count) const;

private:
    // Wall-clock seconds (a local date and time read as if it were UTC): the first one strictly
    // after `after` the fields match, or -1.
    qint64 nextWallClock(qint64 after, qint64 limit) const;
    bool dayMatches(const QDate &date) const;
    // Scans wall-clock candidates from `cursor` on; the first whose instant is after `after`.
    qint64 scan(qint64 cursor, qint64 after, qint64 wallLimit, const QTimeZone &zone) const;

    std::bitset<60> m_seconds;
    std::bitset<60> m_minutes;
    std::bitset<24> m_hours;
    std::bitset<32> m_days;    // 1..31
    std::bitset<13> m_months;  // 1..12
    std::bitset<7> m_weekdays; // 0 = Sunday
    bool m_minuteStar = false;
    bool m_hourStar = false;
    bool m_dayStar = false;
    bool m_weekdayStar = false;
    bool m_reboot = false;
};

} // namespace Berth::Cron
