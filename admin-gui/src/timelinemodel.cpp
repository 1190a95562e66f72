#include "timelinemodel.h"

#include <QDateTime>
#include <QRegularExpression>

namespace Berth::Console {

using namespace Qt::StringLiterals;

QString TimelineModel::kindName(TimelineEvent::Kind kind)
{
    switch (kind) {
    case TimelineEvent::Reload:
        return u"reload"_s;
    case TimelineEvent::Restart:
        return u"restart"_s;
    case TimelineEvent::Crash:
        return u"crash"_s;
    case TimelineEvent::Hung:
        return u"hung worker"_s;
    case TimelineEvent::ConfigApply:
        return u"config apply"_s;
    case TimelineEvent::Cron:
        return u"cron"_s;
    case TimelineEvent::Mail:
        return u"mail"_s;
    case TimelineEvent::Member:
        return u"member"_s;
    case TimelineEvent::KindCount:
        break;
    }
    return {};
}

qint64 TimelineModel::lineTime(const QString &line)
{
    const QDateTime local = QDateTime::fromString(line.left(19), u"yyyy.MM.dd HH:mm:ss"_s);
    if (local.isValid())
        return local.toMSecsSinceEpoch();
    const QDateTime iso = QDateTime::fromString(line.section(u' ', 0, 0), Qt::ISODate);
    return iso.isValid() ? iso.toMSecsSinceEpoch() : -1;
}

std::optional<TimelineEvent> TimelineModel::classify(const QString &log, const QString &line)
{
    TimelineEvent e;
    e.timeMs = lineTime(line);
    if (e.timeMs < 0)
        return std::nullopt;
    e.text = line;
    const QString l = line.toLower();
    static const QRegularExpression crash(
        u"killed by signal|crash|core dumped|exited with status [1-9]|exited on signal"_s);
    if (log == u"cron"_s) {
        const QString event = line.section(u' ', 1, 1);
        if (event != u"start"_s && event != u"exit"_s && event != u"kill"_s &&
            event != u"error"_s && event != u"skip"_s)
            return std::nullopt;
        e.kind = TimelineEvent::Cron;
        e.failure = event == u"kill"_s || event == u"error"_s ||
                    (event == u"exit"_s && !l.contains(u"status 0 "_s));
        return e;
    }
    if (log == u"smtpda"_s || log == u"mail"_s) {
        if (!l.contains(u"retry"_s) && !l.contains(u"deferred"_s) && !l.contains(u"bounce"_s))
            return std::nullopt;
        e.kind = TimelineEvent::Mail;
        e.failure = l.contains(u"bounce"_s);
        return e;
    }
    if (log == u"admin-audit"_s) {
        // call="PUT /api/v1/config" status=200 result="ok"
        const bool config =
            l.contains(u"put /api/v1/config"_s) || l.contains(u"/api/v1/config/rollback"_s);
        if (config) {
            e.kind = TimelineEvent::ConfigApply;
        } else if (l.contains(u"/mail/retry"_s)) {
            e.kind = TimelineEvent::Mail;
        } else if (l.contains(u"/restart"_s)) {
            e.kind = TimelineEvent::Restart;
        } else {
            return std::nullopt;
        }
        static const QRegularExpression status(u"status=[45]\\d\\d"_s);
        e.failure = status.match(line).hasMatch();
        return e;
    }
    // server.log repeats the audit lines; admin-audit.log has them.
    if (log != u"server"_s || l.contains(u"admin-audit"_s))
        return std::nullopt;
    if (l.contains(u"hung"_s)) {
        e.kind = TimelineEvent::Hung;
        e.failure = true;
    } else if (l.contains(u"reload"_s)) {
        e.kind = TimelineEvent::Reload;
        e.failure = l.contains(u"fail"_s);
    } else if (crash.match(l).hasMatch()) {
        e.kind = TimelineEvent::Crash;
        e.failure = true;
    } else if (l.contains(u"restart"_s) || l.contains(u"replac"_s)) {
        e.kind = TimelineEvent::Restart;
    } else if (l.contains(u"member"_s) && (l.contains(u" up"_s) || l.contains(u" down"_s))) {
        e.kind = TimelineEvent::Member;
        e.failure = l.contains(u" down"_s);
    } else {
        return std::nullopt;
    }
    return e;
}

bool TimelineModel::addLines(const QString &log, const QStringList &lines)
{
    bool added = false;
    for (const QString &line : lines) {
        const QString key = log + u'\x1f' + line;
        if (m_seen.contains(key))
            continue;
        m_seen.insert(key);
        if (const auto event = classify(log, line)) {
            const auto at =
                std::upper_bound(m_events.begin(), m_events.end(), event->timeMs,
                                 [](qint64 t, const TimelineEvent &e) { return t < e.timeMs; });
            m_events.insert(at, *event);
            added = true;
        }
    }
    return added;
}

} // namespace Berth::Console
