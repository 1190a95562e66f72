#include "httpdate.h"

#include <algorithm>
#include <array>
#include <ctime>

namespace Berth::Http {

namespace {

constexpr std::array<const char *, 7> shortDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char *, 7> longDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                  "Thursday", "Friday", "Saturday"};
constexpr std::array<const char *, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

constexpr qint64 secondsPerDay = 86400;
// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years IMF-fixdate's four digits can hold.
constexpr qint64 minSeconds = -62167219200LL;
constexpr qint64 maxSeconds = 253402300799LL;
constexpr int imfFixdateLength = 29;
constexpr int asctimeLength = 24;

// Howard Hinnant's days_from_civil / civil_from_days: exact proleptic Gregorian arithmetic with
// no tables, no locale and no time zone database (gmtime_r would be correct too, but takes a
// lock on some libcs and cannot be constexpr).
constexpr qint64 daysFromCivil(qint64 year, unsigned month, unsigned day)
{
    year -= month <= 2;
    const qint64 era = (year >= 0 ? year : year - 399) / 400;
    const auto yearOfEra = static_cast<unsigned>(year - era * 400);
    const unsigned dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const unsigned dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
    return era * 146097 + static_cast<qint64>(dayOfEra) - 719468;
}

struct Civil
{
    qint64 year;
    unsigned month;
    unsigned day;
};

constexpr Civil civilFromDays(qint64 days)
{
    days += 719468;
    const qint64 era = (days >= 0 ? days : days - 146096) / 146097;
    const auto dayOfEra = static_cast<unsigned>(days - era * 146097);
    const unsigned yearOfEra =
        (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365;
    const unsigned dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100);
    const unsigned mp = (5 * dayOfYear + 2) / 153;
    const unsigned day = dayOfYear - (153 * mp + 2) / 5 + 1;
    const unsigned month = mp < 10 ? mp + 3 : mp - 9;
    return {static_cast<qint64>(yearOfEra) + era * 400 + (month <= 2), month, day};
}

static_assert(daysFromCivil(1970, 1, 1) == 0);
static_assert(civilFromDays(9079).year == 1994 && civilFromDays(9079).month == 11);

constexpr bool isLeapYear(qint64 year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

constexpr unsigned daysInMonth(qint64 year, unsigned month)
{
    constexpr unsigned lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && isLeapYear(year) ? 29 : lengths[month - 1];
}

// Writes the 29 bytes of an IMF-fixdate into out.
void formatInto(qint64 seconds, char *out)
{
    seconds = std::clamp(seconds, minSeconds, maxSeconds);
    qint64 days = seconds / secondsPerDay;
    qint64 secondOfDay = seconds % secondsPerDay;
    if (secondOfDay < 0) {
        secondOfDay += secondsPerDay;
        --days;
    }
    const Civil civil = civilFromDays(days);
    const int weekday = static_cast<int>(((days % 7) + 11) % 7); // 1970-01-01 was a Thursday (4)

    auto put2 = [](char *p, unsigned value) {
        p[0] = char('0' + value / 10);
        p[1] = char('0' + value % 10);
    };
    const char *dayName = shortDays[weekday];
    const char *monthName = months[civil.month - 1];
    const auto year = static_cast<unsigned>(civil.year);
    const auto hour = static_cast<unsigned>(secondOfDay / 3600);
    const auto minute = static_cast<unsigned>(secondOfDay / 60 % 60);
    const auto second = static_cast<unsigned>(secondOfDay % 60);

    out[0] = dayName[0];
    out[1] = dayName[1];
    out[2] = dayName[2];
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, civil.day);
    out[7] = ' ';
    out[8] = monthName[0];
    out[9] = monthName[1];
    out[10] = monthName[2];
    out[11] = ' ';
    put2(out + 12, year / 100);
    put2(out + 14, year % 100);
    out[16] = ' ';
    put2(out + 17, hour);
    out[19] = ':';
    put2(out + 20, minute);
    out[22] = ':';
    put2(out + 23, second);
    out[25] = ' ';
    out[26] = 'G';
    out[27] = 'M';
    out[28] = 'T';
}

// --- parsing: a tiny cursor over the field value; every helper fails closed ---

class Cursor
{
public:
    explicit Cursor(QByteArrayView text)
        : m_text(text)
    {}

    bool atEnd() const { return m_pos == m_text.size(); }

    bool literal(QByteArrayView expected)
    {
        if (m_text.sliced(m_pos).startsWith(expected)) {
            m_pos += expected.size();
            return true;
        }
        return false;
    }

