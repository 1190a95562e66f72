#include "childrenmodel.h"

#include <QBrush>
#include <QColor>
#include <QJsonObject>

namespace Berth::Console {

using namespace Qt::StringLiterals;

void ChildrenModel::setChildren(const QJsonArray &children)
{
    if (children.size() == m_children.size()) {
        // Same shape: update in place so the selection stays.
        m_children = children;
        if (!m_children.isEmpty())
            Q_EMIT dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
        return;
    }
    beginResetModel();
    m_children = children;
    endResetModel();
}

QJsonObject ChildrenModel::child(int row) const
{
    return m_children.at(row).toObject();
}

int ChildrenModel::rowOfPid(qint64 pid) const
{
    for (int i = 0; i < m_children.size(); ++i) {
        if (child(i).value(u"pid"_s).toInteger() == pid)
            return i;
    }
    return -1;
}

int ChildrenModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_children.size());
}

int ChildrenModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString ChildrenModel::duration(qint64 seconds)
{
    if (seconds < 60)
        return u"%1s"_s.arg(seconds);
    if (seconds < 3600)
        return u"%1m %2s"_s.arg(seconds / 60).arg(seconds % 60);
    if (seconds < 86400)
        return u"%1h %2m"_s.arg(seconds / 3600).arg(seconds / 60 % 60);
    return u"%1d %2h"_s.arg(seconds / 86400).arg(seconds / 3600 % 24);
}

QString ChildrenModel::currentRequests(const QJsonObject &child)
{
    QStringList parts;
    for (const QJsonValue &t : child.value(u"threads"_s).toArray()) {
        const QJsonObject request = t.toObject().value(u"request"_s).toObject();
        if (request.isEmpty())
            continue;
        parts.append(
            u"#%1 %2 %3 (%4 ms)"_s.arg(t.toObject().value(u"index"_s).toInt())
                .arg(request.value(u"method"_s).toString(), request.value(u"url"_s).toString())
                .arg(request.value(u"running_ms"_s).toInteger()));
    }
    return parts.join(u"; "_s);
}

QVariant ChildrenModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_children.size())
        return {};
    const QJsonObject c = child(index.row());
    if (role == Qt::DisplayRole || role == Qt::EditRole) {
        const bool sortable = role == Qt::EditRole;
        switch (index.column()) {
        case Kind:
            return c.value(u"kind"_s).toString();
        case Name:
            return c.value(u"name"_s).toString();
        case State:
            return c.value(u"state"_s).toString();
        case Pid:
            return c.value(u"pid"_s).toInteger();
        case Generation:
            return c.value(u"generation"_s).toInteger();
        case Uptime:
            return sortable ? QVariant(c.value(u"uptime_s"_s).toInteger())
                            : QVariant(duration(c.value(u"uptime_s"_s).toInteger()));
        case Restarts:
            return c.value(u"restarts"_s).toInteger();
        case LastExit:
            return c.value(u"last_exit"_s).toString();
        case Requests:
            return c.value(u"requests"_s).toInteger();
        case Current:
            return currentRequests(c);
        }
    }
    if (role == Qt::ForegroundRole && index.column() == State) {
        const QString state = c.value(u"state"_s).toString();
        if (state == u"running"_s)
            return QBrush(QColor(0x27, 0xae, 0x60));
        if (state == u"failed"_s || state == u"hung"_s)
            return QBrush(QColor(0xc0, 0x39, 0x2b));
    }
    if (role == Qt::ToolTipRole && index.column() == Current)
        return currentRequests(c).replace(u"; "_s, u"\n"_s);
    return {};
}

QVariant ChildrenModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Kind:
        return tr("Kind");
    case Name:
        return tr("Name");
    case State:
        return tr("State");
    case Pid:
        return tr("PID");
    case Generation:
        return tr("Generation");
    case Uptime:
        return tr("Uptime");
    case Restarts:
        return tr("Restarts");
    case LastExit:
        return tr("Last exit");
    case Requests:
        return tr("Requests");
    case Current:
        return tr("Current request per thread");
    }
    return {};
}

} // namespace Berth::Console
