#include "sqlsessionstore.h"

#include "sqlkeystore.h"

#include "crypto/cryptoutil.h"
#include "runtime/offloadpool.h"

#include <QAtomicInteger>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QLoggingCategory>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QUrl>
#include <QUrlQuery>
#include <QVariant>

#include <limits>

Q_DECLARE_LOGGING_CATEGORY(lcSession)

namespace Berth::Sessions {

using namespace Qt::StringLiterals;

namespace {

QAtomicInteger<quint64> s_connectionCounter;
QAtomicInteger<quint64> s_threadCounter;
// Which thread this is, for its QtSql connections: unlike a QThread pointer, never reused.
thread_local quint64 t_threadId = 0;

quint64 currentThreadId()
{
    if (!t_threadId)
        t_threadId = ++s_threadCounter;
    return t_threadId;
}

// At most one warning about undecryptable rows this often per store (per thread): a node left
// on an old configuration after a rotation would otherwise write one per request.
constexpr qint64 DecryptWarningIntervalMs = 10 * 1000;

QString queryError(const QSqlQuery &query)
{
    return query.lastError().text();
}

// AppCipher::encrypt() authenticates the whole plaintext (and its keynum) but takes no associated
// data of the caller's, so the binding to the row travels inside the plaintext, where GCM's tag
// covers it: a purpose and version, then the row's id (the SHA-256 of the session id), checked
// after decryption. Without it, a database writer could copy a logged-in user's data into a row
// whose cookie they hold and be that user; with it, the copy does not decrypt for that row.
// The purpose keeps session data from being accepted as anything else the cipher encrypts.
QByteArray bindingPrefix(const QByteArray &key)
{
    return QByteArrayLiteral("berth.session.v1 ") + key + '\n';
}

// The keynum an AppCipher output names, or -1 when it does not start with "digits:".
int keynumOf(QByteArrayView stored)
{
    const qsizetype colon = stored.indexOf(':');
    if (colon <= 0 || colon > 10)
        return -1;
    qint64 keynum = 0;
    for (const char c : stored.first(colon)) {
        if (c < '0' || c > '9')
            return -1;
        keynum = keynum * 10 + (c - '0');
    }
    return keynum > std::numeric_limits<int>::max() ? -1 : int(keynum);
}

} // namespace

QString StoreLocation::describe() const
{
    if (kind == Kind::Sqlite)
        return u"sqlite:"_s + path;
    QString text = u"postgresql://"_s;
    if (!user.isEmpty())
        text += user + u'@';
    return text + host + u':' + QString::number(port) + u'/' + database;
}

std::optional<StoreLocation> parseStoreLocation(const QString &text, const QString &baseDir,
                                                QString *error)
{
    StoreLocation location;
    if (text.startsWith(u"sqlite:"_s)) {
        QString path = text.mid(7);
        if (path.isEmpty()) {
            *error = u"'sqlite:' needs a file name, such as sqlite:sessions.db"_s;
            return std::nullopt;
        }
        if (path == u":memory:"_s) {
            // Each thread would get its own empty database: sessions would come and go at
            // random between requests, which is worse than refusing.
            *error = u"an in-memory SQLite store can't be shared between threads"_s;
            return std::nullopt;
        }
        if (path.startsWith(u"~/"_s))
            path = QDir::homePath() + path.mid(1);
        location.path = QDir::cleanPath(QDir(baseDir).absoluteFilePath(path));
        return location;
    }
    if (text.startsWith(u"postgresql://"_s) || text.startsWith(u"postgres://"_s)) {
        const QUrl url(text, QUrl::StrictMode);
        if (!url.isValid() || url.host().isEmpty()) {
            *error = u"'%1' is not a postgresql://user:password@host:port/database URL"_s.arg(
                QUrl(text).toString(QUrl::RemovePassword));
            return std::nullopt;
        }
        location.kind = StoreLocation::Kind::Postgresql;
        location.host = url.host();
        location.port = url.port(5432);
        location.user = url.userName();
        location.password = url.password();
        location.database = url.path().mid(1);
        if (location.database.isEmpty() || location.database.contains(u'/')) {
            *error = u"the URL must name one database: postgresql://host:port/DATABASE"_s;
            return std::nullopt;
        }
        // Only libpq options that make sense here; a connect timeout by default, because a
        // connect attempt holds an offload thread (and the requests waiting on it).
        QStringList options;
        bool timeoutGiven = false;
        const QUrlQuery query(url);
        for (const auto &[name, value] : query.queryItems(QUrl::FullyDecoded)) {
            static const QStringList allowed{u"sslmode"_s, u"connect_timeout"_s,
                                             u"application_name"_s, u"sslrootcert"_s};
            if (!allowed.contains(name)) {
                *error =
                    u"unsupported option '%1' (use one of: %2)"_s.arg(name, allowed.join(u", "_s));
                return std::nullopt;
            }
            if (value.contains(u';') || value.contains(u' ')) {
                *error = u"option '%1' has an invalid value"_s.arg(name);
                return std::nullopt;
            }
            timeoutGiven = timeoutGiven || name == u"connect_timeout"_s;
            options << name + u'=' + value;
        }
        if (!timeoutGiven)
            options << u"connect_timeout=5"_s;
        location.connectOptions = options.join(u';');
        return location;
    }
    *error = u"'%1' is not a store: use sqlite:FILE or postgresql://user@host:port/database"_s.arg(
        text.left(80));
    return std::nullopt;
}

SqlSessionBackend::SqlSessionBackend(StoreLocation location, int keynum, QByteArray secret,
                                     Crypto::AppCipher::Clock cipherClock)
    : m_location(std::move(location))
    , m_connectionPrefix(u"berth.session.%1"_s.arg(++s_connectionCounter))
    , m_keynum(keynum)
    , m_secret(std::move(secret))
    , m_cipherClock(std::move(cipherClock))
{}

SqlSessionBackend::~SqlSessionBackend()
{
    // The key stores hold handles on their connections; removeDatabase() wants none left.
    m_cipher.reset();
    for (auto &[id, connection] : m_connections)
        connection->keyStore.reset();
    // removeDatabase() deletes the driver, which closes the connection. Asking for a handle
    // first (to close() it) would warn: the backend is destroyed by whichever thread lets it
    // go last, not the offload threads that opened the connections.
    for (auto &[id, connection] : m_connections)
        QSqlDatabase::removeDatabase(connection->name);
}

SqlSessionBackend::Connection &SqlSessionBackend::connection()
{
    const quint64 id = currentThreadId();
    QMutexLocker lock(&m_mutex);
    std::unique_ptr<Connection> &slot = m_connections[id];
    if (!slot) {
        slot = std::make_unique<Connection>();
        slot->name = m_connectionPrefix + u'.' + QString::number(id);
    }
    return *slot;
}

QString SqlSessionBackend::driverName(const StoreLocation &location)
{
    return location.kind == StoreLocation::Kind::Sqlite ? u"QSQLITE"_s : u"QPSQL"_s;
}

bool SqlSessionBackend::connect(QString *error)
{
    const QString &connectionName = connection().name;
    if (!QSqlDatabase::contains(connectionName)) {
        const QString driver = driverName(m_location);
        if (!QSqlDatabase::isDriverAvailable(driver)) {
            *error = u"the Qt SQL driver %1 is not installed"_s.arg(driver);
            return false;
        }
        QSqlDatabase db = QSqlDatabase::addDatabase(driver, connectionName);
        if (m_location.kind == StoreLocation::Kind::Sqlite) {
            db.setDatabaseName(m_location.path);
            // Several threads, workers and even servers may share the file: wait for a lock
            // rather than failing at once.
            db.setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=5000"_s);
        } else {
            db.setHostName(m_location.host);
            db.setPort(m_location.port);
            db.setDatabaseName(m_location.database);
            db.setUserName(m_location.user);
            db.setPassword(m_location.password);
            db.setConnectOptions(m_location.connectOptions);
        }
    }
    QSqlDatabase db = QSqlDatabase::database(connectionName, false);
    if (db.isOpen())
        return true;
    if (m_location.kind == StoreLocation::Kind::Sqlite) {
        const QFileInfo info(m_location.path);
        if (!QDir().mkpath(info.absolutePath())) {
            *error = u"can't create the directory %1"_s.arg(info.absolutePath());
            return false;
        }
        if (!info.exists()) {
            // Session ids are credentials: the file is created readable by the server's user
            // only (SQLite gives its -wal and -shm files the same mode).
            QFile file(m_location.path);
            if (file.open(QIODevice::WriteOnly | QIODevice::NewOnly))
                file.close();
            QFile::setPermissions(m_location.path, QFile::ReadOwner | QFile::WriteOwner);
        }
    }
    if (!db.open()) {
        *error = u"can't open %1: %2"_s.arg(m_location.describe(), db.lastError().text());
        return false;
    }
    if (m_location.kind == StoreLocation::Kind::Sqlite) {
        // WAL lets readers (other threads, other processes) go on while one writes.
        QSqlQuery pragma(db);
        pragma.exec(u"PRAGMA journal_mode=WAL"_s);
        pragma.exec(u"PRAGMA synchronous=NORMAL"_s);
    }
    return true;
}

bool SqlSessionBackend::createTable(QString *error)
{
    QSqlDatabase db = database();
    QSqlQuery query(db);
    const bool created =
        query.exec(u"CREATE TABLE IF NOT EXISTS berth_sessions (id TEXT PRIMARY KEY, "
                   u"data TEXT NOT NULL, csrf TEXT NOT NULL, created BIGINT NOT NULL, "
                   u"last_seen BIGINT NOT NULL)"_s) &&
        query.exec(u"CREATE INDEX IF NOT EXISTS berth_sessions_last_seen "
                   u"ON berth_sessions (last_seen)"_s);
    if (created)
        return true;
    // Two PostgreSQL nodes creating the table at the same moment: one of them loses the race
    // with a unique-violation on the catalog even with IF NOT EXISTS. The table is there then.
    const QString firstError = queryError(query);
    QSqlQuery probe(db);
    if (probe.exec(u"SELECT 1 FROM berth_sessions WHERE 1 = 0"_s))
        return true;
    *error =
        u"can't create the berth_sessions table in %1: %2"_s.arg(m_location.describe(), firstError);
    return false;
}

QSqlDatabase SqlSessionBackend::database()
{
    return QSqlDatabase::database(connection().name, false);
}

bool SqlSessionBackend::openDatabase(QString *error)
{
    if (!connect(error) || !createTable(error))
        return false;
    Connection &own = connection();
    if (!own.keyStore)
        own.keyStore = std::make_unique<SqlKeyStore>(database());
    return true;
}

Crypto::KeyStore *SqlSessionBackend::keyStore()
{
    return connection().keyStore.get();
}

bool SqlSessionBackend::openCipher(QString *error)
{
    // Once open, the cipher stays: it holds every key it needs in memory, and reconnecting to
    // the database changes none of them. One for every thread (AppCipher is thread-safe), read
    // from the key table on the connection of the thread that opens it first.
    QMutexLocker lock(&m_cipherMutex);
    if (m_cipher)
        return true;
    auto cipher =
        std::make_unique<Crypto::AppCipher>(m_keynum, m_secret, keyStore(), m_cipherClock);
    QString why;
    if (!cipher->open(&why)) {
        // Refusing is the point: encrypting under a key the other nodes (and the chain) don't
        // know would strand data, and a secret that does not match may be an attacker's.
        *error = u"the session cipher (keynum %1) can't open on %2: %3"_s.arg(
            QString::number(m_keynum), m_location.describe(), why);
        return false;
    }
    m_cipher = std::move(cipher);
    m_cipherReady.store(m_cipher.get(), std::memory_order_release);
    return true;
}

bool SqlSessionBackend::open(QString *error)
{
    Connection &own = connection();
    if (own.ready && database().isOpen())
        return true;
    own.ready = false;
    if (!openDatabase(error) || !openCipher(error))
        return false;
    own.ready = true;
    return true;
}

QByteArray SqlSessionBackend::seal(const QByteArray &key, const QByteArray &data) const
{
    const Crypto::AppCipher *cipher = this->cipher();
    if (!cipher)
        return {};
    return cipher->encrypt(bindingPrefix(key) + data);
}

std::optional<QByteArray> SqlSessionBackend::unseal(const QByteArray &key,
                                                    const QByteArray &stored) const
{
    const Crypto::AppCipher *cipher = this->cipher();
    if (!cipher)
        return std::nullopt;
    std::optional<QByteArray> plain = cipher->decrypt(stored);
    const QByteArray prefix = bindingPrefix(key);
    // Authentic (the tag passed) but made for another row: refused like a forgery.
    if (!plain || !plain->startsWith(prefix))
        return std::nullopt;
    return plain->sliced(prefix.size());
}

void SqlSessionBackend::warnUndecryptable(const QByteArray &stored)
{
    {
        QMutexLocker lock(&m_mutex);
        if (m_lastDecryptWarning.isValid() &&
            m_lastDecryptWarning.elapsed() < DecryptWarningIntervalMs)
            return;
        m_lastDecryptWarning.start();
    }
    const int keynum = keynumOf(stored);
    const Crypto::AppCipher *cipher = this->cipher();
    if (cipher && keynum > cipher->keynum()) {
        // The normal sign of a node that was not restarted after a key change.
        qCWarning(lcSession).noquote()
            << u"session data in %1 is encrypted under key %2, which this process does not "
               u"have (it is configured with keynum %3): restart it with the newest [sessions] "
               u"keynum and secret; until then those sessions look expired here"_s.arg(
                   m_location.describe(), QString::number(keynum), QString::number(m_keynum));
        return;
    }
    qCWarning(lcSession).noquote()
        << u"session data in %1 does not decrypt for its row (altered or moved in the database, "
           u"or written without encryption): the session is treated as gone"_s.arg(
               m_location.describe());
}

bool SqlSessionBackend::exec(QSqlQuery &query, QString *error)
{
    if (query.exec())
        return true;
    *error = queryError(query);
    const QSqlError::ErrorType type = query.lastError().type();
    QSqlDatabase db = database();
    if (type == QSqlError::ConnectionError || !db.isOpen()) {
        db.close();
        connection().ready = false;
    }
    return false;
}

bool SqlSessionBackend::insert(const SessionRecord &record, QString *error)
{
    if (!open(error))
        return false;
    const QByteArray sealed = seal(record.key, record.data);
    if (sealed.isEmpty()) {
        *error = u"can't encrypt the session data"_s;
        return false;
    }
    QSqlQuery query(database());
    query.prepare(u"INSERT INTO berth_sessions (id, data, csrf, created, last_seen) "
                  u"VALUES (?, ?, ?, ?, ?)"_s);
    query.addBindValue(QString::fromLatin1(record.key));
    query.addBindValue(QString::fromLatin1(sealed));
    query.addBindValue(QString::fromLatin1(record.csrf));
    query.addBindValue(record.created);
    query.addBindValue(record.lastSeen);
    return exec(query, error);
}

std::optional<SessionRecord> SqlSessionBackend::find(const QByteArray &key, QString *error)
{
    if (!open(error))
        return std::nullopt;
    QSqlQuery query(database());
    query.setForwardOnly(true);
    query.prepare(u"SELECT data, csrf, created, last_seen FROM berth_sessions WHERE id = ?"_s);
    query.addBindValue(QString::fromLatin1(key));
    if (!exec(query, error) || !query.next())
        return std::nullopt;
    // Ciphertext is ASCII; anything else fails to decrypt below.
    const QByteArray stored = query.value(0).toString().toLatin1();
    SessionRecord record;
    record.key = key;
    record.csrf = query.value(1).toString().toLatin1();
    record.created = query.value(2).toLongLong();
    record.lastSeen = query.value(3).toLongLong();
    query.finish();
    std::optional<QByteArray> data = unseal(key, stored);
    if (!data) {
        // Not a store error (no 503): the session is gone for this request, and a new one
        // takes its place. The row is left alone: a node that is merely behind on keys must
        // not delete sessions the others can read; it expires like any other.
        warnUndecryptable(stored);
        return std::nullopt;
    }
    record.data = std::move(*data);
    if (keynumOf(stored) < cipher()->activeKeynum()) {
        // Written under an older key: re-encrypt under the active one, so that after a rotation
        // the old key soon protects no live session. Only if the row is unchanged since it was
        // read (another request may have saved it meanwhile); best effort.
        const QByteArray resealed = seal(key, record.data);
        QSqlQuery update(database());
        update.prepare(u"UPDATE berth_sessions SET data = ? WHERE id = ? AND data = ?"_s);
        update.addBindValue(QString::fromLatin1(resealed));
        update.addBindValue(QString::fromLatin1(key));
        update.addBindValue(QString::fromLatin1(stored));
        QString ignored;
        if (!resealed.isEmpty() && !exec(update, &ignored))
            qCDebug(lcSession).noquote() << u"can't re-encrypt a session: "_s + ignored;
    }
    return record;
}

bool SqlSessionBackend::updateData(const QByteArray &key, const QByteArray &data, qint64 lastSeen,
                                   QString *error)
{
    if (!open(error))
        return false;
    const QByteArray sealed = seal(key, data);
    if (sealed.isEmpty()) {
        *error = u"can't encrypt the session data"_s;
        return false;
    }
    QSqlQuery query(database());
    query.prepare(u"UPDATE berth_sessions SET data = ?, last_seen = ? WHERE id = ?"_s);
    query.addBindValue(QString::fromLatin1(sealed));
    query.addBindValue(lastSeen);
    query.addBindValue(QString::fromLatin1(key));
    if (!exec(query, error))
        return false;
    return query.numRowsAffected() > 0;
}

bool SqlSessionBackend::touch(const QByteArray &key, qint64 lastSeen, QString *error)
{
    if (!open(error))
        return false;
    QSqlQuery query(database());
    // Never moves last_seen backwards (another node with a slightly slower clock).
    query.prepare(u"UPDATE berth_sessions SET last_seen = ? WHERE id = ? AND last_seen < ?"_s);
    query.addBindValue(lastSeen);
    query.addBindValue(QString::fromLatin1(key));
    query.addBindValue(lastSeen);
    return exec(query, error);
}

bool SqlSessionBackend::rekey(const QByteArray &oldKey, const QByteArray &newKey,
                              const QByteArray &newCsrf, const QByteArray &data, qint64 lastSeen,
                              QString *error)
{
    if (!open(error))
        return false;
    // The data is bound to the row's id, so it moves re-encrypted for the new one.
    const QByteArray sealed = seal(newKey, data);
    if (sealed.isEmpty()) {
        *error = u"can't encrypt the session data"_s;
        return false;
    }
    // One statement, so the old id stops working at the same instant the new one starts.
    QSqlQuery query(database());
    query.prepare(
        u"UPDATE berth_sessions SET id = ?, csrf = ?, data = ?, last_seen = ? WHERE id = ?"_s);
    query.addBindValue(QString::fromLatin1(newKey));
    query.addBindValue(QString::fromLatin1(newCsrf));
    query.addBindValue(QString::fromLatin1(sealed));
    query.addBindValue(lastSeen);
    query.addBindValue(QString::fromLatin1(oldKey));
    if (!exec(query, error))
        return false;
    return query.numRowsAffected() > 0;
}

bool SqlSessionBackend::remove(const QByteArray &key, QString *error)
{
    if (!open(error))
        return false;
    QSqlQuery query(database());
    query.prepare(u"DELETE FROM berth_sessions WHERE id = ?"_s);
    query.addBindValue(QString::fromLatin1(key));
    return exec(query, error);
}

int SqlSessionBackend::purge(qint64 lastSeenBefore, QString *error)
{
    if (!open(error))
        return -1;
    QSqlQuery query(database());
    query.prepare(u"DELETE FROM berth_sessions WHERE last_seen < ?"_s);
    query.addBindValue(lastSeenBefore);
    if (!exec(query, error))
        return -1;
    return query.numRowsAffected();
}

SqlSessionStore::SqlSessionStore(StoreLocation location, int keynum, QByteArray secret,
                                 Crypto::AppCipher::Clock cipherClock, Core::OffloadPool *pool)
    : m_backend(std::make_shared<SqlSessionBackend>(std::move(location), keynum, std::move(secret),
                                                    std::move(cipherClock)))
    , m_pool(pool)
{}

SqlSessionStore::SqlSessionStore(std::shared_ptr<SqlSessionBackend> backend,
                                 Core::OffloadPool *pool)
    : m_backend(std::move(backend))
    , m_pool(pool)
{}

SqlSessionStore::~SqlSessionStore() = default;

std::shared_ptr<SqlSessionBackend> SqlSessionBackend::shared(const StoreLocation &location,
                                                             int keynum, const QByteArray &secret)
{
    static QMutex mutex;
    static QHash<QByteArray, std::weak_ptr<SqlSessionBackend>> backends;
    // Everything that makes two backends differ; hashed, so no secret is kept as a key.
    QByteArray what = location.describe().toUtf8();
    for (const QString &part : {location.password, location.connectOptions})
        what += '\n' + part.toUtf8();
    what += '\n' + QByteArray::number(keynum) + '\n' + secret;
    const QByteArray key = Crypto::sha256(what);
    QMutexLocker lock(&mutex);
    if (std::shared_ptr<SqlSessionBackend> backend = backends.value(key).lock())
        return backend;
    auto backend = std::make_shared<SqlSessionBackend>(location, keynum, secret);
    backends.removeIf([](const auto &it) { return it.value().expired(); });
    backends.insert(key, backend);
    return backend;
}

Core::OffloadPool &SqlSessionStore::pool()
{
    if (m_pool)
        return *m_pool;
    if (!m_ownPool)
        m_ownPool = std::make_unique<Core::OffloadPool>();
    return *m_ownPool;
}

template <typename Call> bool SqlSessionStore::run(Call call, Done done)
{
    // Nobody waits for a call without a callback (a touch, the delete of an expired row):
    // housekeeping, which must not take the queue places requests need.
    const auto admission =
        done ? Core::OffloadPool::Admission::Request : Core::OffloadPool::Admission::Background;
    return pool().submit(
        [backend = m_backend, call = std::move(call)] {
            QString error;
            const bool ok = call(*backend, &error);
            return std::pair<bool, QString>(ok, error);
        },
        [done = std::move(done)](std::pair<bool, QString> result) {
            if (done)
                done(result.first, result.second);
        },
        admission);
}

bool SqlSessionStore::open(Done done)
{
    return run([](SqlSessionBackend &b, QString *error) { return b.open(error); }, std::move(done));
}

bool SqlSessionStore::insert(const SessionRecord &record, Done done)
{
    return run([record](SqlSessionBackend &b, QString *error) { return b.insert(record, error); },
               std::move(done));
}

bool SqlSessionStore::find(const QByteArray &key, Found done)
{
    struct Result
    {
        std::optional<SessionRecord> record;
        QString error;
    };
    return pool().submit(
        [backend = m_backend, key] {
            Result result;
            result.record = backend->find(key, &result.error);
            return result;
        },
        [done = std::move(done)](Result result) {
            if (done)
                done(std::move(result.record), result.error);
        });
}

bool SqlSessionStore::updateData(const QByteArray &key, const QByteArray &data, qint64 lastSeen,
                                 Done done)
{
    return run(
        [key, data, lastSeen](SqlSessionBackend &b, QString *error) {
            return b.updateData(key, data, lastSeen, error);
        },
        std::move(done));
}

bool SqlSessionStore::touch(const QByteArray &key, qint64 lastSeen, Done done)
{
    return run([key, lastSeen](SqlSessionBackend &b,
                               QString *error) { return b.touch(key, lastSeen, error); },
               std::move(done));
}

bool SqlSessionStore::rekey(const QByteArray &oldKey, const QByteArray &newKey,
                            const QByteArray &newCsrf, const QByteArray &data, qint64 lastSeen,
                            Done done)
{
    return run(
        [oldKey, newKey, newCsrf, data, lastSeen](SqlSessionBackend &b, QString *error) {
            return b.rekey(oldKey, newKey, newCsrf, data, lastSeen, error);
        },
        std::move(done));
}

bool SqlSessionStore::remove(const QByteArray &key, Done done)
{
    return run([key](SqlSessionBackend &b, QString *error) { return b.remove(key, error); },
               std::move(done));
}

bool SqlSessionStore::purge(qint64 lastSeenBefore, Purged done)
{
    // Housekeeping, whether or not someone wants the count: never in the places requests need.
    return pool().submit(
        [backend = m_backend, lastSeenBefore] {
            QString error;
            const int count = backend->purge(lastSeenBefore, &error);
            return std::pair<int, QString>(count, error);
        },
        [done = std::move(done)](std::pair<int, QString> result) {
            if (done)
                done(result.first, result.second);
        },
        Core::OffloadPool::Admission::Background);
}

} // namespace Berth::Sessions
