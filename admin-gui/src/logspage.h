#pragma once

#include <QJsonArray>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTableView;

namespace Berth::Client {
class AdminConnection;
}

namespace Berth::Console {

class LogFilter;
class LogModel;

// One log at a time: its tail, then followed live (pause keeps the lines for later); text or
// regular-expression filter (Ctrl+F), status class and level filters; request.log as a
// sortable table whose txn cell opens every line of every log with that transaction id.
class LogsPage : public QWidget
{
    Q_OBJECT
public:
    // search: a second connection for the txn look-ups, so they never mix with the follow.
    LogsPage(Client::AdminConnection *connection, Client::AdminConnection *search,
             QWidget *parent = nullptr);

    void showLog(const QString &name);
    QString currentLog() const { return m_current; }
    // The follow stream of the current log is connected.
    bool isFollowing() const { return m_following; }
    void setPaused(bool paused);
    void setFilter(const QString &text, bool regex);
    void setStatusClass(int klass);
    LogModel *model() const { return m_model; }
    LogFilter *filter() const { return m_filter; }
    QTableView *view() const { return m_view; }
    // Every line carrying txn in every log, gathered into a dialog (returned for tests).
    class QDialog *showTransaction(const QString &txn);
    QString visibleText() const;

private:
    void copySelection();
    void save();

    Client::AdminConnection *m_connection;
    Client::AdminConnection *m_search;
    LogModel *m_model;
    LogFilter *m_filter;
    QTableView *m_view;
    QComboBox *m_logs;
    QLineEdit *m_text;
    QCheckBox *m_regex;
    QComboBox *m_status;
    QComboBox *m_level;
    QPushButton *m_pause;
    QLabel *m_state;
    QString m_current;
    QStringList m_held; // lines that arrived while paused
    bool m_paused = false;
    bool m_following = false;
    QJsonArray m_known;
};

} // namespace Berth::Console
