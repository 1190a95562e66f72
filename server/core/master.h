#pragma once

#include <QElapsedTimer>
#include <QHash>
#include <QList>
#include <QObject>
#include <QSet>
#include <QStringList>
#include <QTimer>

#include <sys/types.h>

class QSocketNotifier;

namespace Berth::Core {

class SharedState;

// The master process (gunicorn's arbiter, nginx's master): validates the configuration, opens
// every listener, drops privileges, then starts and sustains `workers` worker processes (berthd
// re-executed as `berthd worker`, listeners passed in the systemd LISTEN_FDS convention). It
// never serves a request itself, so a worker crash can't take it down.
//
// Signals: HUP reloads (new workers on the new configuration, then the old ones stop
// gracefully; an invalid configuration keeps the old one running), TERM stops gracefully within
// graceful_timeout, INT/QUIT stop at once, USR1 reopens log files (workers too).
class Master final : public QObject
{
    Q_OBJECT
public:
    // starterFd: the pipe of `berthd start` waiting for "OK" or an error (-1 for `run`).
    Master(QStringList configFiles, int starterFd = -1);
    ~Master() override;

    bool prepare();
    const QStringList &errors() const { return m_errors; }
    void start();

Q_SIGNALS:
    void stopped(int exitCode);

private:
    struct Worker
    {
        pid_t pid = 0;
        int index = 0;      // position among the generation's workers (0..workers-1)
        int slot = 0;       // shared-memory slot
        int generation = 0; // configuration generation it serves
        qint64 startedMs = 0;
        bool ready = false;
        bool stopping = false;
        int readyFd = -1; // read end of its readiness pipe
        QSocketNotifier *readyNotifier = nullptr;
    };

    bool loadSettings(const QStringList &files, QStringList *errors);
    void installSignalHandlers();
    void onSignal(int signo);
    void reapChildren();
    void onWorkerExit(pid_t pid, int status);
    void spawn(int index, int generation);
    void scheduleRespawn(int index, int generation, qint64 livedMs);
    void onWorkerReady(pid_t pid);
    void reload();
    void retireGeneration(int generation);
    void stopAll(bool graceful);
    void checkFinished();
    void checkHealth();
    int freeSlot() const;
    void reportReady();

    QStringList m_files;
    int m_starterFd;
    QStringList m_errors;

    // From the configuration in force.
    int m_workerCount = 1;
    qint64 m_gracefulTimeoutMs = 30'000;
    qint64 m_workerTimeoutMs = 30'000;
    QString m_pidFile;
    QString m_listenerSummary;

    QList<int> m_listenFds;
    QList<bool> m_listenTls;
    std::unique_ptr<SharedState> m_shared;
    QHash<pid_t, Worker> m_workers;
    QHash<int, int> m_failures; // index -> consecutive quick failures
    QSet<pid_t> m_killing;      // hung workers being replaced
    int m_generation = 1;
    int m_pendingGeneration = 0; // a reload whose workers are starting
    bool m_stopping = false;
    bool m_reportedReady = false;
    QElapsedTimer m_clock;
    QTimer m_stopDeadline;
    QTimer m_healthTimer;
    QTimer m_logFlush;
};

} // namespace Berth::Core
