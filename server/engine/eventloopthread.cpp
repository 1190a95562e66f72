#include "eventloopthread.h"

#include "runtime/crashreport.h"

#include "connectionmanager.h"
#include "epolldispatcher.h"
#include "http/exchange.h"
#include "runtime/servercontext.h"
#include "runtime/statsregistry.h"
#include "runtime/workerhealth.h"

#include <crypto/cryptoutil.h>

#include <QScopeGuard>

namespace Berth::Core {

EventLoopThread::EventLoopThread(const Engine::EngineSettings &settings,
                                 const Http::RequestRouter *router, ServerContext *server,
                                 const QList<Engine::Listener> &listeners, int threadIndex)
    : m_settings(settings)
    , m_router(router)
    , m_server(server)
    , m_listeners(listeners)
    , m_threadIndex(threadIndex)
{
    // One epoll_wait per wake-up, the Poller's sockets in it (BERTH_EVENT_DISPATCHER=qt keeps
    // Qt's dispatcher).
    Engine::EpollDispatcher::installOn(this);
}

void EventLoopThread::run()
{
    // Last of all, after the connections (and their TLS objects) below are gone.
    const auto releaseOpenSsl = qScopeGuard([] { Crypto::releaseThreadState(); });
    // This thread's heartbeat and current request live in the worker's shared slot, where the
    // master's watchdog reads them.
    if (m_server && m_server->stats)
        ThreadHealth::attach(m_server->stats->workerSlot(), m_threadIndex);
    prepareThreadForCrash();
    // Subrequests into the local pipeline (berth.compose) resolve through this thread's router.
    Http::RequestRouter::setForCurrentThread(m_router);
    Engine::ConnectionManager manager(m_settings, m_router, m_server, m_listeners);
    connect(&manager, &Engine::ConnectionManager::drained, this, &EventLoopThread::drained,
            Qt::DirectConnection);
    manager.start();
    m_manager.store(&manager);
    // A drain requested before the manager existed.
    if (m_drainRequested.load())
        manager.beginDrain();
    Q_EMIT listening();
    exec();
    m_manager.store(nullptr);
    // A drain posted just before the loop ended was dropped with the manager's events: the
    // thread accepts nothing from here on all the same.
    markStoppedAccepting();
    manager.closeAll();
    ThreadHealth::detach();
}

void EventLoopThread::beginDrain()
{
    m_drainRequested.store(true);
    Engine::ConnectionManager *manager = m_manager.load();
    if (!manager) {
        // Not built yet (run() drains it before its loop could accept anything) or gone.
        markStoppedAccepting();
        return;
    }
    QMetaObject::invokeMethod(
        manager,
        [this, manager] {
            manager->beginDrain();
            markStoppedAccepting();
        },
        Qt::QueuedConnection);
}

void EventLoopThread::markStoppedAccepting()
{
    if (!m_stoppedAccepting.exchange(true))
        Q_EMIT stoppedAccepting();
}

void EventLoopThread::closeAll()
{
    if (Engine::ConnectionManager *manager = m_manager.load())
        QMetaObject::invokeMethod(
            manager, [manager] { manager->closeAll(); }, Qt::QueuedConnection);
}

} // namespace Berth::Core