    // Exactly `count` ASCII digits.
    bool digits(int count, int &value)
    {
        if (m_text.size() - m_pos < count)
            return false;
        value = 0;
        for (int i = 0; i < count; ++i) {
            const char c = m_text[m_pos + i];
            if (c < '0' || c > '9')
                return false;
            value = value * 10 + (c - '0');
        }
        m_pos += count;
        return true;
    }

    // One of the names (case-sensitive, as RFC 9110's %s"..." grammar says); its index or -1.
    template <std::size_t N> int oneOf(const std::array<const char *, N> &names)
    {
        for (std::size_t i = 0; i < N; ++i) {
            if (literal(QByteArrayView(names[i])))
                return static_cast<int>(i);
        }
        return -1;
    }

    // time-of-day = hour ":" minute ":" second
    bool timeOfDay(int &hour, int &minute, int &second)
    {
        return digits(2, hour) && literal(":") && digits(2, minute) && literal(":") &&
               digits(2, second);
    }

private:
    QByteArrayView m_text;
    qsizetype m_pos = 0;
};

std::optional<qint64> toSeconds(qint64 year, int month, int day, int hour, int minute, int second)
{
    if (month < 1 || month > 12 || day < 1 || day > int(daysInMonth(year, unsigned(month))))
        return std::nullopt;
    // 60 is a leap second (RFC 5322 allows it); it simply rolls into the next minute.
    if (hour > 23 || minute > 59 || second > 60)
        return std::nullopt;
    return daysFromCivil(year, unsigned(month), unsigned(day)) * secondsPerDay + hour * 3600 +
           minute * 60 + second;
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<qint64> parseImfFixdate(QByteArrayView text)
{
    Cursor c(text);
    int day, month, year, hour, minute, second;
    if (c.oneOf(shortDays) < 0 || !c.literal(", ") || !c.digits(2, day) || !c.literal(" "))
        return std::nullopt;
    if ((month = c.oneOf(months)) < 0 || !c.literal(" ") || !c.digits(4, year) || !c.literal(" ") ||
        !c.timeOfDay(hour, minute, second) || !c.literal(" GMT") || !c.atEnd())
        return std::nullopt;
    return toSeconds(year, month + 1, day, hour, minute, second);
}

// "Sunday, 06-Nov-94 08:49:37 GMT"
std::optional<qint64> parseRfc850(QByteArrayView text)
{
    Cursor c(text);
    int day, month, year, hour, minute, second;
    if (c.oneOf(longDays) < 0 || !c.literal(", ") || !c.digits(2, day) || !c.literal("-"))
        return std::nullopt;
    if ((month = c.oneOf(months)) < 0 || !c.literal("-") || !c.digits(2, year) || !c.literal(" ") ||
        !c.timeOfDay(hour, minute, second) || !c.literal(" GMT") || !c.atEnd())
        return std::nullopt;
    // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future means the most recent
    // past year with the same last two digits.
    const qint64 currentYear = civilFromDays(DateCache::currentSeconds() / secondsPerDay).year;
    qint64 fullYear = currentYear - currentYear % 100 + year;
    if (fullYear > currentYear + 50)
        fullYear -= 100;
    return toSeconds(fullYear, month + 1, day, hour, minute, second);
}

// "Sun Nov  6 08:49:37 1994" (day of month space-padded)
std::optional<qint64> parseAsctime(QByteArrayView text)
{
    Cursor c(text);
    int day, month, year, hour, minute, second;
    if (c.oneOf(shortDays) < 0 || !c.literal(" ") || (month = c.oneOf(months)) < 0 ||
        !c.literal(" "))
        return std::nullopt;
    if (!(c.literal(" ") ? c.digits(1, day) : c.digits(2, day)) || !c.literal(" ") ||
        !c.timeOfDay(hour, minute, second) || !c.literal(" ") || !c.digits(4, year) || !c.atEnd())
        return std::nullopt;
    return toSeconds(year, month + 1, day, hour, minute, second);
}

} // namespace

QByteArray formatHttpDate(qint64 secondsSinceEpoch)
{
    QByteArray out(imfFixdateLength, Qt::Uninitialized);
    formatInto(secondsSinceEpoch, out.data());
    return out;
}

std::optional<qint64> parseHttpDate(QByteArrayView text)
{
    text = text.trimmed();
    if (text.size() == imfFixdateLength && text[3] == ',')
        return parseImfFixdate(text);
    if (text.size() == asctimeLength && text[3] == ' ')
        return parseAsctime(text);
    if (text.size() < 64)
        return parseRfc850(text);
    return std::nullopt;
}

void DateCache::refill(qint64 secondsSinceEpoch)
{
    static_assert(TextSize == imfFixdateLength);
    formatInto(secondsSinceEpoch, s_cache.text);
    s_cache.seconds = secondsSinceEpoch;
}

} // namespace Berth::Http
