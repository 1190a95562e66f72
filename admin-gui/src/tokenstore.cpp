#include "tokenstore.h"

#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <QStandardPaths>
#include <QTimer>

#ifdef BERTH_HAVE_KEYCHAIN
#include <qt6keychain/keychain.h>
#endif

namespace Berth::Console {

using namespace Qt::StringLiterals;

namespace {

const QString Service = u"berth-admin"_s;

#ifdef BERTH_HAVE_KEYCHAIN
// QtKeychain jobs are asynchronous; the console asks rarely (opening a server), so it waits for
// the answer, bounded: a keyring that does not answer in 3 s counts as absent.
bool runJob(QKeychain::Job *job)
{
    QEventLoop loop;
    bool done = false;
    QObject::connect(job, &QKeychain::Job::finished, &loop, [&] {
        done = true;
        loop.quit();
    });
    QTimer::singleShot(3000, &loop, &QEventLoop::quit);
    job->setAutoDelete(false);
    job->start();
    if (!done)
        loop.exec();
    return done && job->error() == QKeychain::NoError;
}
#endif

} // namespace

TokenStore::TokenStore(Backend backend, const QString &directory)
    : m_backend(backend)
{
    QString dir = directory;
    if (dir.isEmpty())
        dir = QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation);
    m_file = QDir(dir).filePath(u"tokens.json"_s);
}

QString TokenStore::token(const QString &server) const
{
    QString value;
    if (keyringRead(server, &value))
        return value;
    return fileRead(server);
}

bool TokenStore::setToken(const QString &server, const QString &token)
{
    if (keyringWrite(server, token)) {
        m_lastBackend = u"keyring"_s;
        // A token that moved to the keyring leaves the file.
        if (!fileRead(server).isEmpty())
            fileWrite(server, QString());
        return true;
    }
    m_lastBackend = u"file"_s;
    return fileWrite(server, token);
}

void TokenStore::removeToken(const QString &server)
{
    keyringRemove(server);
    fileWrite(server, QString());
}

bool TokenStore::keyringWrite(const QString &server, const QString &token)
{
#ifdef BERTH_HAVE_KEYCHAIN
    if (m_backend == Backend::Automatic) {
        QKeychain::WritePasswordJob job(Service);
        job.setKey(server);
        job.setTextData(token);
        return runJob(&job);
    }
#else
    Q_UNUSED(server);
    Q_UNUSED(token);
#endif
    return false;
}

bool TokenStore::keyringRead(const QString &server, QString *token) const
{
#ifdef BERTH_HAVE_KEYCHAIN
    if (m_backend == Backend::Automatic) {
        QKeychain::ReadPasswordJob job(Service);
        job.setKey(server);
        if (runJob(&job)) {
            *token = job.textData();
            return true;
        }
    }
#else
    Q_UNUSED(server);
    Q_UNUSED(token);
#endif
    return false;
}

void TokenStore::keyringRemove(const QString &server)
{
#ifdef BERTH_HAVE_KEYCHAIN
    if (m_backend == Backend::Automatic) {
        QKeychain::DeletePasswordJob job(Service);
        job.setKey(server);
        runJob(&job);
    }
#else
    Q_UNUSED(server);
#endif
}

QString TokenStore::fileRead(const QString &server) const
{
    QFile file(m_file);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(file.readAll()).object().value(server).toString();
}

bool TokenStore::fileWrite(const QString &server, const QString &token)
{
    QJsonObject all;
    {
        QFile file(m_file);
        if (file.open(QIODevice::ReadOnly))
            all = QJsonDocument::fromJson(file.readAll()).object();
    }
    if (token.isEmpty())
        all.remove(server);
    else
        all.insert(server, token);
    QDir().mkpath(QFileInfo(m_file).absolutePath());
    QSaveFile file(m_file);
    if (!file.open(QIODevice::WriteOnly))
        return false;
    // Owner only, set before any token is written.
    file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    file.write(QJsonDocument(all).toJson());
    if (!file.commit())
        return false;
    return QFile::setPermissions(m_file, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
}

} // namespace Berth::Console
