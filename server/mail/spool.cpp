#include "spool.h"

#include <config/config.h>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHostInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRandomGenerator>
#include <QTimeZone>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace Berth::Mail {

using namespace Qt::StringLiterals;

namespace {

constexpr qint64 MaxBackoffMs = 3600 * 1000;

QString newId()
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    const quint64 random = QRandomGenerator::system()->generate64();
    return now.toString(u"yyyyMMddHHmmsszzz"_s) + u'.' +
           QString::number(random & 0xffffffffffffull, 16).rightJustified(12, u'0');
}

bool isId(const QString &id)
{
    if (id.isEmpty() || id.size() > 64)
        return false;
    for (QChar c : id) {
        if (!(c.isDigit() || (c >= u'a' && c <= u'f') || c == u'.'))
            return false;
    }
    return !id.startsWith(u'.');
}

bool fsyncDirectory(const QString &dir)
{
    const int fd = ::open(QFile::encodeName(dir).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

QByteArray readAll(const QString &path, bool *exists = nullptr)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (exists)
            *exists = false;
        return {};
    }
    if (exists)
        *exists = true;
    return file.readAll();
}

QString errnoText(int error)
{
    return QString::fromLocal8Bit(std::strerror(error));
}

bool lockFailed(const QString &dir, QString *error)
{
    if (error)
        *error = u"cannot lock %1/lock: %2"_s.arg(dir, errnoText(errno));
    return false;
}

} // namespace

int QueueResult::httpStatus() const
{
    switch (error) {
    case QueueError::None:
        return 202;
    case QueueError::Invalid:
        return 400;
    case QueueError::DiskFull:
        return 507;
    case QueueError::Unavailable:
        return 503;
    }
    return 500;
}

QByteArray DeliveryState::toJson() const
{
    QJsonObject o;
    o.insert(u"attempts"_s, attempts);
    if (nextAttempt.isValid())
        o.insert(u"next_attempt"_s, nextAttempt.toUTC().toString(Qt::ISODateWithMs));
    o.insert(u"last_error"_s, lastError);
    o.insert(u"pending"_s, QJsonArray::fromStringList(pending));
    o.insert(u"delivered"_s, QJsonArray::fromStringList(delivered));
    o.insert(u"failed"_s, QJsonArray::fromStringList(failed));
    o.insert(u"delivering_pid"_s, deliveringPid);
    if (finished.isValid())
        o.insert(u"finished"_s, finished.toUTC().toString(Qt::ISODateWithMs));
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

DeliveryState DeliveryState::fromJson(const QByteArray &json)
{
    DeliveryState s;
    const QJsonObject o = QJsonDocument::fromJson(json).object();
    const auto list = [&](const QString &key) {
        QStringList out;
        for (const QJsonValue &v : o.value(key).toArray())
            out.append(v.toString());
        return out;
    };
    s.attempts = o.value(u"attempts"_s).toInt();
    s.nextAttempt = QDateTime::fromString(o.value(u"next_attempt"_s).toString(), Qt::ISODateWithMs);
    s.lastError = o.value(u"last_error"_s).toString();
    s.pending = list(u"pending"_s);
    s.delivered = list(u"delivered"_s);
    s.failed = list(u"failed"_s);
    s.deliveringPid = qint64(o.value(u"delivering_pid"_s).toDouble());
    s.finished = QDateTime::fromString(o.value(u"finished"_s).toString(), Qt::ISODateWithMs);
    return s;
}

qint64 retryDelayMs(int attempts, qint64 intervalMs)
{
    qint64 delay = qMax<qint64>(1, intervalMs);
    for (int i = 1; i < attempts && delay < MaxBackoffMs; ++i)
        delay *= 2;
    return qMax(qMin(delay, MaxBackoffMs), qMin(intervalMs, MaxBackoffMs));
}

bool writeFileAtomically(const QString &tmpDir, const QString &path, const QByteArray &bytes,
                         int *errnoOut)
{
    const QString tmp = tmpDir + u'/' + QFileInfo(path).fileName() + u'.' +
                        QString::number(QRandomGenerator::system()->generate(), 16) + u".tmp"_s;
    const QByteArray tmpName = QFile::encodeName(tmp);
    const auto failWith = [&](int error, int fd) {
        if (fd >= 0)
            ::close(fd);
        ::unlink(tmpName.constData());
        if (errnoOut)
            *errnoOut = error;
        return false;
    };
    const int fd = ::open(tmpName.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return failWith(errno, -1);
    qsizetype written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.constData() + written, size_t(bytes.size() - written));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return failWith(errno, fd);
        }
        written += n;
    }
    // The data must be on disk before the name points at it: a crash after the rename must not
    // leave an empty or partial file under the final name.
    if (::fsync(fd) != 0)
        return failWith(errno, fd);
    if (::close(fd) != 0)
        return failWith(errno, -1);
    if (::rename(tmpName.constData(), QFile::encodeName(path).constData()) != 0)
        return failWith(errno, -1);
    if (!fsyncDirectory(QFileInfo(path).absolutePath())) {
        if (errnoOut)
            *errnoOut = errno;
        return false; // the rename happened; only its durability is in doubt
    }
    return true;
}

