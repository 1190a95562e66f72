#include "berthdundertest.h"

#include <QDir>
#include <QFile>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <unistd.h>

using namespace Qt::StringLiterals;

namespace Berth::Tests {

quint16 freePort()
{
    QTcpServer server;
    server.listen(QHostAddress::LocalHost, 0);
    return server.serverPort();
}

bool canConnect(quint16 port)
{
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, port);
    return socket.waitForConnected(200);
}

bool writeFile(const QString &path, const QByteArray &text)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(text) == text.size();
}

BerthdUnderTest::BerthdUnderTest(TestServerConfig config)
    : m_config(std::move(config))
{
    if (m_config.port == 0)
        m_config.port = freePort();
    if (m_config.adminPort == 0 && !m_config.adminOnUnixSocket)
        m_config.adminPort = freePort();
}

BerthdUnderTest::~BerthdUnderTest()
{
    stop();
}

QString BerthdUnderTest::configPath() const
{
    return m_dir.filePath(u"berth.conf"_s);
}

QString BerthdUnderTest::adminSocket() const
{
    return m_config.adminOnUnixSocket ? m_dir.filePath(u"admin.sock"_s) : QString();
}

QString BerthdUnderTest::adminUrl() const
{
    if (m_config.adminOnUnixSocket)
        return u"unix:"_s + adminSocket();
    return u"http://127.0.0.1:%1"_s.arg(m_config.adminPort);
}

bool BerthdUnderTest::writeConfig(QString *error)
{
    if (!m_dir.isValid()) {
        *error = u"no temporary directory: "_s + m_dir.errorString();
        return false;
    }
    const QString admin = m_config.adminOnUnixSocket ? u"unix = %1"_s.arg(adminSocket())
                                                     : u"port = %1"_s.arg(m_config.adminPort);
    // CI runs as root; berthd refuses that unless told.
    const QString root = ::geteuid() == 0 ? u"allow_root = yes\n"_s : QString();
    const QString text = uR"([server]
name = %1
ip = 127.0.0.1
port = %2
workers = %3
graceful_timeout = 2s
pid_file = %4/berthd.pid
log_dir = %4/logs
%5
[routes:line]
/hb = hb

[app:hb]
call = berth.heartbeat

[admin]
enabled = yes
%6
token_file = %4/admin.tokens
)"_s.arg(m_config.name)
                             .arg(m_config.port)
                             .arg(m_config.workers)
                             .arg(m_dir.path(), root, admin);
    if (!QDir(m_dir.path()).mkpath(u"logs"_s) || !writeFile(configPath(), text.toUtf8())) {
        *error = u"cannot write "_s + configPath();
        return false;
    }
    const QString tokens = m_dir.filePath(u"admin.tokens"_s);
    if (!m_config.tokens.isEmpty() && !writeFile(tokens, m_config.tokens.toUtf8())) {
        *error = u"cannot write "_s + tokens;
        return false;
    }
    return true;
}

bool BerthdUnderTest::start(const QString &berthdPath, QString *error)
{
    if (!writeConfig(error))
        return false;
    m_process.setProgram(berthdPath);
    m_process.setArguments({u"run"_s, u"-c"_s, configPath()});
    m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    m_process.start();
    if (!m_process.waitForStarted()) {
        *error = berthdPath + u": "_s + m_process.errorString();
        return false;
    }
    const auto ready = [this] {
        const bool admin = m_config.adminOnUnixSocket ? QFile::exists(adminSocket())
                                                      : canConnect(m_config.adminPort);
        return admin && canConnect(m_config.port);
    };
    if (QTest::qWaitFor([&] { return !isRunning() || ready(); }, 15'000) && isRunning())
        return true;
    *error = isRunning() ? u"berthd did not answer on its ports within 15 s"_s
                         : u"berthd exited with %1"_s.arg(m_process.exitCode());
    return false;
}

void BerthdUnderTest::stop()
{
    if (m_process.state() == QProcess::NotRunning)
        return;
    m_process.terminate();
    if (!m_process.waitForFinished(10'000)) {
        m_process.kill();
        m_process.waitForFinished(5'000);
    }
}

} // namespace Berth::Tests
