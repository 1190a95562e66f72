#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QPair>
#include <QString>
#include <QStringList>
#include <QTimer>

#include <sys/types.h>

class QSocketNotifier;
class QFile;

namespace Berth::Daemons {

// How to run one external program ([daemon:NAME] command and its process keys).
struct ProgramSpec
{
    QStringList argv; // argv[0] searched in PATH when it has no '/'
    QString directory;
    QList<QPair<QString, QString>> environment; // on top of berthd's
    QString user;                               // applied only when berthd runs as root
    QString group;
    int umask = -1;     // -1: inherit
    QString stdoutFile; // empty: lines to app.log
    QString stderrFile;
};

// One run of an external program, supervised by this process: fork + exec into a process group
// of its own (setsid), PR_SET_PDEATHSIG so it gets SIGKILL if this process dies, standard input
// from /dev/null, standard output and error through non-blocking pipes read on the event loop
// (one line at a time, to app.log or the configured file). Its exit is noticed through a pidfd
// (poll, no SIGCHLD handler: services never install signal handlers), else by polling waitpid.
class ExternalProgram final : public QObject
{
    Q_OBJECT
public:
    ExternalProgram(ProgramSpec spec, QString label, QObject *parent = nullptr);
    ~ExternalProgram() override;

    // Starts the program; false with *error when fork/exec failed (the exec error is reported
    // back through a close-on-exec pipe, so a missing program is an error here, not an exit).
    bool spawn(QString *error);
    pid_t pid() const { return m_pid; }
    bool running() const { return m_pid > 0; }
    // Sends sig to the program's whole process group.
    void signalGroup(int sig);

Q_SIGNALS:
    // The program ended (waitpid status); every process left in its group has been killed.
    void exited(int waitStatus);

private:
    struct Stream
    {
        int fd = -1;
        bool isStderr = false;
        QSocketNotifier *notifier = nullptr;
        QByteArray partial;
        QFile *file = nullptr; // stdout = FILE / stderr = FILE
        QString path;
        qint64 checkedMs = 0;
        quint64 inode = 0;
    };

    void onReadable(Stream &stream);
    void emitLine(Stream &stream, QByteArray line);
    void closeStream(Stream &stream, bool flushPartial);
    void checkExit();
    bool openFile(Stream &stream, QString *error);

    ProgramSpec m_spec;
    QString m_label;
    pid_t m_pid = 0;
    int m_pidfd = -1;
    QSocketNotifier *m_exitNotifier = nullptr;
    QTimer m_exitPoll; // without pidfd_open
    Stream m_out;
    Stream m_err;
};

} // namespace Berth::Daemons
