#include "processespage.h"

#include "adminclient/adminconnection.h"
#include "childrenmodel.h"

#include <QDialog>
#include <QDialogButtonBox>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonObject>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

namespace Berth::Console {

using namespace Qt::StringLiterals;

ProcessesPage::ProcessesPage(Client::AdminConnection *connection, QWidget *parent)
    : QWidget(parent)
    , m_connection(connection)
    , m_model(new ChildrenModel(this))
    , m_timer(new QTimer(this))
{
    auto *layout = new QVBoxLayout(this);
    auto *buttons = new QHBoxLayout;
    m_restart = new QPushButton(tr("&Restart child"), this);
    m_restart->setShortcut(QKeySequence(u"Ctrl+R"_s));
    m_start = new QPushButton(tr("S&tart daemon"), this);
    m_stop = new QPushButton(tr("Sto&p daemon"), this);
    m_daemonRestart = new QPushButton(tr("Restart &daemon"), this);
    for (QPushButton *b : {m_restart, m_start, m_stop, m_daemonRestart})
        buttons->addWidget(b);
    buttons->addStretch(1);
    m_status = new QLabel(this);
    buttons->addWidget(m_status);
    layout->addLayout(buttons);

    auto *proxy = new QSortFilterProxyModel(this);
    proxy->setSourceModel(m_model);
    proxy->setSortRole(Qt::EditRole);
    m_view = new QTableView(this);
    m_view->setModel(proxy);
    m_view->setSortingEnabled(true);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->verticalHeader()->hide();
    m_view->setAlternatingRowColors(true);
    layout->addWidget(m_view, 1);

    connect(m_restart, &QPushButton::clicked, this, [this] { restartSelected(); });
    connect(m_start, &QPushButton::clicked, this, [this] { daemonAction(u"start"_s); });
    connect(m_stop, &QPushButton::clicked, this, [this] { daemonAction(u"stop"_s); });
    connect(m_daemonRestart, &QPushButton::clicked, this, [this] { daemonAction(u"restart"_s); });
    connect(m_view, &QTableView::doubleClicked, this, [this] {
        const QJsonObject child = selectedChild();
        if (!child.isEmpty())
            showReport(child.value(u"pid"_s).toInteger());
    });
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &ProcessesPage::updateButtons);
    connect(m_connection, &Client::AdminConnection::childrenReceived, this,
            [this](const QJsonArray &children) {
                m_model->setChildren(children);
                m_view->resizeColumnsToContents();
                updateButtons();
            });
    connect(m_connection, &Client::AdminConnection::childRestarted, this, [this](qint64 pid) {
        m_status->setText(tr("Child %1 restarted.").arg(pid));
        refresh();
    });
    connect(m_connection, &Client::AdminConnection::daemonActionDone, this,
            [this](const QString &name, const QString &action) {
                m_status->setText(tr("Daemon %1: %2 done.").arg(name, action));
                refresh();
            });
    connect(m_connection, &Client::AdminConnection::failed, this,
            [this](const QString &operation, const Client::AdminError &error) {
                if (operation == u"restart"_s || operation == u"daemon"_s)
                    m_status->setText(tr("Failed: %1").arg(error.message));
            });
    connect(m_timer, &QTimer::timeout, this, &ProcessesPage::refresh);
    m_timer->start(2000);
    updateButtons();
    refresh();
}

QStringList ProcessesPage::reportLines(const QStringList &serverLog, qint64 pid)
{
    const QRegularExpression tag(u"\\bpid %1\\b"_s.arg(pid));
    QStringList out;
    bool inBlock = false;
    for (const QString &line : serverLog) {
        // A stack block: "... (pid N) crashed; its stack:" then indented "berth.master:   " lines.
        if (inBlock && line.contains(u"berth.master:   "_s)) {
            out.append(line);
            continue;
        }
        inBlock = false;
        if (tag.match(line).hasMatch()) {
            out.append(line);
            inBlock = line.contains(u"its stack:"_s);
        }
    }
    return out;
}

QDialog *ProcessesPage::showReport(qint64 pid)
{
    auto *dialog = new QDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(tr("Child %1").arg(pid));
    dialog->resize(1000, 480);
    auto *layout = new QVBoxLayout(dialog);
    const int row = m_model->rowOfPid(pid);
    if (row >= 0) {
        const QJsonObject c = m_model->child(row);
        layout->addWidget(new QLabel(
            tr("%1:%2, %3, last exit: %4; now: %5")
                .arg(c.value(u"kind"_s).toString(), c.value(u"name"_s).toString(),
                     c.value(u"state"_s).toString(), c.value(u"last_exit"_s).toString(u"–"_s),
                     ChildrenModel::currentRequests(c)),
            dialog));
    }
    auto *text = new QPlainTextEdit(dialog);
    text->setObjectName(u"report"_s);
    text->setReadOnly(true);
    text->setLineWrapMode(QPlainTextEdit::NoWrap);
    text->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    text->setPlaceholderText(tr("Reading server.log…"));
    layout->addWidget(text);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
    connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
    layout->addWidget(buttons);
    connect(m_connection, &Client::AdminConnection::logTail, dialog,
            [text, pid](const QString &name, const QStringList &lines) {
                if (name != u"server"_s)
                    return;
                const QStringList report = reportLines(lines, pid);
                text->setPlainText(report.isEmpty()
                                       ? tr("server.log has no line about pid %1.").arg(pid)
                                       : report.join(u'\n'));
            });
    m_connection->tailLog(u"server"_s, 5000, QString());
    dialog->show();
    return dialog;
}

void ProcessesPage::setRefreshInterval(int ms)
{
    m_timer->start(ms);
}

void ProcessesPage::refresh()
{
    m_connection->fetchChildren();
}

QJsonObject ProcessesPage::selectedChild() const
{
    const QModelIndexList rows = m_view->selectionModel()->selectedRows();
    if (rows.isEmpty())
        return {};
    auto *proxy = static_cast<QSortFilterProxyModel *>(m_view->model());
    return m_model->child(proxy->mapToSource(rows.first()).row());
}

void ProcessesPage::updateButtons()
{
    const QJsonObject child = selectedChild();
    const bool daemon = child.value(u"kind"_s).toString() == u"daemon"_s;
    m_restart->setEnabled(!child.isEmpty());
    for (QPushButton *b : {m_start, m_stop, m_daemonRestart})
        b->setEnabled(daemon);
}

void ProcessesPage::restartSelected(bool confirm)
{
    const QJsonObject child = selectedChild();
    if (child.isEmpty())
        return;
    const qint64 pid = child.value(u"pid"_s).toInteger();
    if (confirm &&
        QMessageBox::question(
            this, tr("Restart child"),
            tr("Restart %1:%2 (pid %3)? Its requests in flight are cut.")
                .arg(child.value(u"kind"_s).toString(), child.value(u"name"_s).toString())
                .arg(pid)) != QMessageBox::Yes)
        return;
    m_status->setText(tr("Restarting %1…").arg(pid));
    m_connection->restartChild(pid);
}

void ProcessesPage::daemonAction(const QString &action, bool confirm)
{
    const QJsonObject child = selectedChild();
    const QString name = child.value(u"name"_s).toString();
    if (name.isEmpty() || child.value(u"kind"_s).toString() != u"daemon"_s)
        return;
    if (confirm && QMessageBox::question(this, tr("Daemon"),
                                         tr("%1 daemon %2?").arg(action, name)) != QMessageBox::Yes)
        return;
    m_connection->daemonAction(name, action);
}

} // namespace Berth::Console