Spool::Spool(QString dir, qint64 maxMessageBytes)
    : m_dir(std::move(dir))
    , m_maxBytes(maxMessageBytes)
{}

Spool Spool::fromConfig(const Config::Config &config)
{
    return Spool(config.getPath(u"mailer"_s, u"spool_dir"_s),
                 config.getSize(u"mailer"_s, u"max_message_bytes"_s));
}

bool Spool::prepare(QString *error) const
{
    if (m_dir.isEmpty()) {
        if (error)
            *error = u"[mailer] spool_dir is not set"_s;
        return false;
    }
    for (const char *sub : {"", "tmp", "queue", "undelivered"}) {
        const QString path = m_dir + u'/' + QLatin1StringView(sub);
        if (!QDir().mkpath(path)) {
            if (error)
                *error = u"cannot create %1"_s.arg(path);
            return false;
        }
    }
    // Made now, by the server's user: a lock file first made by root (`berthd mail` run as
    // root) could not be opened by the agent.
    const int fd = ::open(QFile::encodeName(m_dir + u"/lock"_s).constData(),
                          O_RDWR | O_CREAT | O_CLOEXEC, 0660);
    if (fd < 0) {
        if (error)
            *error = u"cannot create %1/lock: %2"_s.arg(m_dir, errnoText(errno));
        return false;
    }
    ::close(fd);
    return true;
}

QString Spool::path(const QString &id, bool undelivered, const char *suffix) const
{
    return m_dir + (undelivered ? u"/undelivered/"_s : u"/queue/"_s) + id +
           QLatin1StringView(suffix);
}

QueueResult Spool::queue(Message message) const
{
    QueueResult result;
    const QString invalid = validate(message, m_maxBytes);
    if (!invalid.isEmpty()) {
        result.error = QueueError::Invalid;
        result.reason = invalid;
        return result;
    }
    message.id = newId();
    QString host = QHostInfo::localHostName();
    if (host.isEmpty() || !host.contains(u'.'))
        host = host.isEmpty() ? u"localhost"_s : host + u".localdomain"_s;
    message.messageId = u'<' + message.id + u'@' + host + u'>';
    message.date = QDateTime::currentDateTime();
    const QByteArray json = QJsonDocument(message.toJson()).toJson(QJsonDocument::Compact);
    int error = 0;
    if (!writeFileAtomically(m_dir + u"/tmp"_s, path(message.id, false, ".json"), json, &error)) {
        // The caller is told it failed, so it must not be delivered either (the rename may
        // have happened before the directory's fsync failed).
        QFile::remove(path(message.id, false, ".json"));
        const bool full = error == ENOSPC || error == EDQUOT;
        result.error = full ? QueueError::DiskFull : QueueError::Unavailable;
        result.reason = (full ? u"mail spool is full: %1"_s : u"mail spool unavailable: %1"_s)
                            .arg(errnoText(error));
        return result;
    }
    result.id = message.id;
    return result;
}

QueueResult queue(const Config::Config &config, Message message)
{
    return Spool::fromConfig(config).queue(std::move(message));
}

QDateTime Spool::queuedAt(const QString &id)
{
    QDateTime t = QDateTime::fromString(id.left(17), u"yyyyMMddHHmmsszzz"_s);
    t.setTimeZone(QTimeZone::utc());
    return t;
}

