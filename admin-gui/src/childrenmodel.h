#pragma once

#include <QAbstractTableModel>
#include <QJsonArray>

namespace Berth::Console {

// The children of GET /children as a table: kind, name, state, pid, generation, uptime,
// restarts, last exit, requests, and what each thread is serving with how long it has run.
class ChildrenModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column {
        Kind,
        Name,
        State,
        Pid,
        Generation,
        Uptime,
        Restarts,
        LastExit,
        Requests,
        Current,
        ColumnCount
    };

    using QAbstractTableModel::QAbstractTableModel;

    void setChildren(const QJsonArray &children);
    QJsonObject child(int row) const;
    int rowOfPid(qint64 pid) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    static QString currentRequests(const QJsonObject &child);
    static QString duration(qint64 seconds);

private:
    QJsonArray m_children;
};

} // namespace Berth::Console
