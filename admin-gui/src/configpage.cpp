#include "configpage.h"

#include "codeeditor.h"
#include "linediff.h"

#include <QDialog>
#include <QDialogButtonBox>
#include <QFileInfo>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonObject>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

namespace Berth::Console {

using namespace Qt::StringLiterals;

namespace {

bool samePath(const QString &diagnosticFile, const QString &path)
{
    return diagnosticFile == path ||
           QFileInfo(diagnosticFile).fileName() == QFileInfo(path).fileName();
}

// Shows text (a diff) and asks to go on.
bool confirmWithText(QWidget *parent, const QString &title, const QString &question,
                     const QString &text)
{
    QDialog dialog(parent);
    dialog.setWindowTitle(title);
    dialog.resize(900, 560);
    auto *layout = new QVBoxLayout(&dialog);
    layout->addWidget(new QLabel(question, &dialog));
    auto *view = new QPlainTextEdit(text, &dialog);
    view->setReadOnly(true);
    view->setLineWrapMode(QPlainTextEdit::NoWrap);
    view->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    layout->addWidget(view);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
    QObject::connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    QObject::connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    layout->addWidget(buttons);
    return dialog.exec() == QDialog::Accepted;
}

} // namespace

ConfigPage::ConfigPage(Client::AdminConnection *connection, QWidget *parent)
    : QWidget(parent)
    , m_connection(connection)
    , m_debounce(new QTimer(this))
    , m_canaryPoll(new QTimer(this))
{
    auto *layout = new QVBoxLayout(this);
    auto *bar = new QHBoxLayout;
    auto *revert = new QPushButton(tr("Re&load from server"), this);
    auto *diffButton = new QPushButton(tr("&Diff against live"), this);
    m_apply = new QPushButton(tr("&Apply (Ctrl+S)"), this);
    auto *canary = new QPushButton(tr("Apply as &canary"), this);
    m_canaryWindow = new QSpinBox(this);
    m_canaryWindow->setRange(1, 3600);
    m_canaryWindow->setValue(60);
    m_canaryWindow->setSuffix(tr(" s"));
    m_canaryWindow->setToolTip(tr("Canary window"));
    auto *history = new QPushButton(tr("&History…"), this);
    for (QWidget *w : std::initializer_list<QWidget *>{revert, diffButton, m_apply, canary,
                                                       m_canaryWindow, history})
        bar->addWidget(w);
    bar->addStretch(1);
    layout->addLayout(bar);

    auto *split = new QSplitter(Qt::Vertical, this);
    m_tabs = new QTabWidget(split);
    auto *bottom = new QWidget(split);
    auto *bottomLayout = new QVBoxLayout(bottom);
    bottomLayout->setContentsMargins(0, 0, 0, 0);
    m_result = new QLabel(bottom);
    m_result->setWordWrap(true);
    m_result->setTextInteractionFlags(Qt::TextSelectableByMouse);
    bottomLayout->addWidget(m_result);
    m_problems = new QListWidget(bottom);
    bottomLayout->addWidget(m_problems);
    split->setStretchFactor(0, 4);
    split->setStretchFactor(1, 1);
    layout->addWidget(split, 1);

    m_debounce->setSingleShot(true);
    m_debounce->setInterval(400);
    connect(m_debounce, &QTimer::timeout, this, &ConfigPage::validateNow);
    connect(revert, &QPushButton::clicked, this, &ConfigPage::reloadFromServer);
    connect(diffButton, &QPushButton::clicked, this, [this] {
        const QString d = diff();
        confirmWithText(this, tr("Changes"),
                        d.isEmpty() ? tr("No changes.") : tr("Edited against live:"), d);
    });
    connect(m_apply, &QPushButton::clicked, this, [this] { apply(); });
    connect(canary, &QPushButton::clicked, this, [this] { applyCanary(m_canaryWindow->value()); });
    connect(history, &QPushButton::clicked, this, &ConfigPage::showHistory);
    new QShortcut(QKeySequence::Save, this, [this] { apply(); });
    connect(m_problems, &QListWidget::itemActivated, this, [this](QListWidgetItem *item) {
        const QString path = item->data(Qt::UserRole).toString();
        for (int i = 0; i < m_tabs->count(); ++i) {
            if (m_tabs->tabToolTip(i) == path) {
                m_tabs->setCurrentIndex(i);
                static_cast<CodeEditor *>(m_tabs->widget(i))
                    ->goToLine(item->data(Qt::UserRole + 1).toInt());
            }
        }
    });
    connect(m_problems, &QListWidget::itemClicked, m_problems, &QListWidget::itemActivated);

    connect(m_connection, &Client::AdminConnection::configReceived, this,
            [this](const QList<Client::ConfigFile> &files, const QString &hash, qint64 generation) {
                m_live = files;
                m_hash = hash;
                m_generation = generation;
                m_loading = true;
                const QString current = m_tabs->currentIndex() >= 0
                                            ? m_tabs->tabToolTip(m_tabs->currentIndex())
                                            : QString();
                while (m_tabs->count() > 0) {
                    QWidget *w = m_tabs->widget(0);
                    m_tabs->removeTab(0);
                    w->deleteLater();
                }
                for (const Client::ConfigFile &f : files) {
                    auto *editor = new CodeEditor(m_tabs);
                    editor->setObjectName(f.path);
                    editor->setPlainText(f.text);
                    connect(editor, &QPlainTextEdit::textChanged, this, [this] {
                        if (!m_loading)
                            m_debounce->start();
                    });
                    const int index = m_tabs->addTab(editor, QFileInfo(f.path).fileName());
                    m_tabs->setTabToolTip(index, f.path);
                    if (f.path == current)
                        m_tabs->setCurrentIndex(index);
                }
                m_loading = false;
                validateNow();
            });
    connect(m_connection, &Client::AdminConnection::validated, this,
            [this](bool, const QJsonArray &diagnostics) { showDiagnostics(diagnostics); });
    connect(m_connection, &Client::AdminConnection::applied, this, [this](const QJsonObject &r) {
        if (r.value(u"result"_s).toString() == u"canary"_s) {
            setResult(tr("Canary: generation %1 is being watched…")
                          .arg(r.value(u"canary"_s).toObject().value(u"generation"_s).toInteger()),
                      false);
            m_canaryPoll->start(2000);
        } else {
            setResult(tr("Applied: generation %1 is %2.")
                          .arg(r.value(u"generation"_s).toInteger())
                          .arg(r.value(u"result"_s).toString()),
                      false);
        }
        reloadFromServer();
    });
    connect(m_connection, &Client::AdminConnection::rolledBack, this, [this](const QJsonObject &r) {
        setResult(tr("Rolled back: generation %1 is %2.")
                      .arg(r.value(u"generation"_s).toInteger())
                      .arg(r.value(u"result"_s).toString()),
                  false);
        reloadFromServer();
    });
    connect(m_canaryPoll, &QTimer::timeout, m_connection, &Client::AdminConnection::fetchCanary);
    connect(m_connection, &Client::AdminConnection::canaryReceived, this,
            [this](const QJsonObject &c) {
                const QString state = c.value(u"state"_s).toString();
                setResult(tr("Canary %1: old 5xx ratio %2, new %3, crashes %4. %5")
                              .arg(state)
                              .arg(c.value(u"old_error_ratio"_s).toDouble())
                              .arg(c.value(u"new_error_ratio"_s).toDouble())
                              .arg(c.value(u"crashes"_s).toInteger())
                              .arg(c.value(u"reason"_s).toString()),
                          state == u"rolled_back"_s);
                if (state != u"watching"_s) {
                    m_canaryPoll->stop();
                    reloadFromServer();
                }
            });
    connect(m_connection, &Client::AdminConnection::failed, this,
            [this](const QString &operation, const Client::AdminError &error) {
                if (operation != u"apply"_s && operation != u"rollback"_s &&
                    operation != u"validate"_s && operation != u"config"_s)
                    return;
                if (operation == u"apply"_s || operation == u"rollback"_s) {
                    QJsonArray diagnostics = error.details.toArray();
                    setResult(tr("Not applied (%1): %2 — the old configuration is still live.")
                                  .arg(error.status)
                                  .arg(error.message),
                              true);
                    if (!diagnostics.isEmpty())
                        showDiagnostics(diagnostics);
                    return;
                }
                setResult(tr("%1 failed: %2").arg(operation, error.message), true);
            });
    reloadFromServer();
}

void ConfigPage::setValidateDelay(int ms)
{
    m_debounce->setInterval(ms);
}

void ConfigPage::reloadFromServer()
{
    m_connection->fetchConfig();
}

CodeEditor *ConfigPage::editor(const QString &path) const
{
    for (int i = 0; i < m_tabs->count(); ++i) {
        if (m_tabs->tabToolTip(i) == path || QFileInfo(m_tabs->tabToolTip(i)).fileName() == path)
            return static_cast<CodeEditor *>(m_tabs->widget(i));
    }
    return nullptr;
}

QStringList ConfigPage::paths() const
{
    QStringList list;
    for (int i = 0; i < m_tabs->count(); ++i)
        list.append(m_tabs->tabToolTip(i));
    return list;
}

QString ConfigPage::resultText() const
{
    return m_result->text();
}

QList<Client::ConfigFile> ConfigPage::editedFiles() const
{
    QList<Client::ConfigFile> files;
    for (int i = 0; i < m_tabs->count(); ++i)
        files.append(
            {m_tabs->tabToolTip(i), static_cast<CodeEditor *>(m_tabs->widget(i))->toPlainText()});
    return files;
}

QString ConfigPage::diff() const
{
    QStringList parts;
    const QList<Client::ConfigFile> edited = editedFiles();
    for (const Client::ConfigFile &f : edited) {
        QString live;
        for (const Client::ConfigFile &l : m_live) {
            if (l.path == f.path)
                live = l.text;
        }
        const QString d = unifiedDiff(f.path, live, f.text);
        if (!d.isEmpty())
            parts.append(d);
    }
    return parts.join(u"\n"_s);
}

void ConfigPage::validateNow()
{
    if (m_tabs->count() > 0)
        m_connection->validateConfig(editedFiles());
}

void ConfigPage::showDiagnostics(const QJsonArray &diagnostics)
{
    m_problems->clear();
    QHash<QString, QList<EditorDiagnostic>> byFile;
    for (const QJsonValue &v : diagnostics) {
        if (v.isString()) { // a reload failure: text lines
            m_problems->addItem(v.toString());
            continue;
        }
        const QJsonObject d = v.toObject();
        EditorDiagnostic diagnostic{d.value(u"line"_s).toInt(), d.value(u"severity"_s).toString(),
                                    d.value(u"message"_s).toString()};
        const QString file = d.value(u"file"_s).toString();
        QString path = file;
        for (const QString &p : paths()) {
            if (samePath(file, p))
                path = p;
        }
        byFile[path].append(diagnostic);
        auto *item = new QListWidgetItem(u"%1:%2: %3: %4"_s.arg(QFileInfo(path).fileName())
                                             .arg(diagnostic.line)
                                             .arg(diagnostic.severity, diagnostic.message),
                                         m_problems);
        item->setData(Qt::UserRole, path);
        item->setData(Qt::UserRole + 1, diagnostic.line);
        item->setForeground(diagnostic.severity == u"error"_s ? QColor(0xc0, 0x39, 0x2b)
                                                              : QColor(0xd3, 0x84, 0x00));
    }
    for (int i = 0; i < m_tabs->count(); ++i)
        static_cast<CodeEditor *>(m_tabs->widget(i))
            ->setDiagnostics(byFile.value(m_tabs->tabToolTip(i)));
}

void ConfigPage::setResult(const QString &text, bool bad)
{
    m_result->setText(text);
    m_result->setStyleSheet(bad ? u"color: #c0392b; font-weight: bold"_s : QString());
}

void ConfigPage::apply(bool confirm)
{
    const QString d = diff();
    if (confirm &&
        !confirmWithText(
            this, tr("Apply configuration"),
            tr("Apply these changes to the running server (generation %1)?").arg(m_generation),
            d.isEmpty() ? tr("(no changes: the server reloads)") : d))
        return;
    setResult(tr("Applying…"), false);
    m_connection->applyConfig(editedFiles(), m_hash);
}

void ConfigPage::applyCanary(int seconds, bool confirm)
{
    if (confirm && !confirmWithText(this, tr("Canary apply"),
                                    tr("Apply and watch for %1 s; the server rolls back by itself "
                                       "when the new generation does worse.")
                                        .arg(seconds),
                                    diff()))
        return;
    setResult(tr("Applying as canary…"), false);
    m_connection->applyConfigCanary(editedFiles(), m_hash, seconds);
}

void ConfigPage::showHistory()
{
    auto *dialog = new QDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(tr("Configuration history"));
    dialog->resize(700, 400);
    auto *layout = new QVBoxLayout(dialog);
    auto *table = new QTableWidget(0, 4, dialog);
    table->setHorizontalHeaderLabels({tr("Generation"), tr("Time"), tr("Who"), tr("Hash")});
    table->setSelectionBehavior(QAbstractItemView::SelectRows);
    table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table->horizontalHeader()->setStretchLastSection(true);
    layout->addWidget(table);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
    auto *rollback = buttons->addButton(tr("&Roll back to this"), QDialogButtonBox::ActionRole);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
    connect(m_connection, &Client::AdminConnection::configHistoryReceived, table,
            [table](const QJsonArray &history) {
                table->setRowCount(int(history.size()));
                for (int r = 0; r < history.size(); ++r) {
                    const QJsonObject h = history.at(r).toObject();
                    table->setItem(r, 0,
                                   new QTableWidgetItem(
                                       QString::number(h.value(u"generation"_s).toInteger())));
                    table->setItem(r, 1, new QTableWidgetItem(h.value(u"time"_s).toString()));
                    table->setItem(r, 2, new QTableWidgetItem(h.value(u"who"_s).toString()));
                    table->setItem(r, 3, new QTableWidgetItem(h.value(u"hash"_s).toString()));
                }
            });
    connect(rollback, &QPushButton::clicked, dialog, [this, table, dialog] {
        const int row = table->currentRow();
        if (row < 0)
            return;
        const qint64 generation = table->item(row, 0)->text().toLongLong();
        if (QMessageBox::question(dialog, tr("Roll back"),
                                  tr("Apply the files of generation %1 again?").arg(generation)) ==
            QMessageBox::Yes) {
            m_connection->rollbackConfig(generation);
            dialog->close();
        }
    });
    m_connection->fetchConfigHistory();
    dialog->show();
}

} // namespace Berth::Console
