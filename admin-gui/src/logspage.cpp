#include "logspage.h"

#include "adminclient/adminconnection.h"
#include "logmodel.h"

#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFile>
#include <QFileDialog>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QShortcut>
#include <QTableView>
#include <QVBoxLayout>

namespace Berth::Console {

using namespace Qt::StringLiterals;

LogsPage::LogsPage(Client::AdminConnection *connection, Client::AdminConnection *search,
                   QWidget *parent)
    : QWidget(parent)
    , m_connection(connection)
    , m_search(search)
    , m_model(new LogModel(this))
    , m_filter(new LogFilter(this))
{
    auto *layout = new QVBoxLayout(this);
    auto *bar = new QHBoxLayout;
    m_logs = new QComboBox(this);
    m_logs->setToolTip(tr("Log (Alt+L)"));
    new QShortcut(QKeySequence(u"Alt+L"_s), m_logs, [this] {
        m_logs->setFocus();
        m_logs->showPopup();
    });
    bar->addWidget(m_logs);
    m_text = new QLineEdit(this);
    m_text->setPlaceholderText(tr("Filter (Ctrl+F)"));
    m_text->setClearButtonEnabled(true);
    bar->addWidget(m_text, 1);
    m_regex = new QCheckBox(tr("Re&gex"), this);
    bar->addWidget(m_regex);
    m_status = new QComboBox(this);
    m_status->addItem(tr("Any status"), 0);
    for (int k = 2; k <= 5; ++k)
        m_status->addItem(u"%1xx"_s.arg(k), k);
    bar->addWidget(m_status);
    m_level = new QComboBox(this);
    m_level->addItem(tr("Any level"), QString());
    for (const QString &l : {u"debug"_s, u"info"_s, u"warning"_s, u"error"_s})
        m_level->addItem(l, l);
    bar->addWidget(m_level);
    m_pause = new QPushButton(tr("&Pause"), this);
    m_pause->setCheckable(true);
    m_pause->setShortcut(QKeySequence(u"Ctrl+P"_s));
    bar->addWidget(m_pause);
    auto *copy = new QPushButton(tr("&Copy"), this);
    auto *saveButton = new QPushButton(tr("&Save…"), this);
    bar->addWidget(copy);
    bar->addWidget(saveButton);
    layout->addLayout(bar);

    m_filter->setSourceModel(m_model);
    m_view = new QTableView(this);
    m_view->setModel(m_filter);
    m_view->setSortingEnabled(false);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->verticalHeader()->hide();
    m_view->verticalHeader()->setDefaultSectionSize(m_view->fontMetrics().height() + 4);
    m_view->setWordWrap(false);
    layout->addWidget(m_view, 1);
    m_state = new QLabel(this);
    layout->addWidget(m_state);

    new QShortcut(QKeySequence::Find, this, [this] {
        m_text->setFocus();
        m_text->selectAll();
    });
    new QShortcut(
        QKeySequence::Copy, m_view, [this] { copySelection(); }, Qt::WidgetShortcut);
    new QShortcut(QKeySequence(u"Ctrl+Shift+S"_s), this, [this] { save(); });
    connect(copy, &QPushButton::clicked, this, &LogsPage::copySelection);
    connect(saveButton, &QPushButton::clicked, this, &LogsPage::save);
    connect(m_pause, &QPushButton::toggled, this, &LogsPage::setPaused);
    connect(m_text, &QLineEdit::textChanged, this,
            [this] { setFilter(m_text->text(), m_regex->isChecked()); });
    connect(m_regex, &QCheckBox::toggled, this,
            [this] { setFilter(m_text->text(), m_regex->isChecked()); });
    connect(m_status, &QComboBox::currentIndexChanged, this,
            [this] { m_filter->setStatusClass(m_status->currentData().toInt()); });
    connect(m_level, &QComboBox::currentIndexChanged, this,
            [this] { m_filter->setLevel(m_level->currentData().toString()); });
    connect(m_logs, &QComboBox::activated, this,
            [this] { showLog(m_logs->currentData().toString()); });
    connect(m_view, &QTableView::clicked, this, [this](const QModelIndex &index) {
        const QModelIndex source = m_filter->mapToSource(index);
        if (m_model->isRequestLog() && source.column() == m_model->txnColumn())
            showTransaction(m_model->field(source.row(), source.column()));
    });

    connect(
        m_connection, &Client::AdminConnection::logsListed, this, [this](const QJsonArray &logs) {
            m_known = logs;
            const QString keep = m_current;
            m_logs->clear();
            for (const QJsonValue &l : logs) {
                const QJsonObject o = l.toObject();
                if (o.value(u"exists"_s).toBool())
                    m_logs->addItem(o.value(u"name"_s).toString(), o.value(u"name"_s).toString());
            }
            const int index = m_logs->findData(keep.isEmpty() ? u"request"_s : keep);
            if (index >= 0)
                m_logs->setCurrentIndex(index);
            if (m_current.isEmpty() && m_logs->count() > 0)
                showLog(m_logs->currentData().toString());
        });
    connect(m_connection, &Client::AdminConnection::logTail, this,
            [this](const QString &name, const QStringList &lines) {
                if (name != m_current)
                    return;
                m_model->setLines(lines);
                m_view->resizeColumnsToContents();
                m_view->scrollToBottom();
            });
    connect(m_connection, &Client::AdminConnection::logLine, this,
            [this](const QString &name, const QString &line) {
                if (name != m_current)
                    return;
                if (m_paused) {
                    m_held.append(line);
                    m_state->setText(
                        tr("Paused: %n new line(s) held", nullptr, int(m_held.size())));
                    return;
                }
                const bool atBottom =
                    m_view->verticalScrollBar()->value() == m_view->verticalScrollBar()->maximum();
                m_model->appendLines({line});
                if (atBottom)
                    m_view->scrollToBottom();
            });
    connect(m_connection, &Client::AdminConnection::streamState, this,
            [this](const QString &stream, bool connected, int retryMs) {
                if (!stream.startsWith(u"log:"_s))
                    return;
                m_following = connected && stream.mid(4) == m_current;
                m_state->setText(connected ? tr("Following %1").arg(stream.mid(4))
                                           : tr("Disconnected; retrying in %1 ms").arg(retryMs));
            });
    m_connection->listLogs();
}

void LogsPage::showLog(const QString &name)
{
    if (name.isEmpty())
        return;
    m_current = name;
    const int index = m_logs->findData(name);
    if (index >= 0)
        m_logs->setCurrentIndex(index);
    m_held.clear();
    const bool request = name == u"request"_s;
    m_model->setRequestLog(request);
    m_status->setEnabled(request);
    m_level->setEnabled(!request);
    m_view->setSortingEnabled(request);
    if (request)
        m_view->sortByColumn(-1, Qt::AscendingOrder);
    m_connection->stopLogFollow();
    m_following = false;
    m_connection->tailLog(name, 500, QString());
    m_connection->followLog(name);
    m_view->resizeColumnsToContents();
}

void LogsPage::setPaused(bool paused)
{
    m_paused = paused;
    if (m_pause->isChecked() != paused)
        m_pause->setChecked(paused);
    if (!paused) {
        m_model->appendLines(m_held);
        m_held.clear();
        m_state->setText(tr("Following %1").arg(m_current));
        m_view->scrollToBottom();
    }
}

void LogsPage::setFilter(const QString &text, bool regex)
{
    if (m_text->text() != text)
        m_text->setText(text);
    if (m_regex->isChecked() != regex)
        m_regex->setChecked(regex);
    m_filter->setText(text, regex);
    m_text->setStyleSheet(m_filter->isValid() ? QString() : u"color: #c0392b"_s);
}

void LogsPage::setStatusClass(int klass)
{
    m_status->setCurrentIndex(m_status->findData(klass));
}

QDialog *LogsPage::showTransaction(const QString &txn)
{
    auto *dialog = new QDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(tr("Transaction %1").arg(txn));
    dialog->resize(1000, 500);
    auto *layout = new QVBoxLayout(dialog);
    auto *text = new QPlainTextEdit(dialog);
    text->setObjectName(u"txnLines"_s);
    text->setReadOnly(true);
    text->setLineWrapMode(QPlainTextEdit::NoWrap);
    text->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    layout->addWidget(text);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
    connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
    layout->addWidget(buttons);
    connect(m_search, &Client::AdminConnection::logTail, dialog,
            [text](const QString &name, const QStringList &lines) {
                for (const QString &l : lines)
                    text->appendPlainText(u"%1: %2"_s.arg(name, l));
            });
    for (const QJsonValue &l : std::as_const(m_known)) {
        const QJsonObject o = l.toObject();
        if (o.value(u"exists"_s).toBool())
            m_search->tailLog(o.value(u"name"_s).toString(), 10'000, txn);
    }
    dialog->show();
    return dialog;
}

QString LogsPage::visibleText() const
{
    QStringList lines;
    for (int r = 0; r < m_filter->rowCount(); ++r)
        lines.append(m_model->line(m_filter->mapToSource(m_filter->index(r, 0)).row()));
    return lines.join(u'\n');
}

void LogsPage::copySelection()
{
    QStringList lines;
    for (const QModelIndex &index : m_view->selectionModel()->selectedRows())
        lines.append(m_model->line(m_filter->mapToSource(index).row()));
    QApplication::clipboard()->setText(lines.join(u'\n'));
}

void LogsPage::save()
{
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Save log lines"), m_current + u".log"_s);
    if (path.isEmpty())
        return;
    QFile file(path);
    if (file.open(QIODevice::WriteOnly | QIODevice::Text))
        file.write((visibleText() + u'\n').toUtf8());
}

} // namespace Berth::Console
