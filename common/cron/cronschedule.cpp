#include "cronschedule.h"

#include <QList>

#include <array>

namespace Berth::Cron {

using namespace Qt::StringLiterals;

namespace {

constexpr qint64 Day = 86'400;
constexpr qint64 JulianDayOfEpoch = 2'440'588;

struct FieldSpec
{
    Schedule::Field field;
    QString name;
    int minimum;
    int maximum;
    QList<QString> names; // names[i] names the value firstNamed + i
    int firstNamed;       // the value of names[0]
};

const FieldSpec &spec(Schedule::Field field)
{
    static const std::array<FieldSpec, 6> specs{{
        {Schedule::Field::Second, u"second"_s, 0, 59, {}, 0},
        {Schedule::Field::Minute, u"minute"_s, 0, 59, {}, 0},
        {Schedule::Field::Hour, u"hour"_s, 0, 23, {}, 0},
        {Schedule::Field::DayOfMonth, u"day of month"_s, 1, 31, {}, 0},
        {Schedule::Field::Month,
         u"month"_s,
         1,
         12,
         {u"jan"_s, u"feb"_s, u"mar"_s, u"apr"_s, u"may"_s, u"jun"_s, u"jul"_s, u"aug"_s, u"sep"_s,
          u"oct"_s, u"nov"_s, u"dec"_s},
         1},
        // 7 is Sunday too, as in every cron since Vixie's.
        {Schedule::Field::DayOfWeek,
         u"day of week"_s,
         0,
         7,
         {u"sun"_s, u"mon"_s, u"tue"_s, u"wed"_s, u"thu"_s, u"fri"_s, u"sat"_s},
         0},
    }};
    return specs[size_t(field)];
}

bool fail(ParseError *error, const FieldSpec &field, int column, const QString &why)
{
    if (error) {
        error->field = field.name;
        error->column = column;
        error->message = field.name + u": "_s + why;
    }
    return false;
}

// A number or (for months and weekdays) a three-letter name.
std::optional<int> parseValue(QStringView text, const FieldSpec &field)
{
    if (text.isEmpty() || text.size() > 9)
        return std::nullopt;
    bool digits = true;
    for (QChar c : text)
        digits = digits && c >= u'0' && c <= u'9';
    if (digits)
        return text.toInt();
    for (qsizetype i = 0; i < field.names.size(); ++i) {
        if (text.compare(field.names[i], Qt::CaseInsensitive) == 0)
            return field.firstNamed + int(i);
    }
    return std::nullopt;
}

// One field: comma-separated elements, each `*`, `*/S`, `A`, `A-B`, `A-B/S` or `A/S` (A to the
// field's maximum, as Skitai's examples and cronie accept). Sets bits[v] for every v matched.
bool parseField(QStringView text, const FieldSpec &field, int column, std::bitset<64> *bits,
                bool *star, ParseError *error)
{
    *star = text.startsWith(u'*');
    qsizetype start = 0;
    while (start <= text.size()) {
        qsizetype end = text.indexOf(u',', start);
        if (end < 0)
            end = text.size();
        const QStringView element = text.mid(start, end - start);
        const int at = column + int(start);
        if (element.isEmpty())
            return fail(error, field, at, u"empty list element"_s);
        QStringView range = element;
        int step = 1;
        const qsizetype slash = element.indexOf(u'/');
        if (slash >= 0) {
            range = element.first(slash);
            const QStringView stepText = element.mid(slash + 1);
            bool ok = false;
            step = stepText.size() <= 4 ? stepText.toInt(&ok) : 0;
            if (!ok || step < 1 || !stepText.front().isDigit())
                return fail(error, field, at + int(slash) + 1,
                            u"step '%1' is not a positive number"_s.arg(stepText));
        }
        int low = field.minimum;
        int high = field.maximum;
        if (range == u"*") {
            if (field.field == Schedule::Field::DayOfWeek)
                high = 6;
        } else {
            const qsizetype dash = range.indexOf(u'-');
            const QStringView lowText = dash >= 0 ? range.first(dash) : range;
            const std::optional<int> first = parseValue(lowText, field);
            if (!first)
                return fail(error, field, at,
                            u"'%1' is not a %2"_s.arg(lowText).arg(
                                field.names.isEmpty() ? u"number"_s : u"number or name"_s));
            low = *first;
            high = slash >= 0 ? field.maximum : low;
            if (dash >= 0) {
                const QStringView highText = range.mid(dash + 1);
                const std::optional<int> last = parseValue(highText, field);
                if (!last)
                    return fail(error, field, at + int(dash) + 1,
                                u"'%1' is not a %2"_s.arg(highText).arg(
                                    field.names.isEmpty() ? u"number"_s : u"number or name"_s));
                high = *last;
            }
            if (low < field.minimum || low > field.maximum || high < field.minimum ||
                high > field.maximum)
                return fail(
                    error, field, at,
                    u"%1 is out of range %2-%3"_s.arg(range).arg(field.minimum).arg(field.maximum));
            if (low > high)
                return fail(error, field, at, u"range %1 runs backwards"_s.arg(range.toString()));
        }
        for (int v = low; v <= high; v += step)
            bits->set(size_t(v));
        start = end + 1;
    }
    if (field.field == Schedule::Field::DayOfWeek && bits->test(7))
        bits->set(0);
    return true;
}

template <size_t N> std::bitset<N> narrow(const std::bitset<64> &bits)
{
    std::bitset<N> out;
    for (size_t i = 0; i < N; ++i)
        out[i] = bits[i];
    return out;
}

qint64 floorDiv(qint64 a, qint64 b)
{
    return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

int offsetAt(const QTimeZone &zone, qint64 instant)
{
    return zone.offsetFromUtc(QDateTime::fromSecsSinceEpoch(instant, Qt::UTC));
}

// The instants a wall-clock time names in zone: none (a DST gap; gapEnd is then the first
// instant after the jump), one, or two (a repeated hour), ascending.
struct Resolved
{
    int count = 0;
    qint64 instants[2] = {0, 0};
    qint64 gapEnd = 0;
};

// The first instant in (low, high] whose offset differs from low's (there is one).
qint64 transitionBetween(const QTimeZone &zone, qint64 low, qint64 high)
{
    const int before = offsetAt(zone, low);
    while (high - low > 1) {
        const qint64 middle = low + (high - low) / 2;
        if (offsetAt(zone, middle) == before)
            low = middle;
        else
            high = middle;
    }
    return high;
}

Resolved resolve(const QTimeZone &zone, qint64 wall)
{
    Resolved r;
    // Assumes at most one transition within a day of the time, as in every real zone.
    const int before = offsetAt(zone, wall - Day);
    const int after = offsetAt(zone, wall + Day);
    for (int offset : {before, after}) {
        const qint64 instant = wall - offset;
        if (offsetAt(zone, instant) != offset)
            continue;
        if (r.count == 1 && r.instants[0] == instant)
            continue;
        r.instants[r.count++] = instant;
    }
    if (r.count == 2 && r.instants[0] > r.instants[1])
        std::swap(r.instants[0], r.instants[1]);
    if (r.count == 0)
        r.gapEnd = transitionBetween(zone, wall - before - Day, wall - before);
    return r;
}

qint64 wallClock(const QTimeZone &zone, qint64 instant)
{
    return instant + offsetAt(zone, instant);
}

} // namespace

std::optional<Schedule> Schedule::parse(QStringView fields, bool withSeconds, ParseError *error,
                                        int columnOffset)
{
    static const Field Order[] = {Field::Second,     Field::Minute, Field::Hour,
                                  Field::DayOfMonth, Field::Month,  Field::DayOfWeek};
    Schedule schedule;
    schedule.m_seconds.set(0);
    qsizetype at = 0;
    for (size_t i = withSeconds ? 0 : 1; i < std::size(Order); ++i) {
        const FieldSpec &field = spec(Order[i]);
        while (at < fields.size() && fields[at].isSpace())
            ++at;
        qsizetype end = at;
        while (end < fields.size() && !fields[end].isSpace())
            ++end;
        const int column = columnOffset + int(at) + 1;
        if (end == at) {
            fail(error, field, column, u"missing"_s);
            return std::nullopt;
        }
        std::bitset<64> bits;
        bool star = false;
        if (!parseField(fields.mid(at, end - at), field, column, &bits, &star, error))
            return std::nullopt;
        switch (field.field) {
        case Field::Second:
            schedule.m_seconds = narrow<60>(bits);
            break;
        case Field::Minute:
            schedule.m_minutes = narrow<60>(bits);
            schedule.m_minuteStar = star;
            break;
        case Field::Hour:
            schedule.m_hours = narrow<24>(bits);
            schedule.m_hourStar = star;
            break;
        case Field::DayOfMonth:
            schedule.m_days = narrow<32>(bits);
            schedule.m_dayStar = star;
            break;
        case Field::Month:
            schedule.m_months = narrow<13>(bits);
            break;
        case Field::DayOfWeek:
            schedule.m_weekdays = narrow<7>(bits);
            schedule.m_weekdayStar = star;
            break;
        }
        at = end;
    }
    while (at < fields.size() && fields[at].isSpace())
        ++at;
    if (at < fields.size()) {
        if (error) {
            error->field = u"schedule"_s;
            error->column = columnOffset + int(at) + 1;
            error->message =
                u"schedule: unexpected '%1' after the day of week"_s.arg(fields.mid(at).toString());
        }
        return std::nullopt;
    }
    return schedule;
}

Schedule Schedule::reboot()
{
    Schedule schedule;
    schedule.m_reboot = true;
    return schedule;
}

bool Schedule::dayMatches(const QDate &date) const
{
    if (!m_months.test(size_t(date.month())))
        return false;
    const bool day = m_days.test(size_t(date.day()));
    const bool weekday = m_weekdays.test(size_t(date.dayOfWeek() % 7));
    // cronie's rule: restricting both days means either will do.
    if (m_dayStar || m_weekdayStar)
        return day && weekday;
    return day || weekday;
}

bool Schedule::matches(int second, int minute, int hour, int day, int month, int dayOfWeek) const
{
    if (m_reboot || second < 0 || second > 59 || minute < 0 || minute > 59 || hour < 0 ||
        hour > 23 || day < 1 || day > 31 || month < 1 || month > 12 || dayOfWeek < 0 ||
        dayOfWeek > 7)
        return false;
    if (!m_seconds.test(size_t(second)) || !m_minutes.test(size_t(minute)) ||
        !m_hours.test(size_t(hour)) || !m_months.test(size_t(month)))
        return false;
    const bool dayOk = m_days.test(size_t(day));
    const bool weekdayOk = m_weekdays.test(size_t(dayOfWeek % 7));
    return (m_dayStar || m_weekdayStar) ? (dayOk && weekdayOk) : (dayOk || weekdayOk);
}

qint64 Schedule::nextWallClock(qint64 after, qint64 limit) const
{
    const qint64 t = after + 1;
    qint64 dayNumber = floorDiv(t, Day);
    qint64 secondOfDay = t - dayNumber * Day;
    for (; dayNumber * Day <= limit; ++dayNumber, secondOfDay = 0) {
        if (!dayMatches(QDate::fromJulianDay(JulianDayOfEpoch + dayNumber)))
            continue;
        int h = int(secondOfDay / 3600);
        int m = int(secondOfDay / 60 % 60);
        int s = int(secondOfDay % 60);
        for (; h < 24; ++h, m = 0, s = 0) {
            if (!m_hours.test(size_t(h)))
                continue;
            for (; m < 60; ++m, s = 0) {
                if (!m_minutes.test(size_t(m)))
                    continue;
                for (; s < 60; ++s) {
                    if (m_seconds.test(size_t(s)))
                        return dayNumber * Day + h * 3600 + m * 60 + s;
                }
            }
        }
    }
    return -1;
}

qint64 Schedule::scan(qint64 cursor, qint64 after, qint64 wallLimit, const QTimeZone &zone) const
{
    for (;;) {
        cursor = nextWallClock(cursor, wallLimit);
        if (cursor < 0)
            return -1;
        const Resolved r = resolve(zone, cursor);
        if (r.count == 0) {
            // In a skipped hour: a fixed-time job runs once, right after the jump.
            if (!isWildcard() && r.gapEnd > after)
                return r.gapEnd;
            continue;
        }
        if (r.instants[0] > after)
            return r.instants[0];
        // The second pass of a repeated hour belongs to wildcard jobs only.
        if (r.count == 2 && isWildcard() && r.instants[1] > after)
            return r.instants[1];
    }
}

QDateTime Schedule::next(const QDateTime &after, const QTimeZone &zone) const
{
    if (m_reboot || !after.isValid() || !zone.isValid())
        return {};
    const qint64 now = floorDiv(after.toMSecsSinceEpoch(), 1000);
    const qint64 wallNow = wallClock(zone, now);
    qint64 best = scan(wallNow, now, wallNow + 28 * 366 * Day, zone);
    // In the first pass of a repeated hour, a wildcard job's next time may be in the second
    // pass, at a wall-clock time earlier than now's.
    const Resolved here = resolve(zone, wallNow);
    if (isWildcard() && here.count == 2 && here.instants[0] == now) {
        const qint64 jump = transitionBetween(zone, here.instants[0], here.instants[1]);
        const qint64 repeatStart = wallClock(zone, jump);
        const qint64 again = scan(repeatStart - 1, now, wallNow, zone);
        if (again >= 0 && (best < 0 || again < best))
            best = again;
    }
    if (best < 0)
        return {};
    return QDateTime::fromSecsSinceEpoch(best, zone);
}

QList<QDateTime> Schedule::nextTimes(const QDateTime &after, const QTimeZone &zone, int count) const
{
    QList<QDateTime> times;
    QDateTime at = after;
    for (int i = 0; i < count; ++i) {
        at = next(at, zone);
        if (!at.isValid())
            break;
        times.append(at);
    }
    return times;
}

} // namespace Berth::Cron
