#include "crontab.h"

#include <config/config.h>

#include <QDateTime>

#include <algorithm>

namespace Berth::Cron {

using namespace Qt::StringLiterals;

namespace {

const QString Section = u"crontab:line"_s;

struct Special
{
    QString word;
    QString fields;
};

const QList<Special> &specials()
{
    static const QList<Special> list{
        {u"@yearly"_s, u"0 0 1 1 *"_s},  {u"@annually"_s, u"0 0 1 1 *"_s},
        {u"@monthly"_s, u"0 0 1 * *"_s}, {u"@weekly"_s, u"0 0 * * 0"_s},
        {u"@daily"_s, u"0 0 * * *"_s},   {u"@midnight"_s, u"0 0 * * *"_s},
        {u"@hourly"_s, u"0 * * * *"_s},
    };
    return list;
}

// The end of the n-th whitespace-separated token from `from`, or -1 when the text has fewer.
qsizetype endOfTokens(const QString &text, qsizetype from, int count)
{
    qsizetype at = from;
    for (int i = 0; i < count; ++i) {
        while (at < text.size() && text[at].isSpace())
            ++at;
        if (at == text.size())
            return -1;
        while (at < text.size() && !text[at].isSpace())
            ++at;
    }
    return at;
}

bool commandError(ParseError *error, int column)
{
    if (error) {
        error->field = u"command"_s;
        error->column = column;
        error->message = u"command: missing (a line is a schedule and a command)"_s;
    }
    return false;
}

} // namespace

std::optional<Job> parseLine(const QString &rawText, const LineOptions &options, ParseError *error)
{
    const QString text = rawText.trimmed();
    Job job;
    qsizetype scheduleEnd = 0;
    if (text.startsWith(u'@')) {
        qsizetype wordEnd = 0;
        while (wordEnd < text.size() && !text[wordEnd].isSpace())
            ++wordEnd;
        const QString word = text.first(wordEnd).toLower();
        if (word == u"@reboot") {
            job.when = Schedule::reboot();
            scheduleEnd = wordEnd;
        } else if (word == u"@seconds" && options.allowSeconds) {
            scheduleEnd = endOfTokens(text, wordEnd, 6);
            if (scheduleEnd < 0)
                scheduleEnd = text.size();
            const std::optional<Schedule> when = Schedule::parse(
                QStringView(text).mid(wordEnd, scheduleEnd - wordEnd), true, error, int(wordEnd));
            if (!when)
                return std::nullopt;
            job.when = *when;
        } else {
            const auto it = std::find_if(specials().begin(), specials().end(),
                                         [&](const Special &s) { return s.word == word; });
            if (it == specials().end()) {
                if (error) {
                    error->field = u"schedule"_s;
                    error->column = 1;
                    error->message =
                        u"schedule: unknown '%1' (@reboot, @yearly, @annually, @monthly, "
                        "@weekly, @daily, @midnight or @hourly)"_s.arg(word);
                }
                return std::nullopt;
            }
            job.when = *Schedule::parse(it->fields, false, nullptr);
            scheduleEnd = wordEnd;
        }
    } else {
        scheduleEnd = endOfTokens(text, 0, 5);
        if (scheduleEnd < 0)
            scheduleEnd = text.size();
        const std::optional<Schedule> when =
            Schedule::parse(QStringView(text).first(scheduleEnd), false, error);
        if (!when)
            return std::nullopt;
        job.when = *when;
    }
    job.schedule = text.first(scheduleEnd).simplified();
    job.command = text.mid(scheduleEnd).trimmed();
    if (job.command.isEmpty()) {
        commandError(error, int(scheduleEnd) + 1);
        return std::nullopt;
    }
    return job;
}

bool testSchedulesEnabled()
{
    return qEnvironmentVariable("BERTH_TEST_APPS") == QLatin1String("1");
}

QDateTime listingTime()
{
    if (testSchedulesEnabled()) {
        const QDateTime fake =
            QDateTime::fromString(qEnvironmentVariable("BERTH_TEST_NOW"), Qt::ISODate);
        if (fake.isValid())
            return fake;
    }
    return QDateTime::currentDateTimeUtc();
}

QList<Job> jobsFromConfig(const Config::Config &config)
{
    QList<Job> jobs;
    const Config::Section *section = config.section(Section);
    if (!section)
        return jobs;
    LineOptions options;
    options.allowSeconds = testSchedulesEnabled();
    for (const Config::RawLine &line : section->lines) {
        ParseError error;
        std::optional<Job> job = parseLine(line.text, options, &error);
        if (!job) {
            config.addDiagnostic(
                {Config::Diagnostic::Severity::Error, line.location,
                 u"[crontab:line] %1 (column %2)"_s.arg(error.message).arg(error.column)});
            continue;
        }
        job->file = line.location.file;
        job->line = line.location.line;
        jobs.append(*job);
    }
    return jobs;
}

QTimeZone zoneFromConfig(const Config::Config &config)
{
    const QString name = config.getString(u"cron"_s, u"timezone"_s).trimmed();
    if (name.isEmpty())
        return QTimeZone::systemTimeZone();
    QTimeZone zone(name.toUtf8());
    if (!zone.isValid()) {
        config.addDiagnostic({Config::Diagnostic::Severity::Error,
                              config.location(u"cron"_s, u"timezone"_s),
                              u"[cron] timezone: '%1' is not a known time zone"_s.arg(name)});
        return QTimeZone::systemTimeZone();
    }
    return zone;
}

} // namespace Berth::Cron
