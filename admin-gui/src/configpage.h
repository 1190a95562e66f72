#pragma once

#include "adminclient/adminconnection.h"

#include <QWidget>

class QLabel;
class QListWidget;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTimer;

namespace Berth::Console {

class CodeEditor;

// The configuration editor: the snapshot's files in tabs, validated as you type (debounced),
// diagnostics as squiggles and in a problems list that jumps to the line; apply (Ctrl+S) after
// a diff against the live files, canary apply with its live verdict, history with rollback.
class ConfigPage : public QWidget
{
    Q_OBJECT
public:
    explicit ConfigPage(Client::AdminConnection *connection, QWidget *parent = nullptr);

    void reloadFromServer();
    CodeEditor *editor(const QString &path) const;
    QStringList paths() const;
    QListWidget *problems() const { return m_problems; }
    QString resultText() const;
    QString diff() const; // the edited files against the live ones
    // confirm = false: no dialog (tests; the dialog shows diff()).
    void apply(bool confirm = true);
    void applyCanary(int seconds, bool confirm = true);
    void setValidateDelay(int ms);

private:
    QList<Client::ConfigFile> editedFiles() const;
    void validateNow();
    void showDiagnostics(const QJsonArray &diagnostics);
    void showHistory();
    void setResult(const QString &text, bool bad);

    Client::AdminConnection *m_connection;
    QTabWidget *m_tabs;
    QListWidget *m_problems;
    QLabel *m_result;
    QPushButton *m_apply;
    QSpinBox *m_canaryWindow;
    QTimer *m_debounce;
    QTimer *m_canaryPoll;
    QList<Client::ConfigFile> m_live;
    QString m_hash;
    qint64 m_generation = 0;
    bool m_loading = false;
};

} // namespace Berth::Console
