// Supervisor::statusJson: the master's part of `berthd status --json` (docs/operations.md).

#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "statusreport.h"
#include "supervisor.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace Berth::Supervisor {

using namespace Qt::StringLiterals;

QString Supervisor::statusJson() const
{
    const Config::Snapshot snapshot = m_snapshots.value(m_generation);
    QJsonArray services;
    for (const QString &key : m_groupOrder) {
        const Group &g = m_groups[key];
        int ready = 0;
        for (const Child &c : m_children)
            ready += (c.key == key && c.generation == g.generation && c.ready) ? 1 : 0;
        services.append(QJsonObject{
            {u"service"_s, key},
            {u"kind"_s, g.spec.kind},
            {u"name"_s, g.spec.name},
            {u"state"_s, g.failed ? u"failed"_s : u"running"_s},
            {u"ready"_s, ready},
            {u"count"_s, g.spec.count},
            {u"restarts"_s, g.restarts},
            {u"last_exit"_s, g.lastExitStatus < 0
                                 ? QJsonValue(QJsonValue::Null)
                                 : QJsonValue(Core::describeWaitStatus(g.lastExitStatus))},
        });
    }
    // The shared memory was made when this master started (monotonic clock).
    const qint64 upMs = Core::monotonicMs() - m_shared->createdMs();
    const QJsonObject status{
        {u"generation"_s, m_generation},
        {u"config_sha256"_s, QString::fromLatin1(snapshot.hash())},
        {u"reload_in_progress"_s, m_pending != nullptr},
        {u"started"_s, QDateTime::currentDateTimeUtc().addMSecs(-upMs).toString(Qt::ISODate)},
        {u"uptime_seconds"_s, upMs / 1000},
        {u"listeners"_s,
         QJsonArray::fromStringList(m_listenerSummary.split(u", "_s, Qt::SkipEmptyParts))},
        {u"services"_s, services},
        {u"children"_s, Core::slotsJson(*m_shared)},
    };
    return QString::fromUtf8(QJsonDocument(status).toJson(QJsonDocument::Compact));
}

} // namespace Berth::Supervisor