QStringList Spool::ids(bool undelivered) const
{
    QDir dir(m_dir + (undelivered ? u"/undelivered"_s : u"/queue"_s));
    QStringList out;
    for (const QString &name : dir.entryList({u"*.json"_s}, QDir::Files, QDir::Name)) {
        const QString id = name.chopped(5);
        if (isId(id))
            out.append(id);
    }
    return out; // the id starts with the queue time: name order is age order
}

std::optional<Message> Spool::readMessage(const QString &id, bool undelivered, QString *error) const
{
    bool exists = false;
    const QByteArray bytes = readAll(path(id, undelivered, ".json"), &exists);
    if (!exists) {
        if (error)
            *error = u"no message %1"_s.arg(id);
        return std::nullopt;
    }
    QJsonParseError parse;
    const QJsonDocument doc = QJsonDocument::fromJson(bytes, &parse);
    if (!doc.isObject()) {
        if (error)
            *error = u"%1: %2"_s.arg(id, parse.errorString());
        return std::nullopt;
    }
    return Message::fromJson(doc.object(), error);
}

DeliveryState Spool::readState(const QString &id, bool undelivered) const
{
    return DeliveryState::fromJson(readAll(path(id, undelivered, ".state")));
}

QList<SpoolEntry> Spool::entries(bool withUndelivered) const
{
    QList<SpoolEntry> out;
    for (bool undelivered : {false, true}) {
        if (undelivered && !withUndelivered)
            break;
        for (const QString &id : ids(undelivered)) {
            const std::optional<Message> m = readMessage(id, undelivered);
            if (!m)
                continue; // purged while we listed
            SpoolEntry e;
            e.id = id;
            e.from = envelopeAddress(m->from);
            e.to = m->recipients();
            e.subject = m->subject;
            e.size = QFileInfo(path(id, undelivered, ".json")).size();
            e.queued = m->date;
            e.undelivered = undelivered;
            e.state = readState(id, undelivered);
            out.append(e);
        }
    }
    return out;
}

bool Spool::writeStateLocked(const QString &id, bool undelivered, const DeliveryState &state,
                             QString *error) const
{
    int err = 0;
    if (!writeFileAtomically(m_dir + u"/tmp"_s, path(id, undelivered, ".state"), state.toJson(),
                             &err)) {
        if (error)
            *error = u"%1: cannot write its state: %2"_s.arg(id, errnoText(err));
        return false;
    }
    return true;
}

bool Spool::lockMessage(const QString &id, MessageIn where, std::optional<Lock> *lock,
                        QString *error) const
{
    if (!isId(id)) {
        if (error)
            *error = u"'%1' is not a message id"_s.arg(id);
        return false;
    }
    lock->emplace(m_dir);
    if (!(*lock)->isLocked())
        return lockFailed(m_dir, error);
    if (where == MessageIn::Queue && !QFileInfo::exists(path(id, false, ".json"))) {
        if (error)
            *error = u"no message %1 in the queue"_s.arg(id);
        return false;
    }
    return true;
}

bool Spool::writeState(const QString &id, const DeliveryState &state, QString *error) const
{
    std::optional<Lock> lock;
    if (!lockMessage(id, MessageIn::Queue, &lock, error))
        return false;
    return writeStateLocked(id, false, state, error);
}

bool Spool::updateState(const QString &id, const std::function<void(DeliveryState &)> &change,
                        QString *error) const
{
    std::optional<Lock> lock;
    if (!lockMessage(id, MessageIn::Queue, &lock, error))
        return false;
    DeliveryState state = readState(id);
    change(state);
    return writeStateLocked(id, false, state, error);
}

bool Spool::moveToUndelivered(const QString &id, const DeliveryState &state, QString *error) const
{
    std::optional<Lock> lock;
    if (!lockMessage(id, MessageIn::Queue, &lock, error))
        return false;
    // State first, then the message: a crash in between leaves a stale state file in
    // undelivered/ (ignored: ids come from .json files) and the message still queued.
    if (!writeStateLocked(id, true, state, error))
        return false;
    if (::rename(QFile::encodeName(path(id, false, ".json")).constData(),
                 QFile::encodeName(path(id, true, ".json")).constData()) != 0) {
        if (error)
            *error = u"%1: cannot move to undelivered/: %2"_s.arg(id, errnoText(errno));
        return false;
    }
    QFile::remove(path(id, false, ".state"));
    fsyncDirectory(m_dir + u"/queue"_s);
    fsyncDirectory(m_dir + u"/undelivered"_s);
    return true;
}

