#pragma once

#include <QWidget>

class QLabel;
class QPushButton;
class QTableView;
class QTimer;

namespace Berth::Client {
class AdminConnection;
}

namespace Berth::Console {

class ChildrenModel;

// Every child process, refreshed every two seconds; restart a child, start/stop/restart a
// daemon. Asking is confirmed; the answer shows in the status line.
class ProcessesPage : public QWidget
{
    Q_OBJECT
public:
    explicit ProcessesPage(Client::AdminConnection *connection, QWidget *parent = nullptr);

    ChildrenModel *model() const { return m_model; }
    QTableView *view() const { return m_view; }
    // Without asking (tests, and after the dialog said yes).
    void restartSelected(bool confirm = true);
    void daemonAction(const QString &action, bool confirm = true);
    void refresh();
    void setRefreshInterval(int ms);
    // The report of a child from server.log: its crash or hung-worker block (request and stack)
    // and every line naming its pid. Opened by double-clicking a row (returned for tests).
    class QDialog *showReport(qint64 pid);
    static QStringList reportLines(const QStringList &serverLog, qint64 pid);

private:
    QJsonObject selectedChild() const;
    void updateButtons();

    Client::AdminConnection *m_connection;
    ChildrenModel *m_model;
    QTableView *m_view;
    QPushButton *m_restart;
    QPushButton *m_start;
    QPushButton *m_stop;
    QPushButton *m_daemonRestart;
    QLabel *m_status;
    QTimer *m_timer;
};

} // namespace Berth::Console
