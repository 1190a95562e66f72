#include "mainwindow.h"

#include "adminclient/adminclient.h"
#include "config/config.h"
#include "fleetpage.h"
#include "resources.h"
#include "servertab.h"

#include <QAction>
#include <QApplication>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QFormLayout>
#include <QIcon>
#include <QInputDialog>
#include <QLineEdit>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QStatusBar>
#include <QTabBar>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <QVBoxLayout>

namespace Berth::Console {

using namespace Qt::StringLiterals;

MainWindow::MainWindow(QSettings *settings, TokenStore *tokens, QWidget *parent)
    : QMainWindow(parent)
    , m_settings(settings)
    , m_tokens(tokens)
    , m_servers(settings)
{
    initResources();
    setWindowTitle(tr("Berth Admin"));
    setWindowIcon(QIcon(u":/icons/berth-admin.svg"_s));
    resize(1280, 800);

    m_tabs = new QTabWidget(this);
    m_tabs->setTabsClosable(true);
    m_tabs->setDocumentMode(true);
    m_fleet = new FleetPage(
        [this](const ServerEntry &entry, QObject *parent) -> Client::AdminConnection * {
            return new Client::AdminClient(QUrl(entry.url), m_tokens->token(entry.name), parent);
        },
        m_tabs);
    m_tabs->addTab(m_fleet, QIcon(u":/icons/server.svg"_s), tr("Fleet"));
    m_tabs->tabBar()->setTabButton(0, QTabBar::RightSide, nullptr);
    m_tabs->tabBar()->setTabButton(0, QTabBar::LeftSide, nullptr);
    connect(m_fleet, &FleetPage::openRequested, this,
            [this](const QString &name) { openServer(name); });
    connect(m_tabs, &QTabWidget::tabCloseRequested, this, [this](int index) {
        QWidget *w = m_tabs->widget(index);
        if (w == m_fleet)
            return;
        m_tabs->removeTab(index);
        w->deleteLater();
    });
    setCentralWidget(m_tabs);

    auto *dock = new QDockWidget(tr("Servers"), this);
    dock->setObjectName(u"servers"_s);
    auto *panel = new QWidget(dock);
    auto *panelLayout = new QVBoxLayout(panel);
    m_list = new QListWidget(panel);
    panelLayout->addWidget(m_list);
    auto *add = new QPushButton(QIcon(u":/icons/add.svg"_s), tr("Add…"), panel);
    auto *edit = new QPushButton(tr("Edit…"), panel);
    auto *remove = new QPushButton(QIcon(u":/icons/remove.svg"_s), tr("Remove"), panel);
    for (QPushButton *b : {add, edit, remove})
        panelLayout->addWidget(b);
    dock->setWidget(panel);
    addDockWidget(Qt::LeftDockWidgetArea, dock);

    auto *outputDock = new QDockWidget(tr("Local berthd output"), this);
    outputDock->setObjectName(u"local"_s);
    m_localOutput = new QPlainTextEdit(outputDock);
    m_localOutput->setReadOnly(true);
    m_localOutput->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    outputDock->setWidget(m_localOutput);
    addDockWidget(Qt::BottomDockWidgetArea, outputDock);
    outputDock->hide();

    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *addAction = file->addAction(QIcon(u":/icons/add.svg"_s), tr("&Add server…"));
    addAction->setShortcut(QKeySequence(u"Ctrl+N"_s));
    QAction *openAction = file->addAction(QIcon(u":/icons/open.svg"_s), tr("&Open config file…"));
    openAction->setShortcut(QKeySequence::Open);
    QAction *berthdPath = file->addAction(tr("Path to &berthd…"));
    file->addSeparator();
    QAction *closeTab = file->addAction(tr("&Close server tab"));
    closeTab->setShortcut(QKeySequence::Close);
    QAction *quit = file->addAction(tr("&Quit"));
    quit->setShortcut(QKeySequence::Quit);
    QMenu *view = menuBar()->addMenu(tr("&View"));
    view->addAction(dock->toggleViewAction());
    view->addAction(outputDock->toggleViewAction());
    dock->toggleViewAction()->setShortcut(QKeySequence(u"Ctrl+L"_s));

    connect(addAction, &QAction::triggered, this, [this] { editServer(QString()); });
    connect(add, &QPushButton::clicked, addAction, &QAction::trigger);
    connect(edit, &QPushButton::clicked, this, [this] {
        if (m_list->currentItem())
            editServer(m_list->currentItem()->text());
    });
    connect(remove, &QPushButton::clicked, this, [this] {
        if (!m_list->currentItem())
            return;
        const QString name = m_list->currentItem()->text();
        m_servers.remove(name);
        m_tokens->removeToken(name);
        refreshList();
    });
    connect(m_list, &QListWidget::itemActivated, this,
            [this](QListWidgetItem *item) { openServer(item->text()); });
    connect(openAction, &QAction::triggered, this, &MainWindow::openConfigFile);
    connect(berthdPath, &QAction::triggered, this, [this] {
        const QString path = QFileDialog::getOpenFileName(
            this, tr("berthd executable"), m_settings->value(u"berthd"_s).toString());
        if (!path.isEmpty())
            m_settings->setValue(u"berthd"_s, path);
    });
    connect(closeTab, &QAction::triggered, this, [this] {
        if (m_tabs->currentIndex() >= 0)
            Q_EMIT m_tabs->tabCloseRequested(m_tabs->currentIndex());
    });
    connect(quit, &QAction::triggered, qApp, &QApplication::quit);
    refreshList();
    statusBar()->showMessage(tr("Tokens are kept in the keyring, or in %1 (mode 0600).")
                                 .arg(QDir::toNativeSeparators(m_tokens->fallbackFile())));
}

MainWindow::~MainWindow()
{
    if (!m_local)
        return;
    // Its output pane goes before the process does: no more slots into it.
    m_local->disconnect(this);
    if (m_local->state() != QProcess::NotRunning) {
        m_local->terminate();
        if (!m_local->waitForFinished(10'000)) {
            m_local->kill();
            m_local->waitForFinished(5000);
        }
    }
}

ConnectionFactory MainWindow::clientFactory(const QString &url, const QString &token)
{
    return [url, token](QObject *parent) -> Client::AdminConnection * {
        return new Client::AdminClient(QUrl(url), token, parent);
    };
}

void MainWindow::refreshList()
{
    m_list->clear();
    for (const ServerEntry &e : m_servers.entries()) {
        auto *item = new QListWidgetItem(QIcon(u":/icons/server.svg"_s), e.name, m_list);
        item->setToolTip(e.url);
    }
    m_fleet->model()->setServers(m_servers.entries());
}

void MainWindow::addServer(const ServerEntry &entry, const QString &token)
{
    m_servers.upsert(entry);
    m_tokens->setToken(entry.name, token);
    refreshList();
}

bool MainWindow::isServerAddress(const QString &url)
{
    const QUrl parsed(url.trimmed(), QUrl::StrictMode);
    if (!parsed.isValid())
        return false;
    if (!Client::AdminClient::socketPathOf(parsed).isEmpty())
        return true;
    return (parsed.scheme() == u"http"_s || parsed.scheme() == u"https"_s) &&
           !parsed.host().isEmpty();
}

void MainWindow::editServer(const QString &name)
{
    QDialog dialog(this);
    dialog.setWindowTitle(name.isEmpty() ? tr("Add server") : tr("Edit server"));
    auto *form = new QFormLayout(&dialog);
    auto *nameEdit = new QLineEdit(name, &dialog);
    const ServerEntry *existing = m_servers.find(name);
    auto *urlEdit = new QLineEdit(existing ? existing->url : u"http://127.0.0.1:8099"_s, &dialog);
    auto *tokenEdit = new QLineEdit(name.isEmpty() ? QString() : m_tokens->token(name), &dialog);
    tokenEdit->setEchoMode(QLineEdit::Password);
    form->addRow(tr("&Name:"), nameEdit);
    urlEdit->setPlaceholderText(tr("http://127.0.0.1:8099 or unix:/run/berth/admin.sock"));
    urlEdit->setToolTip(tr("The admin API: http(s)://HOST:PORT, or its unix socket ([admin] unix) "
                           "as unix:/PATH or /PATH"));
    form->addRow(tr("Admin &URL:"), urlEdit);
    form->addRow(tr("&Token:"), tokenEdit);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
    auto checkUrl = [buttons, urlEdit] {
        buttons->button(QDialogButtonBox::Ok)->setEnabled(isServerAddress(urlEdit->text()));
    };
    connect(urlEdit, &QLineEdit::textChanged, &dialog, checkUrl);
    checkUrl();
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    form->addRow(buttons);
    if (dialog.exec() != QDialog::Accepted || nameEdit->text().trimmed().isEmpty())
        return;
    if (!name.isEmpty() && name != nameEdit->text().trimmed()) {
        m_servers.remove(name);
        m_tokens->removeToken(name);
    }
    addServer({nameEdit->text().trimmed(), urlEdit->text().trimmed()}, tokenEdit->text().trimmed());
}

ServerTab *MainWindow::openServer(const QString &name)
{
    const ServerEntry *entry = m_servers.find(name);
    if (!entry)
        return nullptr;
    return openServer(entry->name, entry->url, m_tokens->token(name));
}

ServerTab *MainWindow::openServer(const QString &name, const QString &url, const QString &token)
{
    for (int i = 0; i < m_tabs->count(); ++i) {
        auto *tab = qobject_cast<ServerTab *>(m_tabs->widget(i));
        if (tab && tab->name() == name) {
            m_tabs->setCurrentIndex(i);
            return tab;
        }
    }
    auto *tab = new ServerTab(name, clientFactory(url, token), m_tabs);
    const int index = m_tabs->addTab(tab, QIcon(u":/icons/stale.svg"_s), name);
    m_tabs->setTabToolTip(index, url);
    connect(tab, &ServerTab::staleChanged, this, [this, tab](bool stale) {
        const int i = m_tabs->indexOf(tab);
        if (i >= 0)
            m_tabs->setTabIcon(i, QIcon(stale ? u":/icons/stale.svg"_s : u":/icons/live.svg"_s));
    });
    m_tabs->setCurrentIndex(index);
    return tab;
}

void MainWindow::openConfigFile()
{
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open configuration"), QString(),
                                     tr("Berth configuration (*.conf *.ini);;All files (*)"));
    if (!path.isEmpty())
        runLocal(path);
}

void MainWindow::runLocal(const QString &configFile)
{
    const Config::Config config = Config::Config::load({configFile});
    if (!config.getBool(u"admin"_s, u"enabled"_s)) {
        QMessageBox::warning(this, tr("Open config file"),
                             tr("%1 has no [admin] section with enabled = yes: the console could "
                                "not reach the server it starts.")
                                 .arg(configFile));
        return;
    }
    const QString unixPath = config.getPath(u"admin"_s, u"unix"_s);
    const QString url = !unixPath.isEmpty()
                            ? u"unix:"_s + unixPath
                            : u"http://%1:%2"_s.arg(config.getString(u"admin"_s, u"ip"_s))
                                  .arg(config.getInt(u"admin"_s, u"port"_s));
    const QString tokenFile = config.getPath(u"admin"_s, u"token_file"_s);
    if (m_local && m_local->state() != QProcess::NotRunning) {
        m_local->terminate();
        m_local->waitForFinished(5000);
    }
    delete m_local;
    m_local = new QProcess(this);
    m_local->setProcessChannelMode(QProcess::MergedChannels);
    connect(m_local, &QProcess::readyRead, this, [this] {
        m_localOutput->appendPlainText(QString::fromUtf8(m_local->readAll()).trimmed());
    });
    connect(m_local, &QProcess::finished, this, [this](int code) {
        m_localOutput->appendPlainText(tr("berthd exited with status %1").arg(code));
    });
    QString berthd = m_settings->value(u"berthd"_s).toString();
    if (berthd.isEmpty()) {
        const QString sibling = QDir(QApplication::applicationDirPath()).filePath(u"berthd"_s);
        berthd = QFileInfo::exists(sibling) ? sibling : u"berthd"_s;
    }
    m_localOutput->parentWidget()->show();
    m_localOutput->appendPlainText(u"$ %1 run -c %2"_s.arg(berthd, configFile));
    m_local->start(berthd, {u"run"_s, u"-c"_s, configFile});
    // berthd writes the token file (an admin token) when it is missing; wait for it.
    auto *wait = new QTimer(this);
    auto tries = std::make_shared<int>(0);
    connect(wait, &QTimer::timeout, this, [this, wait, tries, tokenFile, url, configFile] {
        QFile file(tokenFile);
        QString token;
        if (file.open(QIODevice::ReadOnly)) {
            for (const QByteArray &line : file.readAll().split('\n')) {
                const QList<QByteArray> parts = line.simplified().split(' ');
                if (parts.size() >= 2 && !line.startsWith('#') && parts[1] == "admin") {
                    token = QString::fromUtf8(parts[0]);
                    break;
                }
            }
        }
        if (!token.isEmpty() || ++*tries > 30) {
            wait->deleteLater();
            if (token.isEmpty())
                m_localOutput->appendPlainText(tr("No admin token in %1.").arg(tokenFile));
            else
                openServer(tr("local: %1").arg(QFileInfo(configFile).fileName()), url, token);
        }
    });
    wait->start(500);
}

} // namespace Berth::Console
