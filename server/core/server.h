#pragma once

#include "engine/enginesettings.h"
#include "offloadpool.h"
#include "servercontext.h"
#include "statsregistry.h"

#include <config/config.h>

#include <QList>
#include <QObject>
#include <QStringList>
#include <QTimer>

#include <memory>
#include <vector>

class QSocketNotifier;

namespace Berth::Pipeline {
class Router;
}

namespace Berth::Core {

class EventLoopThread;
class SharedState;

// Everything `berthd check` verifies: the files parse, every key has a valid value, the
// routes name existing apps and directories. Returns every finding once, in order.
Config::Diagnostics checkConfiguration(const QStringList &files);
Config::Diagnostics uniqueDiagnostics(const Config::Diagnostics &diagnostics);

// The HTTP server of one process: validated configuration, listening sockets, `threads`
// event-loop threads each with its own router and apps, signals and log flushing. Lifecycle
// only; requests are the engine's business.
class Server final : public QObject
{
    Q_OBJECT
public:
    // Single: the whole server in this process (workers = 0). Worker: one worker process of a
    // master, which passed the listening sockets and handles reloads.
    enum class Role { Single, Worker };

    explicit Server(QStringList configFiles, Role role = Role::Single);
    ~Server() override;

    // Reads and validates the configuration, builds routers and apps, opens the log files and
    // the listeners. On failure returns false; errors() says why (file:line where possible).
    bool prepare();
    const QStringList &errors() const { return m_errors; }

    // Starts the event-loop threads and serves until a stop signal; returns the exit code.
    // Needs a running QCoreApplication event loop in the calling thread.
    void start();
    // TERM: stop accepting, finish in-flight requests within graceful_timeout, then exit.
    void stopGracefully();
    // INT/QUIT: close everything now.
    void stopNow();

    quint16 port() const { return m_settings.port; }
    ServerContext &context() { return m_context; }

Q_SIGNALS:
    void stopped();

private:
    void installSignalHandlers();
    void onSignal(int signo);
    void finishStop();
    void reloadCertificates();
    void startWorkerDuties();
    bool attachSharedState(int threads);

    QStringList m_files;
    Role m_role;
    QString m_pidFile;
    Config::Config m_config;
    QStringList m_errors;
    Engine::EngineSettings m_settings;
    std::unique_ptr<SharedState> m_shared; // before m_stats: the stats point into it
    StatsRegistry m_stats;
    std::unique_ptr<OffloadPool> m_offload; // after m_stats: it counts into them
    ServerContext m_context;
    QList<Engine::Listener> m_listeners;
    std::shared_ptr<Tls::TlsContextSlot> m_tls;
    std::vector<std::unique_ptr<Pipeline::Router>> m_routers;
    std::vector<std::unique_ptr<EventLoopThread>> m_threads;
    qint64 m_gracefulTimeoutMs = 30'000;
    int m_threadsDrained = 0;
    bool m_stopping = false;
    bool m_finished = false;
    qint64 m_maxRequests = 0;
    qint64 m_requestsAtStart = 0;
    QTimer m_recycleCheck;
    QTimer m_logFlush;
    QTimer m_gracefulDeadline;
};

} // namespace Berth::Core
