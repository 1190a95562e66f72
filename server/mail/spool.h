#pragma once

#include "mailmessage.h"

#include <QDateTime>
#include <QList>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

namespace Berth::Config {
class Config;
}

namespace Berth::Mail {

// Why queue() refused a message (the HTTP status berth.mail answers with).
enum class QueueError {
    None,
    Invalid,    // 400: validate() said no
    DiskFull,   // 507: ENOSPC / EDQUOT
    Unavailable // 503: the spool is missing or not writable
};

struct QueueResult
{
    QString id; // the spool id, when queued
    QueueError error = QueueError::None;
    QString reason;
    bool ok() const { return error == QueueError::None; }
    int httpStatus() const;
};

// Where a message is in its delivery. Kept in <id>.state beside the message, replaced whole
// (temp file + rename) under the spool lock.
struct DeliveryState
{
    int attempts = 0;
    QDateTime nextAttempt;    // invalid: due now
    QString lastError;        // last failure, as smtpda.log has it
    QStringList pending;      // recipients still to deliver; empty before the first attempt
    QStringList delivered;    // accepted by the server
    QStringList failed;       // refused for good (5xx), "addr: reason"
    qint64 deliveringPid = 0; // the agent delivering it now; 0 when not in flight
    QDateTime finished;       // when it moved to undelivered/

    QByteArray toJson() const;
    static DeliveryState fromJson(const QByteArray &json);
};

// One line of `berthd mail queue`.
struct SpoolEntry
{
    QString id;
    QString from;
    QStringList to; // envelope recipients
    QString subject;
    qint64 size = 0;
    QDateTime queued;
    bool undelivered = false;
    DeliveryState state;
};

// The spool directory (docs/mail.md, "Spool"):
//
//   spool_dir/lock              flock()ed around every state change (agent and CLI)
//   spool_dir/tmp/              files being written; never read, cleaned at agent start
//   spool_dir/queue/ID.json     the message, written once (temp, fsync, rename, fsync dir)
//   spool_dir/queue/ID.state    its delivery state; absent = never tried, due now
//   spool_dir/undelivered/...   the same pair once delivery gave up, with the last error
//
// A message appears in queue/ only whole, by rename, so a reader never sees half a message;
// writers of new messages (every HTTP worker) need no lock. Everything that changes a state
// file (the agent, `berthd mail retry/purge`) takes the lock for the read-modify-write only,
// never across an SMTP conversation. All calls block on disk I/O: event loops call them on an
// offload pool.
class Spool
{
public:
    explicit Spool(QString dir, qint64 maxMessageBytes = 25 * 1024 * 1024);
    // [mailer] spool_dir and max_message_bytes.
    static Spool fromConfig(const Config::Config &config);

    const QString &dir() const { return m_dir; }
    qint64 maxMessageBytes() const { return m_maxBytes; }

    // Creates the directories; false with a reason when it can't.
    bool prepare(QString *error) const;

    // Mail::queue: validates, gives the message its id, Message-ID and Date, and writes it.
    QueueResult queue(Message message) const;

    // When a message was queued, read from its id (no file access); invalid for a foreign name.
    static QDateTime queuedAt(const QString &id);
    // Ids in queue/ (or undelivered/), oldest first.
    QStringList ids(bool undelivered = false) const;
    std::optional<Message> readMessage(const QString &id, bool undelivered = false,
                                       QString *error = nullptr) const;
    DeliveryState readState(const QString &id, bool undelivered = false) const;
    QList<SpoolEntry> entries(bool withUndelivered) const;

    // The changes below take the lock themselves.
    bool writeState(const QString &id, const DeliveryState &state, QString *error) const;
    // Applies change to the state under the lock; false when the message is gone.
    bool updateState(const QString &id, const std::function<void(DeliveryState &)> &change,
                     QString *error = nullptr) const;
    bool moveToUndelivered(const QString &id, const DeliveryState &state, QString *error) const;
    // Due now; an undelivered message goes back to the queue with its attempts reset.
    bool retry(const QString &id, QString *error) const;
    int retryAll() const;
    bool purge(const QString &id, QString *error) const;
    // Removes undelivered messages that finished before cutoff; how many.
    int purgeUndeliveredBefore(const QDateTime &cutoff) const;
    // Agent start: messages left in flight by a killed agent become due now; stale temp
    // files go. How many were in flight.
    int recover() const;

    // The exclusive spool lock, held while it lives.
    class Lock
    {
    public:
        explicit Lock(const QString &dir);
        ~Lock();
        Lock(const Lock &) = delete;
        Lock &operator=(const Lock &) = delete;
        bool isLocked() const { return m_fd >= 0; }

    private:
        int m_fd = -1;
    };

private:
    enum class MessageIn { Anywhere, Queue };
    // What every change to one message checks first: id is a message id, the spool lock is
    // taken (into *lock) and, for MessageIn::Queue, the message waits in queue/. False with
    // *error otherwise.
    bool lockMessage(const QString &id, MessageIn where, std::optional<Lock> *lock,
                     QString *error) const;
    QString path(const QString &id, bool undelivered, const char *suffix) const;
    bool writeStateLocked(const QString &id, bool undelivered, const DeliveryState &state,
                          QString *error) const;

    QString m_dir;
    qint64 m_maxBytes;
};

// Mail::queue(message) for apps: Spool::fromConfig(config).queue(message). Blocks on disk
// I/O (fsync): call it on an offload pool.
QueueResult queue(const Config::Config &config, Message message);

// Backoff before attempt attempts+1 after attempts failures: interval doubled each time,
// capped at one hour (and never below interval).
qint64 retryDelayMs(int attempts, qint64 intervalMs);

// Writes bytes to path atomically: a temp file in tmpDir, fsync, rename, fsync of the target
// directory. On failure nothing is left behind; errnoOut says why.
bool writeFileAtomically(const QString &tmpDir, const QString &path, const QByteArray &bytes,
                         int *errnoOut);

} // namespace Berth::Mail
