#pragma once

#include "service/service.h"

#include <config/config.h>

#include <QObject>
#include <QStringList>
#include <QTimer>

#include <memory>
#include <vector>

class QCoreApplication;

namespace Berth::Core {
class BroadcastBus;
class SharedState;
} // namespace Berth::Core

namespace Berth::Supervisor {

// Runs services in this process and gives them what every process of berthd needs: signals
// (TERM drains every service, INT/QUIT stop them now, USR1 reopens the log files, HUP reaches
// Service::hangup() in single-process mode), log flushing, and the exit once every service has
// drained. Two uses:
//
// - a child of the supervisor (`berthd child --service KIND --name NAME`): one service, built
//   from the snapshot the master passed; it tells the master when it is ready ('R' on the
//   readiness pipe) and, once draining, when it takes no new connection any more ('Q');
// - `workers = 0`: every configured service in the one process, which reads and validates the
//   files itself, writes the pid file and drops privileges.
class ServiceHost final : public QObject
{
    Q_OBJECT
public:
    // Both return the process exit code after the event loop ends.
    static int runChild(const QString &kind, const QString &name, QCoreApplication &app);
    static int runInProcess(const QStringList &files, QCoreApplication &app, int starterFd);

private:
    explicit ServiceHost(bool inProcess);
    ~ServiceHost() override;
    bool start(QStringList *errors);
    void onSignal(int signo);
    void onDrained();
    void onReady();
    void onStoppedAccepting();
    // A control request the master relayed on the broadcast channel (BusWire).
    void onControlRequest(const QByteArray &payload);

    bool m_inProcess;
    QStringList m_files;
    Config::Config m_config;
    std::unique_ptr<Core::SharedState> m_shared; // before the services: they point into it
    std::unique_ptr<Core::BroadcastBus> m_bus;   // likewise
    std::vector<std::unique_ptr<Service>> m_services;
    QString m_pidFile;
    int m_readyFd = -1; // the readiness pipe, open until 'Q' is written
    int m_starterFd = -1;
    bool m_toldReady = false;
    bool m_draining = false;
    bool m_finished = false;
    QTimer m_ticketRotation; // in-process only: no master rotates the TLS ticket keys

Q_SIGNALS:
    void finished();
};

} // namespace Berth::Supervisor
