#include "croncommand.h"

#include "commandoutput.h"

#include "services/cron/cronrunner.h"
#include "services/cron/cronservice.h"

#include <config/config.h>
#include <cron/crontab.h>

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>

#include <cstdio>

namespace Berth::Cli {

using namespace Qt::StringLiterals;

namespace {

const char CronUsage[] = "usage: berthd cron [-c FILE]... list [--json]\n"
                         "       berthd cron [-c FILE]... run FILE:LINE\n"
                         "\n"
                         "  list      every [crontab:line] job with its next five run times\n"
                         "  run       run one job now (FILE:LINE as list prints it); exits with "
                         "its status\n";

int usageError(const QString &message)
{
    return reportUsageError("cron", CronUsage, message);
}

struct CronArguments
{
    QStringList configFiles;
    QString action;
    QString job;
    bool json = false;
    QString error;
};

CronArguments parse(const QStringList &args)
{
    CronArguments a;
    bool sawCron = false;
    for (int i = 1; i < args.size() && a.error.isEmpty(); ++i) {
        const QString &arg = args[i];
        if (arg == u"-c"_s || arg == u"--config"_s) {
            if (i + 1 >= args.size())
                a.error = u"option %1 needs a value"_s.arg(arg);
            else
                a.configFiles.append(args[++i]);
        } else if (arg.startsWith(u"--config="_s)) {
            a.configFiles.append(arg.mid(9));
        } else if (arg == u"--json"_s) {
            a.json = true;
        } else if (arg == u"-h"_s || arg == u"--help"_s) {
            a.action = u"help"_s;
        } else if (!sawCron && arg == u"cron"_s) {
            sawCron = true;
        } else if (sawCron && a.action.isEmpty() && !arg.startsWith(u'-')) {
            a.action = arg;
        } else if (a.action == u"run"_s && a.job.isEmpty() && !arg.startsWith(u'-')) {
            a.job = arg;
        } else {
            a.error = u"unexpected argument '%1'"_s.arg(arg);
        }
    }
    if (a.configFiles.isEmpty()) {
        const QString fromEnv = qEnvironmentVariable("BERTH_CONF");
        a.configFiles.append(fromEnv.isEmpty() ? u"/etc/berth/berth.conf"_s : fromEnv);
    }
    return a;
}

// The jobs, or nothing with the errors printed (load errors and invalid lines).
bool loadJobs(const CronArguments &a, QList<Cron::Job> *jobs, QTimeZone *zone)
{
    const Config::Config config = Config::Config::load(a.configFiles);
    *jobs = Cron::jobsFromConfig(config);
    *zone = Cron::zoneFromConfig(config);
    const Config::Diagnostics errors = Config::uniqueDiagnostics(config.diagnostics());
    bool ok = true;
    for (const Config::Diagnostic &d : errors) {
        if (d.isError()) {
            printLine(stderr, d.toString());
            ok = false;
        }
    }
    return ok;
}

int list(const CronArguments &a)
{
    QList<Cron::Job> jobs;
    QTimeZone zone;
    if (!loadJobs(a, &jobs, &zone))
        return 1;
    const QDateTime start = Cron::listingTime();
    QJsonArray array;
    for (const Cron::Job &job : std::as_const(jobs)) {
        QStringList next;
        for (const QDateTime &t : job.when.nextTimes(start, zone, 5))
            next.append(t.toString(Qt::ISODate));
        if (a.json) {
            array.append(QJsonObject{{u"file"_s, job.file},
                                     {u"line"_s, job.line},
                                     {u"schedule"_s, job.schedule},
                                     {u"command"_s, job.command},
                                     {u"next"_s, QJsonArray::fromStringList(next)}});
            continue;
        }
        printLine(stdout, u"%1  %2  %3"_s.arg(job.id(), job.schedule, job.command));
        if (job.when.isReboot())
            printLine(stdout, u"    when berthd starts"_s);
        else if (next.isEmpty())
            printLine(stdout, u"    never (no such date)"_s);
        for (const QString &t : std::as_const(next))
            printLine(stdout, u"    "_s + t);
    }
    if (a.json)
        printLine(stdout, QString::fromUtf8(QJsonDocument(array).toJson(QJsonDocument::Indented)));
    return 0;
}

bool sameJob(const Cron::Job &job, const QString &wanted)
{
    if (job.id() == wanted)
        return true;
    const qsizetype colon = wanted.lastIndexOf(u':');
    if (colon <= 0 || wanted.mid(colon + 1) != QString::number(job.line))
        return false;
    const QFileInfo a(wanted.first(colon));
    const QFileInfo b(job.file);
    return a.exists() && a.canonicalFilePath() == b.canonicalFilePath();
}

int run(const CronArguments &a)
{
    if (a.job.isEmpty())
        return usageError(u"run needs FILE:LINE (as `berthd cron list` prints it)"_s);
    const Config::Config config = Config::Config::load(a.configFiles);
    QList<Cron::Job> jobs;
    QTimeZone zone;
    if (!loadJobs(a, &jobs, &zone))
        return 1;
    const auto it = std::find_if(jobs.begin(), jobs.end(),
                                 [&](const Cron::Job &job) { return sameJob(job, a.job); });
    if (it == jobs.end()) {
        printLine(stderr, u"berthd cron: no job at %1 (see berthd cron list)"_s.arg(a.job));
        return 1;
    }
    QProcess process;
    process.setProgram(u"/bin/sh"_s);
    process.setArguments({u"-c"_s, it->command});
    QProcessEnvironment env =
        Services::cronEnvironment(config.getList(u"cron"_s, u"environment"_s));
    process.setProcessEnvironment(env);
    process.setWorkingDirectory(env.value(u"HOME"_s, u"/"_s));
    process.setProcessChannelMode(QProcess::ForwardedChannels);
    process.setStandardInputFile(QProcess::nullDevice());
    process.start();
    if (!process.waitForStarted(-1)) {
        printLine(stderr, u"berthd cron: cannot start /bin/sh: "_s + process.errorString());
        return 1;
    }
    process.waitForFinished(-1);
    if (process.exitStatus() == QProcess::CrashExit)
        return 128 + process.exitCode();
    return process.exitCode();
}

} // namespace

QStringList cronStatusLines(const QStringList &configFiles)
{
    const Config::Config config = Config::Config::load(configFiles);
    const QString path = Services::CronService::statePath(config);
    QFile file(path);
    if (path.isEmpty() || !file.open(QIODevice::ReadOnly))
        return {};
    QStringList lines;
    const QJsonArray jobs =
        QJsonDocument::fromJson(file.readAll()).object().value(u"jobs"_s).toArray();
    for (const QJsonValue &value : jobs) {
        const QJsonObject job = value.toObject();
        const QString last = job.value(u"last_run"_s).toString();
        const QString next = job.value(u"next"_s).toString();
        lines.append(u"cron %1 (%2): %3, next %4"_s.arg(
            job.value(u"job"_s).toString(), job.value(u"schedule"_s).toString(),
            last.isEmpty() ? u"not run yet"_s
                           : u"last run %1 (%2)"_s.arg(last, job.value(u"last_exit"_s).toString()),
            next.isEmpty() ? u"-"_s : next));
    }
    return lines;
}

int runCronCommand(const QStringList &arguments)
{
    const CronArguments a = parse(arguments);
    if (!a.error.isEmpty())
        return usageError(a.error);
    if (a.action == u"help"_s) {
        std::fputs(CronUsage, stdout);
        return 0;
    }
    if (a.action == u"list"_s)
        return list(a);
    if (a.action == u"run"_s)
        return run(a);
    return usageError(a.action.isEmpty() ? u"missing list or run"_s
                                         : u"unknown action '%1'"_s.arg(a.action));
}

} // namespace Berth::Cli
