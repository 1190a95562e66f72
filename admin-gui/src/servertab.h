#pragma once

#include "connectionfactory.h"

#include <QJsonObject>
#include <QWidget>

#include <functional>

class QLabel;
class QTabWidget;
class QTimer;

namespace Berth::Console {

class ConfigPage;
class DashboardPage;
class LogsPage;
class ProcessesPage;
class ServicesPage;
class TimelinePage;

// One open server: its pages (Ctrl+1..6) over connections from the factory, and a status line
// with the server's name, generation and whether the data is live or stale (no stats snapshot
// for three intervals; the streams reconnect by themselves with back-off meanwhile).
class ServerTab : public QWidget
{
    Q_OBJECT
public:
    static constexpr int StatsIntervalMs = 1000;

    ServerTab(const QString &name, const ConnectionFactory &factory, QWidget *parent = nullptr);

    QString name() const { return m_name; }
    bool isStale() const { return m_stale; }
    QTabWidget *pages() const { return m_pages; }
    DashboardPage *dashboard() const { return m_dashboard; }
    ProcessesPage *processes() const { return m_processes; }
    LogsPage *logs() const { return m_logs; }
    ConfigPage *config() const { return m_config; }
    TimelinePage *timeline() const { return m_timeline; }
    ServicesPage *services() const { return m_services; }
    void setClock(std::function<qint64()> clock) { m_clock = std::move(clock); }
    void checkStale();

Q_SIGNALS:
    void staleChanged(bool stale);

private:
    QString m_name;
    Client::AdminConnection *m_main;
    QTabWidget *m_pages;
    DashboardPage *m_dashboard;
    ProcessesPage *m_processes;
    LogsPage *m_logs;
    ConfigPage *m_config;
    TimelinePage *m_timeline;
    ServicesPage *m_services;
    QLabel *m_state;
    QLabel *m_staleLabel;
    QTimer *m_timer;
    QJsonObject m_info;
    std::function<qint64()> m_clock;
    qint64 m_lastDataMs = 0;
    bool m_stale = true;
    int m_ticks = 0;
    QString m_streamText;
};

} // namespace Berth::Console
