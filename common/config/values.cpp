// The stand-alone value parsers behind Config's typed getters (declared in config.h).
// Each one accepts surrounding whitespace and nothing else that is ambiguous: a value that
// is not clearly of its type is rejected so the user sees an error rather than a guess.
#include "config.h"

#include <QDir>

#include <cmath>
#include <limits>

#ifdef Q_OS_UNIX
#include <pwd.h>
#include <unistd.h>
#endif

namespace Berth::Config::Values {

namespace {

bool isDigit(QChar c)
{
    return c >= u'0' && c <= u'9';
}

// Accumulates a run of decimal digits starting at pos into value; false on overflow or when
// there is no digit at pos.
bool readUnsigned(const QString &text, qsizetype &pos, quint64 &value)
{
    const qsizetype start = pos;
    value = 0;
    while (pos < text.size() && isDigit(text.at(pos))) {
        const quint64 digit = quint64(text.at(pos).unicode() - u'0');
        if (value > (std::numeric_limits<quint64>::max() - digit) / 10)
            return false;
        value = value * 10 + digit;
        ++pos;
    }
    return pos > start;
}

// [0-9]+(\.[0-9]+)? as a double; pos is advanced past it.
std::optional<double> readDecimal(const QString &text, qsizetype &pos)
{
    const qsizetype start = pos;
    while (pos < text.size() && isDigit(text.at(pos)))
        ++pos;
    if (pos == start)
        return std::nullopt;
    if (pos < text.size() && text.at(pos) == u'.') {
        const qsizetype fractionStart = ++pos;
        while (pos < text.size() && isDigit(text.at(pos)))
            ++pos;
        if (pos == fractionStart)
            return std::nullopt;
    }
    bool ok = false;
    const double value = QStringView(text).mid(start, pos - start).toDouble(&ok);
    if (!ok || !std::isfinite(value))
        return std::nullopt;
    return value;
}

} // namespace

std::optional<qint64> parseInt(const QString &text)
{
    const QString t = text.trimmed();
    qsizetype pos = 0;
    bool negative = false;
    if (pos < t.size() && (t.at(pos) == u'+' || t.at(pos) == u'-')) {
        negative = t.at(pos) == u'-';
        ++pos;
    }
    quint64 magnitude = 0;
    if (!readUnsigned(t, pos, magnitude) || pos != t.size())
        return std::nullopt;
    const quint64 limit = quint64(std::numeric_limits<qint64>::max());
    if (negative) {
        if (magnitude > limit + 1)
            return std::nullopt;
        return magnitude == limit + 1 ? std::numeric_limits<qint64>::min() : -qint64(magnitude);
    }
    if (magnitude > limit)
        return std::nullopt;
    return qint64(magnitude);
}

std::optional<int> parseMode(const QString &text)
{
    const QString t = text.trimmed();
    if (t.isEmpty() || t.size() > 4)
        return std::nullopt;
    int mode = 0;
    for (const QChar c : t) {
        if (c < u'0' || c > u'7')
            return std::nullopt;
        mode = mode * 8 + (c.unicode() - u'0');
    }
    if (mode > 0777)
        return std::nullopt;
    return mode;
}

std::optional<double> parseFloat(const QString &text)
{
    // Plain decimal notation with an optional exponent: no "inf", "nan", hex or group separators.
    const QString t = text.trimmed();
    qsizetype pos = 0;
    if (pos < t.size() && (t.at(pos) == u'+' || t.at(pos) == u'-'))
        ++pos;
    qsizetype digits = 0;
    while (pos < t.size() && isDigit(t.at(pos))) {
        ++pos;
        ++digits;
    }
    if (pos < t.size() && t.at(pos) == u'.') {
        ++pos;
        while (pos < t.size() && isDigit(t.at(pos))) {
            ++pos;
            ++digits;
        }
    }
    if (digits == 0)
        return std::nullopt;
    if (pos < t.size() && (t.at(pos) == u'e' || t.at(pos) == u'E')) {
        ++pos;
        if (pos < t.size() && (t.at(pos) == u'+' || t.at(pos) == u'-'))
            ++pos;
        const qsizetype exponentStart = pos;
        while (pos < t.size() && isDigit(t.at(pos)))
            ++pos;
        if (pos == exponentStart)
            return std::nullopt;
    }
    if (pos != t.size())
        return std::nullopt;
    bool ok = false;
    const double value = t.toDouble(&ok);
    if (!ok || !std::isfinite(value))
        return std::nullopt;
    return value;
}

std::optional<bool> parseBool(const QString &text)
{
    const QString t = text.trimmed().toLower();
    if (Config::trueValues().contains(t))
        return true;
    if (Config::falseValues().contains(t))
        return false;
    return std::nullopt;
}

std::optional<qint64> parseSize(const QString &text)
{
    const QString t = text.trimmed();
    qsizetype pos = 0;
    quint64 number = 0;
    if (!readUnsigned(t, pos, number))
        return std::nullopt;
    while (pos < t.size() && t.at(pos).isSpace())
        ++pos;
    quint64 multiplier = 1;
    if (pos < t.size()) {
        switch (t.at(pos).toLower().unicode()) {
        case u'k':
            multiplier = quint64(1) << 10;
            ++pos;
            break;
        case u'm':
            multiplier = quint64(1) << 20;
            ++pos;
            break;
        case u'g':
            multiplier = quint64(1) << 30;
            ++pos;
            break;
        case u't':
            multiplier = quint64(1) << 40;
            ++pos;
            break;
        default:
            break;
        }
    }
    if (pos < t.size() && t.at(pos).toLower() == u'b')
        ++pos;
    if (pos != t.size())
        return std::nullopt;
    const quint64 limit = quint64(std::numeric_limits<qint64>::max());
    if (number > limit / multiplier)
        return std::nullopt;
    return qint64(number * multiplier);
}

std::optional<std::chrono::milliseconds> parseDuration(const QString &text)
{
    const QString t = text.trimmed().toLower();
    if (t.isEmpty())
        return std::nullopt;
    // Far beyond any useful timeout, and small enough that the sum cannot overflow qint64.
    constexpr double maxMilliseconds = 1e15;
    double total = 0;
    qsizetype pos = 0;
    bool first = true;
    while (pos < t.size()) {
        if (!first) {
            while (pos < t.size() && t.at(pos).isSpace())
                ++pos;
            if (pos == t.size())
                break;
        }
        const std::optional<double> number = readDecimal(t, pos);
        if (!number)
            return std::nullopt;
        while (pos < t.size() && t.at(pos).isSpace())
            ++pos;
        double unit = 0;
        if (t.mid(pos, 2) == QLatin1String("ms")) {
            unit = 1;
            pos += 2;
        } else if (pos < t.size()) {
            switch (t.at(pos).unicode()) {
            case u's':
                unit = 1000;
                break;
            case u'm':
                unit = 60.0 * 1000;
                break;
            case u'h':
                unit = 3600.0 * 1000;
                break;
            case u'd':
                unit = 86400.0 * 1000;
                break;
            default:
                return std::nullopt;
            }
            ++pos;
        } else if (first) {
            unit = 1000; // a bare number is seconds
        } else {
            return std::nullopt; // "1h30" is ambiguous
        }
        total += *number * unit;
        if (total > maxMilliseconds)
            return std::nullopt;
        first = false;
    }
    return std::chrono::milliseconds(qint64(std::llround(total)));
}

QStringList parseList(const QString &text)
{
    QStringList items;
    QString current;
    bool inQuotes = false;
    for (const QChar c : text) {
        if (c == u'"') {
            inQuotes = !inQuotes;
        } else if (!inQuotes && (c.isSpace() || c == u',')) {
            if (!current.isEmpty())
                items.append(current);
            current.clear();
        } else {
            current.append(c);
        }
    }
    if (!current.isEmpty())
        items.append(current);
    return items;
}

QString expandUser(const QString &path)
{
    if (!path.startsWith(u'~'))
        return path;
    const qsizetype slash = path.indexOf(u'/');
    const QString user = path.mid(1, slash < 0 ? -1 : slash - 1);
    const QString rest = slash < 0 ? QString() : path.mid(slash);
    if (user.isEmpty())
        return QDir::homePath() + rest;
#ifdef Q_OS_UNIX
    const QByteArray name = user.toLocal8Bit();
    long bufferSize = sysconf(_SC_GETPW_R_SIZE_MAX);
    if (bufferSize <= 0)
        bufferSize = 16384;
    QByteArray buffer(bufferSize, Qt::Uninitialized);
    passwd entry{};
    passwd *result = nullptr;
    if (getpwnam_r(name.constData(), &entry, buffer.data(), size_t(buffer.size()), &result) == 0 &&
        result && result->pw_dir)
        return QString::fromLocal8Bit(result->pw_dir) + rest;
#endif
    return path; // like Python's expanduser: an unknown user leaves the path alone
}

} // namespace Berth::Config::Values
