#pragma once

#include <QWidget>

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QTableWidget;
class QJsonArray;
class QTimer;
class QTreeWidget;

namespace Berth::Client {
class AdminConnection;
}

namespace Berth::Console {

// Gateway groups with their members (state, health, traffic; drain and undo), cron jobs with
// their next run and last result (GET cron; from cron.log on servers without it; run now) and
// the mail queue (GET mail as a table, the mail log below it; retry now).
class ServicesPage : public QWidget
{
    Q_OBJECT
public:
    ServicesPage(Client::AdminConnection *connection, QWidget *parent = nullptr);

    QTreeWidget *groups() const { return m_groups; }
    QTableWidget *cronJobs() const { return m_cron; }
    QTableWidget *mailQueue() const { return m_mailQueue; }
    void refresh();
    void drainSelected(bool undo);
    void runCronJob(const QString &job);

private:
    void setCronJobs(const QJsonArray &jobs, const QString &timezone);
    void setCronLines(const QStringList &lines);
    void setMailQueue(const QJsonArray &messages, int total);

    Client::AdminConnection *m_connection;
    QTreeWidget *m_groups;
    QTableWidget *m_cron;
    QLineEdit *m_job;
    QTableWidget *m_mailQueue;
    QLabel *m_mailTitle;
    QPlainTextEdit *m_mail;
    QLabel *m_status;
    QLabel *m_cronTitle;
    QTimer *m_timer;
    bool m_cronFromLog = false;   // the server has no GET cron: jobs as cron.log tells them
    bool m_mailQueueKnown = true; // false once GET mail said 404 (no spool, or an older server)
};

} // namespace Berth::Console
