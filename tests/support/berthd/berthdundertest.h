#pragma once

#include <QByteArray>
#include <QProcess>
#include <QString>
#include <QTemporaryDir>

namespace Berth::Tests {

// A local port nobody listens on at the time of the call.
quint16 freePort();
// Whether something accepts a TCP connection on 127.0.0.1:port within 200 ms.
bool canConnect(quint16 port);
// Writes text to path whole; false if it could not.
bool writeFile(const QString &path, const QByteArray &text);

// The config a test server runs: 127.0.0.1:port, /hb = berth.heartbeat, and the admin API on
// adminPort (or on the unix socket dir/admin.sock) with its tokens in dir/admin.tokens.
struct TestServerConfig
{
    QString name = QString();
    int workers = 1;
    quint16 port = 0;      // 0: a free port
    quint16 adminPort = 0; // 0: a free port (unless adminOnUnixSocket)
    bool adminOnUnixSocket = false;
    // The admin.tokens file ("TOKEN ROLE [LABEL]" lines); empty: none is written and berthd
    // creates one itself.
    QString tokens = QString();
};

// A berthd child running TestServerConfig in a temporary directory of its own, for tests that
// drive a real server (the admin client, the console). Stopped (TERM, then KILL after 10 s) when
// destroyed.
class BerthdUnderTest final
{
public:
    explicit BerthdUnderTest(TestServerConfig config);
    ~BerthdUnderTest();
    BerthdUnderTest(const BerthdUnderTest &) = delete;
    BerthdUnderTest &operator=(const BerthdUnderTest &) = delete;

    // Writes the files (writeConfig()), starts berthdPath and waits up to 15 s for the HTTP
    // port and the admin API to answer. On failure *error says why.
    bool start(const QString &berthdPath, QString *error);
    // Writes dir/berth.conf, dir/logs and dir/admin.tokens only: for tests in which something
    // else (the console's "run local") starts the server.
    bool writeConfig(QString *error);
    void stop();

    bool isRunning() const { return m_process.state() == QProcess::Running; }
    qint64 pid() const { return m_process.processId(); }
    quint16 port() const { return m_config.port; }
    quint16 adminPort() const { return m_config.adminPort; }
    // http://127.0.0.1:ADMINPORT, or unix:DIR/admin.sock.
    QString adminUrl() const;
    QString adminSocket() const;
    QString configPath() const;
    QString dir() const { return m_dir.path(); }

private:
    QTemporaryDir m_dir;
    TestServerConfig m_config;
    QProcess m_process;
};

} // namespace Berth::Tests
