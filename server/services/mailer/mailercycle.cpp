// One delivery cycle of the mail agent: blocking, run on the agent's delivery thread.
#include "mailerservice.h"

#include "mail/mimecomposer.h"

#include <QFile>

#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

namespace Berth::Services {

using namespace Qt::StringLiterals;

namespace {

// smtpda.log is opened for each line (O_APPEND): attempts are rare, and a file logrotate moved
// away is followed at once, USR1 or not.
void logLine(const QString &path, const QByteArray &line)
{
    const QByteArray text = line + '\n';
    if (path.isEmpty()) {
        std::fwrite(text.constData(), 1, size_t(text.size()), stderr);
        return;
    }
    const int fd = ::open(QFile::encodeName(path).constData(),
                          O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return;
    const ssize_t written = ::write(fd, text.constData(), size_t(text.size()));
    Q_UNUSED(written);
    ::close(fd);
}

QByteArray quoted(const QString &text)
{
    QByteArray out = text.toUtf8();
    out.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', ' ').replace('\r', ' ');
    return '"' + out + '"';
}

QString addressOf(const QString &line)
{
    return line.section(u':', 0, 0);
}

constexpr int MaxPerCycle = 100;

// One attempt at one message that is due; counts the outcome in cycle. False when the server
// could not be reached at all (no SMTP reply: refused, timed out, TLS): the other messages
// due wait for the next cycle instead of each waiting out the same failure.
bool deliverOne(const Mail::Spool &spool, const MailerSettings &settings, const QDateTime &now,
                const QString &dueId, Mail::DeliveryState dueState, MailerCycle &cycle)
{
    QString error;
    const std::optional<Mail::Message> message = spool.readMessage(dueId, false, &error);
    if (!message) {
        // Unreadable (purged meanwhile, or damaged): a damaged one would block nothing but
        // would be retried forever; park it in undelivered/ with the reason.
        if (QFile::exists(spool.dir() + u"/queue/"_s + dueId + u".json"_s)) {
            dueState.lastError = u"unreadable spool file: "_s + error;
            dueState.finished = now;
            spool.moveToUndelivered(dueId, dueState, nullptr);
            ++cycle.failed;
            logLine(settings.logPath,
                    now.toUTC().toString(Qt::ISODateWithMs).toUtf8() + ' ' + dueId.toUtf8() +
                        " status=undelivered error=" + quoted(dueState.lastError));
        }
        return true;
    }
    // Claim it on disk before talking to the server: if this process dies mid-delivery, the
    // next agent sees deliveringPid and sends it again (at-least-once; the Message-ID stays).
    const int attempt = dueState.attempts + 1;
    if (!spool.updateState(dueId, [&](Mail::DeliveryState &s) {
            s.attempts = attempt;
            s.deliveringPid = ::getpid();
            if (s.pending.isEmpty() && s.delivered.isEmpty() && s.failed.isEmpty())
                s.pending = message->recipients();
            dueState = s;
        }))
        return true; // purged meanwhile
    const QString from = Mail::envelopeAddress(message->from);
    const QByteArray data = Mail::composeMime(*message);
    const QStringList recipients = dueState.pending;
    const SmtpResult result = sendMail(settings.smtp, from, recipients, data);

    Mail::DeliveryState state = dueState;
    state.deliveringPid = 0;
    for (const QString &r : result.accepted) {
        state.pending.removeAll(r);
        state.delivered.append(r);
    }
    for (const QString &line : result.refusedPermanent) {
        state.pending.removeAll(addressOf(line));
        state.failed.append(line);
        state.lastError = line;
    }
    for (const QString &line : result.refusedTransient)
        state.lastError = line;
    if (result.failed) {
        state.lastError = result.error;
        if (result.permanent) {
            const QStringList left = state.pending;
            for (const QString &r : left) {
                bool refused = false;
                for (const QString &line : result.refusedTransient)
                    refused = refused || addressOf(line) == r;
                if (!refused) {
                    state.pending.removeAll(r);
                    state.failed.append(r + u": "_s + result.error);
                }
            }
        }
    }

    QByteArray status;
    QByteArray next;
    if (state.pending.isEmpty() && state.failed.isEmpty()) {
        status = "sent";
        spool.purge(dueId, nullptr);
        ++cycle.sent;
    } else if (state.pending.isEmpty() || attempt >= settings.maxRetry) {
        status = "undelivered";
        if (!state.pending.isEmpty())
            state.lastError = u"gave up after %1 attempts: %2"_s.arg(attempt).arg(state.lastError);
        state.finished = now;
        spool.moveToUndelivered(dueId, state, nullptr);
        ++cycle.failed;
    } else {
        status = "deferred";
        state.nextAttempt = now.addMSecs(Mail::retryDelayMs(attempt, settings.retryIntervalMs));
        next = state.nextAttempt.toUTC().toString(Qt::ISODate).toUtf8();
        spool.writeState(dueId, state, nullptr);
        ++cycle.deferred;
        const qint64 in = now.msecsTo(state.nextAttempt);
        if (cycle.nextDueMs < 0 || in < cycle.nextDueMs)
            cycle.nextDueMs = in;
    }
    QByteArray line = QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs).toUtf8() + ' ' +
                      dueId.toUtf8() + " attempt=" + QByteArray::number(attempt) + " from=<" +
                      from.toUtf8() + "> to=" + recipients.join(u',').toUtf8() +
                      " size=" + QByteArray::number(data.size()) + " status=" + status +
                      " code=" + QByteArray::number(result.code);
    if (!result.accepted.isEmpty() && status != "sent")
        line += " accepted=" + result.accepted.join(u',').toUtf8();
    if (!next.isEmpty())
        line += " next=" + next;
    if (!state.lastError.isEmpty() && status != "sent")
        line += " error=" + quoted(state.lastError);
    logLine(settings.logPath, line);
    return !(result.failed && result.code == 0);
}

} // namespace

MailerCycle runMailerCycle(const Mail::Spool &spool, const MailerSettings &settings,
                           const QDateTime &now, const MailerChores &chores)
{
    MailerCycle cycle;
    if (chores.recover)
        cycle.recovered = spool.recover();
    if (chores.purgeBefore.isValid())
        cycle.purged = spool.purgeUndeliveredBefore(chores.purgeBefore);
    cycle.ids = spool.ids();
    // One scan, then every message due in it (oldest first), a bounded number per cycle so
    // that the event loop hears back (stats, drain) now and then.
    QList<QPair<QString, Mail::DeliveryState>> due;
    for (const QString &id : std::as_const(cycle.ids)) {
        const Mail::DeliveryState state = spool.readState(id);
        if (state.deliveringPid != 0)
            continue; // claimed by an agent that died: recover() makes it due
        if (!state.nextAttempt.isValid() || state.nextAttempt <= now) {
            due.append({id, state});
        } else {
            const qint64 in = now.msecsTo(state.nextAttempt);
            if (cycle.nextDueMs < 0 || in < cycle.nextDueMs)
                cycle.nextDueMs = in;
        }
    }
    if (!cycle.ids.isEmpty()) {
        const QDateTime oldest = Mail::Spool::queuedAt(cycle.ids.first());
        if (oldest.isValid())
            cycle.oldestAgeSeconds = qMax<qint64>(0, oldest.secsTo(now));
    }
    int done = 0;
    for (const auto &[id, state] : std::as_const(due)) {
        if (done == MaxPerCycle || (chores.stop && chores.stop->load(std::memory_order_relaxed))) {
            cycle.moreDue = true;
            break;
        }
        ++done;
        if (!deliverOne(spool, settings, now, id, state, cycle))
            break; // the rest stay due: the next poll (within a second) tries the next one
    }
    return cycle;
}

} // namespace Berth::Services
