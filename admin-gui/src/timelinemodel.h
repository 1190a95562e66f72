#pragma once

#include <QList>
#include <QSet>
#include <QString>

#include <optional>

namespace Berth::Console {

// What happened to a server, from its logs: the admin API has no event feed, so the timeline
// reads server.log, admin-audit.log, cron.log and the mail log and recognises their lines.
struct TimelineEvent
{
    enum Kind { Reload, Restart, Crash, Hung, ConfigApply, Cron, Mail, Member, KindCount };
    qint64 timeMs = 0;
    Kind kind = Reload;
    bool failure = false;
    QString text;
};

class TimelineModel
{
public:
    static QString kindName(TimelineEvent::Kind kind);
    // An event for a line of a log, or nothing for a line that is not one.
    static std::optional<TimelineEvent> classify(const QString &log, const QString &line);
    // The time a log line starts with ("2026.11.30 06:01:18" local, or ISO 8601); -1 when none.
    static qint64 lineTime(const QString &line);

    // Adds the events of new lines (a line seen before is skipped); true when any was new.
    bool addLines(const QString &log, const QStringList &lines);
    const QList<TimelineEvent> &events() const { return m_events; }

private:
    QList<TimelineEvent> m_events;
    QSet<QString> m_seen;
};

} // namespace Berth::Console
