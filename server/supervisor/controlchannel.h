#pragma once

#include <QObject>
#include <QPointer>
#include <QStringList>

#include <functional>

class QLocalServer;
class QLocalSocket;

namespace Berth::Supervisor {

// The unix socket beside the pid file: berthd.pid -> berthd.sock (else PIDFILE.sock).
QString controlSocketPath(const QString &pidFile);

// The answer to one control request; the handler may keep it and finish later (a reload
// answers once the new generation is ready or has failed). Finishing twice, or after the
// client left, does nothing.
class ControlReply
{
public:
    explicit ControlReply(QLocalSocket *socket);
    // Writes lines, then "OK" or "FAILED" on a line of its own, and closes the connection.
    void finish(const QStringList &lines, bool ok);

private:
    QPointer<QLocalSocket> m_socket;
};

// The master's control channel (see docs/operations.md, "Control socket"). Line protocol: the
// client sends one request line (`status`, `reload`, `restart KIND:NAME`, `service KIND:NAME
// VERB ARGS...`); the master answers
// with text lines, the last one `OK` or `FAILED`, and closes the connection. The socket is
// owner-only (0600): whoever may signal the master may talk to it, nobody else.
class ControlChannel final : public QObject
{
    Q_OBJECT
public:
    using Handler = std::function<void(const QString &command, const QStringList &arguments,
                                       ControlReply reply)>;

    ControlChannel(Handler handler, QObject *parent = nullptr);
    ~ControlChannel() override;

    // Binds path (replacing a stale socket there) with mode 0600.
    bool listen(const QString &path, QString *error);
    // Closes and unlinks the socket.
    // unlinkPath false: another master (USR2) bound the path meanwhile; leave it its socket.
    void close(bool unlinkPath = true);
    QString path() const { return m_path; }

private:
    void onConnection();

    Handler m_handler;
    QLocalServer *m_server = nullptr;
    QString m_path;
};

// CLI side: sends request, collects the answer lines (without the final one) and whether the
// final line said OK. False with *error when the master can't be reached or doesn't answer
// within timeoutMs.
bool controlRequest(const QString &path, const QString &request, int timeoutMs, QStringList *lines,
                    bool *ok, QString *error);

} // namespace Berth::Supervisor