bool Spool::retry(const QString &id, QString *error) const
{
    std::optional<Lock> lock;
    if (!lockMessage(id, MessageIn::Anywhere, &lock, error))
        return false;
    if (QFileInfo::exists(path(id, false, ".json"))) {
        DeliveryState state = readState(id);
        state.nextAttempt = QDateTime();
        return writeStateLocked(id, false, state, error);
    }
    if (QFileInfo::exists(path(id, true, ".json"))) {
        DeliveryState state = readState(id, true);
        state.attempts = 0;
        state.nextAttempt = QDateTime();
        state.finished = QDateTime();
        state.deliveringPid = 0;
        if (!state.pending.isEmpty() || !state.failed.isEmpty()) {
            for (const QString &failed : std::as_const(state.failed))
                state.pending.append(failed.section(u':', 0, 0));
            state.failed.clear();
        }
        if (!writeStateLocked(id, false, state, error))
            return false;
        if (::rename(QFile::encodeName(path(id, true, ".json")).constData(),
                     QFile::encodeName(path(id, false, ".json")).constData()) != 0) {
            if (error)
                *error = u"%1: cannot move back to the queue: %2"_s.arg(id, errnoText(errno));
            QFile::remove(path(id, false, ".state"));
            return false;
        }
        QFile::remove(path(id, true, ".state"));
        fsyncDirectory(m_dir + u"/queue"_s);
        return true;
    }
    if (error)
        *error = u"no message %1"_s.arg(id);
    return false;
}

int Spool::retryAll() const
{
    int count = 0;
    for (const QString &id : ids()) {
        if (updateState(id, [](DeliveryState &s) { s.nextAttempt = QDateTime(); }))
            ++count;
    }
    return count;
}

bool Spool::purge(const QString &id, QString *error) const
{
    std::optional<Lock> lock;
    if (!lockMessage(id, MessageIn::Anywhere, &lock, error))
        return false;
    bool found = false;
    for (bool undelivered : {false, true}) {
        // The message first: without it the id is gone from every listing at once.
        if (QFile::remove(path(id, undelivered, ".json")))
            found = true;
        QFile::remove(path(id, undelivered, ".state"));
    }
    if (!found && error)
        *error = u"no message %1"_s.arg(id);
    return found;
}

int Spool::purgeUndeliveredBefore(const QDateTime &cutoff) const
{
    int count = 0;
    for (const QString &id : ids(true)) {
        const DeliveryState state = readState(id, true);
        const QDateTime finished = state.finished.isValid()
                                       ? state.finished
                                       : QFileInfo(path(id, true, ".json")).lastModified();
        if (finished < cutoff && purge(id, nullptr))
            ++count;
    }
    return count;
}

int Spool::recover() const
{
    Lock lock(m_dir);
    if (!lock.isLocked())
        return 0;
    int count = 0;
    for (const QString &id : ids()) {
        DeliveryState state = readState(id);
        if (state.deliveringPid == 0)
            continue;
        // The agent that claimed it died mid-delivery (there is one agent per spool): the
        // server may or may not have taken it, so it is sent again (at-least-once, same
        // Message-ID).
        state.deliveringPid = 0;
        state.nextAttempt = QDateTime();
        if (writeStateLocked(id, false, state, nullptr))
            ++count;
    }
    QDir tmp(m_dir + u"/tmp"_s);
    const QDateTime old = QDateTime::currentDateTime().addSecs(-3600);
    for (const QFileInfo &info : tmp.entryInfoList(QDir::Files)) {
        if (info.lastModified() < old) // a writer still busy with a fresh one is left alone
            QFile::remove(info.filePath());
    }
    return count;
}

Spool::Lock::Lock(const QString &dir)
{
    m_fd =
        ::open(QFile::encodeName(dir + u"/lock"_s).constData(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (m_fd < 0)
        return;
    while (::flock(m_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            ::close(m_fd);
            m_fd = -1;
            return;
        }
    }
}

Spool::Lock::~Lock()
{
    if (m_fd >= 0)
        ::close(m_fd); // releases the flock
}

} // namespace Berth::Mail
