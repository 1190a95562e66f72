#pragma once

#include "engine/poller.h"
#include "socketapps/socketappregistry.h"
#include "socketappsettings.h"

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QTimer>

#include <atomic>
#include <functional>
#include <memory>
#include <unordered_set>
#include <vector>

namespace Berth::Config {
class Config;
}

namespace Berth::Engine {
class TransportFactory;
}

namespace Berth::Services {

class StreamConnection;

// What every event-loop thread of one TCP/UDP app process shares: the settings, the sockets,
// the TLS transports, the connection count behind max_connections and the engine's own stats.
struct SocketAppShared
{
    SocketAppSettings settings;
    const Config::Config *config = nullptr;
    Core::StatsRegistry *stats = nullptr;
    const SocketApps::StreamAppFactory *streamFactory = nullptr;
    const SocketApps::DatagramAppFactory *datagramFactory = nullptr;
    std::shared_ptr<Engine::TransportFactory> tls; // null: plain TCP
    int socketFd = -1;                             // the listener or the UDP socket
    // Connections open in this process (every thread), for max_connections: one atomic
    // read-modify-write per accept; relaxed, since it guards a count, not other memory.
    std::atomic<int> connections{0};
    // Engine stats, declared by the service before the threads start ("tcp:NAME.<stat>").
    int refusedStat = -1;     // connections closed at once: max_connections
    int droppedStat = -1;     // datagrams over max_datagram_bytes
    int idleClosedStat = -1;  // connections closed by idle_timeout
    int sendTimeoutStat = -1; // connections closed by send_timeout
    int appErrorsStat = -1;   // exceptions from the app (each replaced it)
    int activeStat = -1;      // connections open now (worker)
};

// One event-loop thread of a TCP or UDP app: its own Poller over the shared socket
// (EPOLLEXCLUSIVE), its own app instance, its connections. Lives in its thread: every method
// but the constructor runs there (others reach it with queued calls).
class SocketLoop final : public QObject, private Engine::Poller::Handler
{
    Q_OBJECT
public:
    SocketLoop(SocketAppShared &shared, int threadIndex);
    ~SocketLoop() override;

    // Builds the app (parse_conf) in the calling thread; false with *error when it can't.
    bool buildApp(QString *error);
    // In the loop's thread: registers the socket and serves.
    void start();
    // Stops accepting; emits drained() once the last connection is gone (UDP: at once).
    void beginDrain();
    // Closes every connection now; emits drained().
    void closeAll();
    // Before the thread ends: closes everything and deletes what lives in the thread.
    void shutdown();

    // For connections.
    Engine::Poller &poller() { return *m_poller; }
    const SocketAppShared &shared() const { return m_shared; }
    // Monotonic milliseconds: the loop's own clock unless a test injected one.
    qint64 nowMs() const { return m_now ? m_now() : m_clock.elapsed(); }
    void setClock(std::function<qint64()> now) { m_now = std::move(now); }
    // Applies idle_timeout and send_timeout (every 250 ms on the loop's timer; tests call it).
    void checkTimeouts();
    std::shared_ptr<SocketApps::StreamApp> streamApp() const { return m_streamApp; }
    // Runs an app callback; an exception is logged, counted, and the app replaced by a fresh
    // instance (the caller closes the connection it came from). false when it threw.
    template <typename F> bool callApp(F &&f)
    {
        try {
            f();
            return true;
        } catch (const std::exception &e) {
            appFailed(e.what());
        } catch (...) {
            appFailed("unknown exception");
        }
        return false;
    }
    void countStat(int stat) { m_shared.stats->add(stat); }
    // A connection finished: deleted after the current poll batch.
    void connectionClosed(StreamConnection *connection);
    // Reads the connection once this turn of the loop ends, as a socket event would: for input
    // its transport holds that no socket event announces (TLS read-ahead).
    void postRead(StreamConnection *connection);

Q_SIGNALS:
    // Once start() has put the loop on the socket (or failed to: logged).
    void listening();
    void drained();

private:
    class UdpReply;

    void onPollEvents(bool readable, bool writable) override;
    void acceptOne();
    void readDatagrams();
    void appFailed(const char *what);
    void reap();
    void checkDrained();
    static void runPostedReads(void *loop);

    SocketAppShared &m_shared;
    int m_threadIndex;
    QElapsedTimer m_clock;
    std::function<qint64()> m_now;
    Engine::Poller *m_poller = nullptr;
    QTimer *m_sweep = nullptr;
    std::unique_ptr<SocketApps::SocketAppSetup> m_setup;
    std::shared_ptr<SocketApps::StreamApp> m_streamApp;
    std::unique_ptr<SocketApps::DatagramApp> m_datagramApp;
    std::unique_ptr<UdpReply> m_udpReply;
    QByteArray m_datagramBuffer;
    std::unordered_set<StreamConnection *> m_connections;
    QList<StreamConnection *> m_closed;
    std::vector<StreamConnection *> m_postedReads; // postRead(), until the turn ends
    bool m_listening = false;
    bool m_draining = false;
    bool m_drainedEmitted = false;
    qint64 m_lastRefusalLogMs = -1'000'000;
    int m_refusalsSinceLog = 0;
};

} // namespace Berth::Services
