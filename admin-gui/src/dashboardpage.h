#pragma once

#include "statshistory.h"

#include <QHash>
#include <QWidget>

#include <functional>

class QChart;
class QChartView;
class QComboBox;
class QLabel;
class QLineSeries;

namespace Berth::Client {
class AdminConnection;
}

namespace Berth::Console {

// Live charts of the stats stream: requests/s with 4xx/s and 5xx/s, p50/p99 latency, active
// connections, bytes/s, and requests/s per worker, over the last 5, 15 or 60 minutes. Hovering a
// line shows its value.
class DashboardPage : public QWidget
{
    Q_OBJECT
public:
    explicit DashboardPage(Client::AdminConnection *connection, QWidget *parent = nullptr);

    void setClock(std::function<qint64()> clock) { m_clock = std::move(clock); }
    const StatsHistory &history() const { return m_history; }
    // A series by its name ("requests/s", "4xx/s", "5xx/s", "p50 ms", "p99 ms", "connections",
    // "bytes/s", "worker PID"); nullptr when there is none.
    QLineSeries *series(const QString &name) const;
    void setWindowMinutes(int minutes);
    int windowMinutes() const { return m_windowMinutes; }

private:
    QChartView *addChart(const QString &title, const QStringList &seriesNames);
    QLineSeries *addSeries(QChart *chart, const QString &name);
    void onSnapshot(const QJsonObject &snapshot);
    void refresh();

    Client::AdminConnection *m_connection;
    StatsHistory m_history;
    std::function<qint64()> m_clock;
    QHash<QString, QLineSeries *> m_series;
    QList<QChart *> m_charts;
    QChart *m_workerChart = nullptr;
    QComboBox *m_window;
    QLabel *m_summary;
    int m_windowMinutes = 5;
};

} // namespace Berth::Console
