#pragma once

#include "engine/enginesettings.h"
#include "runtime/offloadpool.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"

#include <config/config.h>

#include <QList>
#include <QObject>
#include <QStringList>
#include <QTimer>

#include <memory>
#include <vector>

class QSocketNotifier;

namespace Berth::Tls {
class TlsContextSlot;
}

namespace Berth::Pipeline {
class Router;
}

namespace Berth::Core {

class EventLoopThread;
class SharedState;

// Everything `berthd check` verifies about the HTTP server: the files parse, every key has a
// valid value, the routes name existing apps and directories. Returns every finding once, in
// order. (Supervisor::checkConfiguration() adds every other service kind.)
Config::Diagnostics checkConfiguration(const QStringList &files);
// The HTTP server's own checks on a loaded configuration (engine settings, TLS, routes), as
// diagnostics on config. Builds nothing that outlives the call.
void checkHttpConfiguration(const Config::Config &config);

// The HTTP server of one process: validated configuration, listening sockets, `threads`
// event-loop threads each with its own router and apps. Lifecycle only; requests are the
// engine's business, signals, log files and readiness the host's (Supervisor::ServiceHost).
class Server final : public QObject
{
    Q_OBJECT
public:
    // Single: the whole server in this process (workers = 0). Worker: one worker process of a
    // master, which passed the listening sockets and handles reloads.
    enum class Role { Single, Worker };

    // config: the snapshot this process runs (outlives the server). shared/slot: where its stats,
    // heartbeats and current requests go (owned by the host).
    Server(const Config::Config &config, Role role, SharedState *shared, int slot);
    ~Server() override;

    // Validates the configuration, builds routers and apps and adopts (or opens) the listeners.
    // On failure returns false; errors() says why (file:line where possible).
    bool prepare();
    const QStringList &errors() const { return m_errors; }

    // Starts the event-loop threads and serves until a stop signal; returns the exit code.
    // Needs a running QCoreApplication event loop in the calling thread.
    // Opens the apps' files (as the configured user) and starts the event-loop threads.
    bool start(QString *error);
    // TERM: stop accepting, finish in-flight requests within graceful_timeout, then exit.
    void stopGracefully();
    // INT/QUIT: close everything now.
    void stopNow();
    // Whether new connections may still reach a thread of this server: true until every
    // thread has left the shared listeners after stopGracefully() (or stopped).
    bool isAccepting() const;
    // Single-process SIGHUP: new connections get the certificates config names.
    void reloadCertificates(const Config::Config &config);

    quint16 port() const { return m_settings.port; }
    ServerContext &context() { return m_context; }

Q_SIGNALS:
    // Once, after start(), when every event-loop thread is on the listeners: "ready" means any
    // thread may take the next connection (a thread slow to start would otherwise leave a
    // burst to the others).
    void serving();
    // Once, when isAccepting() turns false.
    void stoppedAccepting();
    void stopped();

private:
    void finishStop();
    void startWorkerDuties();
    void onThreadStoppedAccepting();

    Config::Config m_config;
    Role m_role;
    SharedState *m_shared;
    int m_slot;
    QStringList m_errors;
    Engine::EngineSettings m_settings;
    StatsRegistry m_stats;
    std::unique_ptr<OffloadPool> m_offload; // after m_stats: it counts into them
    ServerContext m_context;
    QList<Engine::Listener> m_listeners;
    std::shared_ptr<Tls::TlsContextSlot> m_tls;
    std::vector<std::unique_ptr<Pipeline::Router>> m_routers;
    std::vector<std::unique_ptr<EventLoopThread>> m_threads;
    qint64 m_gracefulTimeoutMs = 30'000;
    int m_threadsDrained = 0;
    int m_threadsListening = 0;
    bool m_stopping = false;
    bool m_finished = false;
    bool m_reportedStoppedAccepting = false;
    qint64 m_maxRequests = 0;
    qint64 m_requestsAtStart = 0;
    QTimer m_recycleCheck;
    QTimer m_gracefulDeadline;
};

} // namespace Berth::Core
