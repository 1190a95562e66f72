#pragma once

#include "statshistory.h"
#include "timelinemodel.h"

#include <QWidget>

#include <functional>

class QChart;
class QComboBox;
class QLineSeries;
class QScatterSeries;
class QTableWidget;
class QTimer;

namespace Berth::Client {
class AdminConnection;
}

namespace Berth::Console {

// Requests/s and errors/s on top, the server's events (reloads, restarts, crashes, hung
// workers, config applies, cron runs, mail retries, member up/down) on the same time axis
// below, and the events as a list.
class TimelinePage : public QWidget
{
    Q_OBJECT
public:
    // stats: the connection whose stats stream runs; logs: one for this page's log reads.
    TimelinePage(Client::AdminConnection *stats, Client::AdminConnection *logs,
                 QWidget *parent = nullptr);

    void setClock(std::function<qint64()> clock) { m_clock = std::move(clock); }
    const TimelineModel &model() const { return m_model; }
    QTableWidget *table() const { return m_table; }
    void poll();

private:
    void refresh();

    Client::AdminConnection *m_logs;
    TimelineModel m_model;
    std::function<qint64()> m_clock;
    QChart *m_rates;
    QChart *m_eventsChart;
    QLineSeries *m_requests;
    QLineSeries *m_errors;
    QList<QScatterSeries *> m_kinds;
    QTableWidget *m_table;
    QComboBox *m_window;
    QTimer *m_timer;
    StatsHistory m_history;
};

} // namespace Berth::Console
