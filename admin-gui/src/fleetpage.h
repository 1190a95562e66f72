#pragma once

#include "serverlist.h"

#include <QAbstractTableModel>
#include <QJsonObject>
#include <QWidget>

#include <functional>

class QTableView;
class QTimer;

namespace Berth::Client {
class AdminConnection;
}

namespace Berth::Console {

// One row per server of the list: up or down, generation, requests/s, error ratio (5xx of the
// requests since the last poll), p99 latency and the child restarts seen in the last hour.
class FleetModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Name, Status, Generation, RequestsPerS, ErrorRatio, P99, Restarts, ColumnCount };
    using Factory = std::function<Client::AdminConnection *(const ServerEntry &, QObject *)>;

    FleetModel(const Factory &factory, QObject *parent = nullptr);

    void setServers(const QList<ServerEntry> &servers);
    void setClock(std::function<qint64()> clock) { m_clock = std::move(clock); }
    void poll();
    Client::AdminConnection *connection(int row) const { return m_rows.at(row).connection; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    struct Row
    {
        ServerEntry server;
        Client::AdminConnection *connection = nullptr;
        bool up = false;
        bool answered = false;
        qint64 generation = 0;
        QJsonObject lastStats;
        qint64 lastStatsMs = 0;
        double requestsPerS = 0;
        double errorRatio = 0;
        double p99Ms = -1;
        QList<std::pair<qint64, qint64>> restarts; // (time, total restarts seen)
    };
    void changed(int row);

    Factory m_factory;
    QList<Row> m_rows;
    std::function<qint64()> m_clock;
};

class FleetPage : public QWidget
{
    Q_OBJECT
public:
    FleetPage(const FleetModel::Factory &factory, QWidget *parent = nullptr);

    FleetModel *model() const { return m_model; }

Q_SIGNALS:
    void openRequested(const QString &name);

private:
    FleetModel *m_model;
    QTableView *m_view;
    QTimer *m_timer;
};

} // namespace Berth::Console
