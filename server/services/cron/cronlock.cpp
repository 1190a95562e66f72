#include "cronlock.h"

#include "sessions/sqlsessionstore.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QLoggingCategory>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QSysInfo>

Q_LOGGING_CATEGORY(lcCronLock, "berth.cron.lock")

namespace Berth::Services {

using namespace Qt::StringLiterals;

namespace {
int s_counter = 0;
}

CronLock::CronLock(const QString &url)
    : m_url(url)
    , m_connection(u"berth.cron.lock.%1"_s.arg(++s_counter))
{
    m_thread.setObjectName(u"cron-lock"_s);
    m_worker = new QObject;
    m_worker->moveToThread(&m_thread);
    QObject::connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread.start();
}

CronLock::~CronLock()
{
    const QString name = m_connection;
    QMetaObject::invokeMethod(
        m_worker, [name] { QSqlDatabase::removeDatabase(name); }, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
}

bool CronLock::checkUrl(const QString &url, QString *why)
{
    if (!url.startsWith(u"postgresql://"_s) && !url.startsWith(u"postgres://"_s)) {
        *why =
            u"'%1' is not a postgresql://user:password@host:port/database URL"_s.arg(url.left(80));
        return false;
    }
    return Sessions::parseStoreLocation(url, QString(), why).has_value();
}

QString CronLock::jobKey(const Cron::Job &job)
{
    return QString::fromLatin1(
        QCryptographicHash::hash((job.schedule + u'\n' + job.command).toUtf8(),
                                 QCryptographicHash::Sha256)
            .toHex()
            .left(32));
}

void CronLock::claim(const Cron::Job &job, const QDateTime &slot, std::function<void(bool)> done)
{
    const QString key = jobKey(job);
    QMetaObject::invokeMethod(m_worker, [this, key, slot, done = std::move(done)] {
        if (!QSqlDatabase::contains(m_connection)) {
            QString error;
            const auto location = Sessions::parseStoreLocation(m_url, QString(), &error);
            QSqlDatabase db = QSqlDatabase::addDatabase(u"QPSQL"_s, m_connection);
            if (location) {
                db.setHostName(location->host);
                db.setPort(location->port);
                db.setDatabaseName(location->database);
                db.setUserName(location->user);
                db.setPassword(location->password);
                db.setConnectOptions(location->connectOptions);
            }
        }
        QSqlDatabase db = QSqlDatabase::database(m_connection, false);
        if (!db.isOpen() && !db.open()) {
            qCWarning(lcCronLock).noquote()
                << "cron lock: cannot connect, slot not run:" << db.lastError().text();
            done(false);
            return;
        }
        QSqlQuery query(db);
        if (!m_tableReady) {
            m_tableReady = query.exec(
                u"CREATE TABLE IF NOT EXISTS berth_cron_slots (job text NOT NULL, slot "
                "timestamptz NOT NULL, node text, taken_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (job, slot))"_s);
            if (m_tableReady)
                query.exec(
                    u"DELETE FROM berth_cron_slots WHERE slot < now() - interval '30 days'"_s);
        }
        query.prepare(u"INSERT INTO berth_cron_slots (job, slot, node) VALUES (?, ?, ?) "
                      "ON CONFLICT DO NOTHING"_s);
        query.addBindValue(key);
        query.addBindValue(slot.toUTC().toString(Qt::ISODate));
        query.addBindValue(QSysInfo::machineHostName() + u':' +
                           QString::number(QCoreApplication::applicationPid()));
        if (!query.exec()) {
            qCWarning(lcCronLock).noquote()
                << "cron lock: slot not run:" << query.lastError().text();
            db.close(); // reconnect next time
            m_tableReady = false;
            done(false);
            return;
        }
        done(query.numRowsAffected() == 1);
    });
}

} // namespace Berth::Services
