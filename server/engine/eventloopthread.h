#pragma once

#include "enginesettings.h"

#include <QList>
#include <QThread>

#include <atomic>

namespace Berth::Http {
class RequestRouter;
}

namespace Berth::Engine {
class ConnectionManager;
}

namespace Berth::Core {

class ServerContext;

// One event-loop thread: runs a ConnectionManager over the shared listeners with its own
// router (and so its own app instances).
class EventLoopThread final : public QThread
{
    Q_OBJECT
public:
    EventLoopThread(const Engine::EngineSettings &settings, const Http::RequestRouter *router,
                    ServerContext *server, const QList<Engine::Listener> &listeners,
                    int threadIndex);

    // Both are safe to call from any thread.
    void beginDrain();
    void closeAll();
    // Whether this thread has left the shared listeners for good (after beginDrain(), or once
    // its loop ended): no new connection reaches it.
    bool hasStoppedAccepting() const { return m_stoppedAccepting.load(); }

Q_SIGNALS:
    // Emitted once from this thread when its loop is about to run, its connection manager on the
    // listeners (connect queued): from here new connections may reach it.
    void listening();
    // Emitted once, from whichever thread saw it happen (connect queued).
    void stoppedAccepting();
    void drained();

protected:
    void run() override;

private:
    Engine::EngineSettings m_settings;
    const Http::RequestRouter *m_router;
    ServerContext *m_server;
    QList<Engine::Listener> m_listeners;
    int m_threadIndex;
    std::atomic<Engine::ConnectionManager *> m_manager{nullptr};
    std::atomic<bool> m_drainRequested{false};
    std::atomic<bool> m_stoppedAccepting{false};

    void markStoppedAccepting();
};

} // namespace Berth::Core
