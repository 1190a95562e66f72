#pragma once

#include "connectionfactory.h"
#include "serverlist.h"
#include "tokenstore.h"

#include <QMainWindow>

class QListWidget;
class QPlainTextEdit;
class QProcess;
class QSettings;
class QTabWidget;

namespace Berth::Console {

class FleetPage;
class ServerTab;

// The console's window: the server list on the left (name, URL; tokens in the TokenStore),
// one tab per open server, "Open config file…" running a local `berthd run`.
class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    MainWindow(QSettings *settings, TokenStore *tokens, QWidget *parent = nullptr);
    ~MainWindow() override;

    // Opens (or shows) a tab for a server of the list.
    ServerTab *openServer(const QString &name);
    // Opens a tab for a server not in the list (command line, local server).
    ServerTab *openServer(const QString &name, const QString &url, const QString &token);
    QTabWidget *tabs() const { return m_tabs; }
    FleetPage *fleet() const { return m_fleet; }
    ServerList &servers() { return m_servers; }
    void addServer(const ServerEntry &entry, const QString &token);
    // Starts `berthd run -c FILE` and connects to its admin API.
    void runLocal(const QString &configFile);

    static ConnectionFactory clientFactory(const QString &url, const QString &token);
    // What the server dialog accepts: http(s)://HOST[:PORT], or the admin API's unix socket as
    // unix:/PATH or /PATH ([admin] unix).
    static bool isServerAddress(const QString &url);

private:
    void editServer(const QString &name);
    void refreshList();
    void openConfigFile();

    QSettings *m_settings;
    TokenStore *m_tokens;
    ServerList m_servers;
    QListWidget *m_list;
    QTabWidget *m_tabs;
    FleetPage *m_fleet;
    QPlainTextEdit *m_localOutput;
    QProcess *m_local = nullptr;
};

} // namespace Berth::Console
