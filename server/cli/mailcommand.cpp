#include "mailcommand.h"

#include "commandoutput.h"

#include "mail/spool.h"

#include <config/config.h>

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>

namespace Berth::Cli {

using namespace Qt::StringLiterals;

namespace {

const char MailUsage[] = "usage: berthd mail [-c FILE]... queue [--json]\n"
                         "       berthd mail [-c FILE]... retry [ID]\n"
                         "       berthd mail [-c FILE]... purge ID\n"
                         "\n"
                         "  queue     every spooled message: id, from, to, size, age, status,\n"
                         "            attempts, next attempt, last error (like mailq)\n"
                         "  retry     make ID (or every queued message) due now; an undelivered\n"
                         "            ID goes back to the queue with its attempts reset\n"
                         "  purge     remove message ID, queued or undelivered\n";

int usageError(const QString &message)
{
    return reportUsageError("mail", MailUsage, message);
}

int fail(const QString &message)
{
    return reportFailure("mail", message);
}

QString status(const Mail::SpoolEntry &e)
{
    if (e.undelivered)
        return u"undelivered"_s;
    if (e.state.deliveringPid != 0)
        return u"delivering"_s;
    return e.state.attempts == 0 ? u"queued"_s : u"deferred"_s;
}

QString age(qint64 seconds)
{
    if (seconds < 120)
        return u"%1s"_s.arg(seconds);
    if (seconds < 7200)
        return u"%1m"_s.arg(seconds / 60);
    if (seconds < 172800)
        return u"%1h"_s.arg(seconds / 3600);
    return u"%1d"_s.arg(seconds / 86400);
}

int listQueue(const Mail::Spool &spool, bool json)
{
    const QList<Mail::SpoolEntry> entries = spool.entries(true);
    const QDateTime now = QDateTime::currentDateTime();
    if (json) {
        QJsonArray out;
        for (const Mail::SpoolEntry &e : entries) {
            out.append(QJsonObject{
                {u"id"_s, e.id},
                {u"from"_s, e.from},
                {u"to"_s, QJsonArray::fromStringList(e.to)},
                {u"size"_s, e.size},
                {u"age_seconds"_s, e.queued.isValid() ? e.queued.secsTo(now) : 0},
                {u"status"_s, status(e)},
                {u"attempts"_s, e.state.attempts},
                {u"next_attempt"_s, e.undelivered || !e.state.nextAttempt.isValid()
                                        ? QString()
                                        : e.state.nextAttempt.toUTC().toString(Qt::ISODate)},
                {u"last_error"_s, e.state.lastError},
                {u"delivered"_s, QJsonArray::fromStringList(e.state.delivered)},
                {u"failed"_s, QJsonArray::fromStringList(e.state.failed)},
            });
        }
        printLine(stdout, QString::fromUtf8(QJsonDocument(out).toJson(QJsonDocument::Indented)));
        return 0;
    }
    if (entries.isEmpty()) {
        printLine(stdout, u"Mail queue is empty"_s);
        return 0;
    }
    printLine(stdout, u"%1 %2 %3 %4 %5 %6  %7"_s.arg(u"ID"_s, -36)
                          .arg(u"SIZE"_s, 9)
                          .arg(u"AGE"_s, 5)
                          .arg(u"STATUS"_s, -11)
                          .arg(u"TRIES"_s, 5)
                          .arg(u"NEXT ATTEMPT"_s, -20)
                          .arg(u"FROM -> TO"_s));
    for (const Mail::SpoolEntry &e : entries) {
        const QString next = e.undelivered ? u"-"_s
                             : !e.state.nextAttempt.isValid()
                                 ? u"now"_s
                                 : e.state.nextAttempt.toUTC().toString(Qt::ISODate);
        printLine(stdout, u"%1 %2 %3 %4 %5 %6  %7 -> %8"_s.arg(e.id, -36)
                              .arg(e.size, 9)
                              .arg(age(e.queued.isValid() ? e.queued.secsTo(now) : 0), 5)
                              .arg(status(e), -11)
                              .arg(e.state.attempts, 5)
                              .arg(next, -20)
                              .arg(e.from, e.to.join(u", "_s)));
        if (!e.state.lastError.isEmpty())
            printLine(stdout, u"    last error: "_s + e.state.lastError);
    }
    return 0;
}

} // namespace

int runMailCommand(const QStringList &args)
{
    QStringList configFiles;
    QStringList operands;
    bool json = false;
    bool sawMail = false;
    for (int i = 1; i < args.size(); ++i) {
        const QString &arg = args[i];
        if (arg == u"-c"_s || arg == u"--config"_s) {
            if (i + 1 >= args.size())
                return usageError(u"option %1 needs a value"_s.arg(arg));
            configFiles.append(args[++i]);
        } else if (arg.startsWith(u"--config="_s)) {
            configFiles.append(arg.mid(9));
        } else if (arg == u"--json"_s) {
            json = true;
        } else if (arg == u"-h"_s || arg == u"--help"_s) {
            std::fputs(MailUsage, stdout);
            return 0;
        } else if (!sawMail && arg == u"mail"_s) {
            sawMail = true;
        } else if (sawMail && !arg.startsWith(u'-')) {
            operands.append(arg);
        } else {
            return usageError(u"unexpected argument '%1'"_s.arg(arg));
        }
    }
    if (operands.isEmpty())
        return usageError(u"which action: queue, retry or purge?"_s);
    if (configFiles.isEmpty()) {
        const QString fromEnv = qEnvironmentVariable("BERTH_CONF");
        configFiles.append(fromEnv.isEmpty() ? u"/etc/berth/berth.conf"_s : fromEnv);
    }
    const Config::Config config = Config::Config::load(configFiles);
    for (const Config::Diagnostic &d : config.diagnostics()) {
        if (d.severity == Config::Diagnostic::Severity::Error)
            return fail(d.toString());
    }
    const Mail::Spool spool = Mail::Spool::fromConfig(config);
    if (spool.dir().isEmpty())
        return fail(u"[mailer] spool_dir is not set"_s);
    const QString action = operands.takeFirst();
    QString error;
    if (action == u"queue"_s) {
        if (!operands.isEmpty())
            return usageError(u"queue takes no operand"_s);
        return listQueue(spool, json);
    }
    if (action == u"retry"_s) {
        if (operands.size() > 1)
            return usageError(u"retry takes at most one ID"_s);
        if (operands.isEmpty()) {
            printLine(stdout, u"%1 message(s) due now"_s.arg(spool.retryAll()));
            return 0;
        }
        if (!spool.retry(operands.first(), &error))
            return fail(error);
        printLine(stdout, u"%1 due now"_s.arg(operands.first()));
        return 0;
    }
    if (action == u"purge"_s) {
        if (operands.size() != 1)
            return usageError(u"purge takes one ID"_s);
        if (!spool.purge(operands.first(), &error))
            return fail(error);
        printLine(stdout, u"%1 purged"_s.arg(operands.first()));
        return 0;
    }
    return usageError(u"unknown action '%1'"_s.arg(action));
}

} // namespace Berth::Cli
