#pragma once

#include "service/childspec.h"

#include <config/snapshot.h>

#include <QElapsedTimer>
#include <QHash>
#include <QList>
#include <QMap>
#include <QObject>
#include <QSet>
#include <QStringList>
#include <QTimer>

#include <memory>
#include <sys/types.h>

class QSocketNotifier;

namespace Berth::Core {
class SharedState;
}

namespace Berth::Supervisor {

class BroadcastRelay;
class ControlChannel;
class ControlReply;

// The master process (gunicorn's arbiter, nginx's master, supervisord): reads and validates the
// configuration once per generation, opens every listener, drops privileges, then starts and
// sustains the child processes the service kinds ask for (ChildSpec), each running the
// generation's snapshot (`berthd child --service KIND --name NAME`). It never serves a request
// itself, so a child crash can't take it down; it knows services only through the registry.
//
// Signals: HUP reloads (a new generation; each group replaced, restarted or kept as its
// ChildSpec says; an invalid configuration keeps the old one running), TERM stops gracefully
// (TERM to every child, KILL after its stop grace), INT/QUIT stop at once, USR1 reopens log
// files (children too). The control socket beside the pid file answers status, reload (with
// its outcome) and restart.
class Supervisor final : public QObject
{
    Q_OBJECT
public:
    // starterFd: the pipe of `berthd start` waiting for "OK" or an error (-1 for `run`).
    Supervisor(QStringList configFiles, int starterFd = -1);
    ~Supervisor() override;

    bool prepare();
    const QStringList &errors() const { return m_errors; }
    void start();

Q_SIGNALS:
    void stopped(int exitCode);

private:
    // One ChildSpec in force, with what the supervisor learnt running it.
    struct Group
    {
        ChildSpec spec;
        int generation = 0;  // the configuration generation its children run
        bool failed = false; // crash loop: no longer restarted until a reload or restart
        int failedSlot = -1; // the slot that shows the failure meanwhile
        int restarts = 0;
        int quickFailures = 0;
        int lastExitStatus = -1;
        // Bumped whenever every child of the group is started anew (`berthd restart`, a reload
        // that replaces or restarts it): a respawn still waiting out its back-off is then void.
        int epoch = 0;
    };
    struct Child
    {
        pid_t pid = 0;
        QString key; // Group
        int index = 0;
        int slot = 0;
        int generation = 0;
        qint64 startedMs = 0;
        bool ready = false;
        bool stopping = false;
        bool quiesced = false; // draining, it takes no new connection ('Q', or its pipe closed)
        int readyFd = -1;
        QSocketNotifier *readyNotifier = nullptr;
        int busChannel = 0; // BroadcastRelay channel id, 0: none
    };
    struct PendingReload
    {
        int generation = 0;
        QHash<QString, ChildSpec> specs; // every group of the new generation
        QStringList order;               // their keys, in contribution order
        QSet<QString> started;           // the groups that got new children
        QList<ControlReply> waiters;
        // Canary (`reload canary`): only one HTTP worker of the new generation starts, beside
        // the old ones, until `reload commit` starts the rest or `reload abort` drops it.
        QString canaryKey;   // the HTTP group, while the canary waits for its verdict
        pid_t canaryPid = 0; // set once it is ready
    };
    // A committed reload's answer, held until the children it retired take no new connection
    // (their 'Q', their exit, or RetireWaitMs): whoever asked for the reload then reaches the
    // new generation with their next connection.
    struct Retirement
    {
        QSet<pid_t> pids;
        QList<ControlReply> waiters;
        QStringList lines;
        qint64 deadlineMs = 0;
    };
    static constexpr qint64 RetireWaitMs = 3'000;

    // A control request forwarded to the children of one group (`service KIND:NAME VERB ...`),
    // answered once every child answered, left or timed out.
    struct Forward
    {
        QList<ControlReply> reply; // one; a list because ControlReply has no default
        QSet<int> waiting;         // bus channels still to answer
        QStringList lines;
        bool ok = true;
    };

    // upgrade.cpp (USR2)
    static constexpr const char *UpgradeFdVariable = "BERTH_UPGRADE_FD";
    static int takeUpgradeFd();
    void startUpgrade();
    void onUpgradeAnswer();
    void upgradeExited(int status);
    void endUpgrade();
    void failUpgrade(const QString &why, bool reaped = false);

    bool loadGeneration(const QStringList &files, Config::Config *config, QStringList *errors);
    void installSignalHandlers();
    void onSignal(int signo);
    void onControl(const QString &command, const QStringList &arguments, ControlReply reply);
    void reapChildren();
    void onChildExit(pid_t pid, int status);
    void spawn(const QString &key, int index, int generation);
    void scheduleRespawn(const Child &child, qint64 delayMs);
    void markFailed(Group &group, const Child &child, int status);
    void onChildReadiness(pid_t pid);
    void closeReadiness(Child &child);
    void reload(ControlReply *reply, bool canary = false);
    void commitCanary(ControlReply reply);
    void abortCanary(ControlReply reply);
    void spawnPending(bool skipCanary);
    void checkReloadComplete();
    void commitReload();
    void answerRetirements();
    void failReload(const QString &why);
    void restartGroup(const QString &key);
    // servicecontrol.cpp
    void forwardControl(const QStringList &arguments, ControlReply reply);
    void onControlAnswer(int channel, const QByteArray &payload);
    void forwardGone(int channel, const QString &why);
    void finishForward(quint64 id);
    void stopChild(Child &child);
    // Symbolises the raw stack the child wrote into server.log (crash handler or SIGUSR2 dump).
    void logStackReport(const Child &child, bool crash);
    void stopAll(bool graceful);
    void checkFinished();
    void checkHealth();
    int freeSlot() const;
    void reportReady();
    QStringList statusLines() const;
    QString statusJson() const; // supervisorstatus.cpp: the `status json` control answer
    QString childLabel(const Child &child) const;
    const ChildSpec *specFor(const Child &child) const;

    QStringList m_files;
    int m_starterFd;
    QStringList m_errors;

    // From the configuration in force.
    qint64 m_workerTimeoutMs = 30'000;
    qint64 m_ticketKeyRotationMs = 3'600'000; // [tls] ssl_ticket_key_rotation
    QString m_pidFile;
    QString m_listenerSummary;

    QMap<int, Config::Snapshot> m_snapshots; // generation in force and the pending one
    QList<int> m_listenFds;
    QList<Core::ListenSpec> m_listenSpecs; // what m_listenFds are, in the same order
    std::unique_ptr<Core::SharedState> m_shared;
    QHash<QString, Group> m_groups;
    QStringList m_groupOrder; // keys, in the order services contributed them
    QHash<pid_t, Child> m_children;
    QSet<pid_t> m_killing; // hung children being replaced
    int m_generation = 1;
    int m_lastGeneration = 1;
    std::unique_ptr<PendingReload> m_pending;
    std::vector<Retirement> m_retirements;
    bool m_stopping = false;
    // USR2: the new master being started, the pipe it answers through.
    pid_t m_upgradePid = 0;
    int m_upgradeFd = -1;
    QByteArray m_upgradeAnswer;
    QSocketNotifier *m_upgradeNotifier = nullptr;
    bool m_upgraded = false; // a new master took over: leave it the control socket
    bool m_reportedReady = false;
    QElapsedTimer m_clock;
    QTimer m_stopDeadline;
    QTimer m_healthTimer;
    ControlChannel *m_control = nullptr;
    BroadcastRelay *m_relay = nullptr;
    QHash<quint64, Forward> m_forwards;
    quint64 m_nextForward = 1;
};

} // namespace Berth::Supervisor
