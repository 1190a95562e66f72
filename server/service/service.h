#pragma once

#include <QList>
#include <QObject>
#include <QStringList>

#include <functional>

namespace Berth::Config {
class Config;
}

namespace Berth::Core {
class BroadcastBus;
class SharedState;
} // namespace Berth::Core

namespace Berth::Supervisor {

// What a host gives a service it builds: the configuration snapshot in force, where the
// service's process publishes its stats, and the listening sockets the supervisor passed it.
struct ServiceSetup
{
    const Config::Config *config = nullptr; // outlives the service
    QString name;                           // the instance, as in its ChildSpec
    Core::SharedState *shared = nullptr;    // owned by the host
    int slot = 0;                           // this process's slot in shared
    int index = 0; // which of its ChildSpec's `count` processes this is (0 .. count - 1)
    // Publish/subscribe with the other processes of the service (owned by the host; reaches
    // the service's other children through the master, or stays in-process with workers = 0).
    Core::BroadcastBus *bus = nullptr;
    // Single process (workers = 0): the service opens its own sockets. Otherwise it adopts the
    // ones its ChildSpec named, passed in LISTEN_FDS.
    bool inProcess = false;
    // In-process only: the files it was read from (a single process re-reads its TLS
    // certificates on HUP). Children never read configuration files.
    QStringList configFiles;
};

// One running instance of a service kind in one process (an HTTP worker, a ticker). Built from
// the configuration snapshot by its kind's factory; the host (a child process of the supervisor,
// or the single process of workers = 0) drives its life:
//
//   prepare() -> start() -> ready() ... drain() -> drained()   (TERM, reload, recycling)
//                                    ... stopNow()              (INT/QUIT)
//
// A service never installs signal handlers and never reads configuration files; it may end on
// its own (max_requests) by emitting drained().
class Service : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;

    // Builds everything that can fail (apps, sockets, files); errors name file:line where they
    // can. Runs before privileges are dropped in single-process mode.
    virtual bool prepare(QStringList *errors) = 0;
    // Starts serving, as the configured user (privileges are dropped by now): opens what apps
    // write (a log collector's file), then emits ready() once it serves. false ends the host.
    virtual bool start(QStringList *errors) = 0;
    // Stop taking new work, finish what is in flight (within the service's own grace), then emit
    // drained().
    virtual void drain() = 0;
    // Drop everything now; emits drained().
    virtual void stopNow() = 0;
    // SIGHUP in single-process mode (workers = 0), where nothing is re-executed: reload what can
    // change under a running service (TLS certificates, say).
    virtual void hangup() {}
    // The stats the service declares, in declaration order (the list `berthd status` and the
    // stats app show for it).
    virtual QStringList statNames() const = 0;

    // A control request for this service (`berthd daemon stop NAME`, later the admin API): the
    // control socket's `service KIND:NAME VERB ARGS...`, relayed by the master to every child
    // of the group. The service calls answer exactly once, at once or later (after a stop), with
    // the outcome and lines for the operator. By default a service takes no requests.
    using ControlAnswer = std::function<void(bool ok, const QStringList &lines)>;
    virtual void control(const QString &verb, const QStringList &arguments, ControlAnswer answer)
    {
        Q_UNUSED(arguments);
        answer(false, {QStringLiteral("%1: not a request this service takes").arg(verb)});
    }

    // Whether new connections may still reach this service after drain(): a service on shared
    // listening sockets says true until every thread of it has left them, and emits
    // stoppedAccepting() then. The host tells the master, and a reload answers only once the old
    // generation takes no new connection (so the next request meets the new configuration).
    // A service without listeners never accepts.
    virtual bool isAccepting() const { return false; }

    bool isReady() const { return m_ready; }
    bool isDrained() const { return m_drained; }

Q_SIGNALS:
    void ready();
    void stoppedAccepting();
    void drained();

protected:
    void markReady()
    {
        if (!m_ready) {
            m_ready = true;
            Q_EMIT ready();
        }
    }
    void markDrained()
    {
        if (!m_drained) {
            m_drained = true;
            Q_EMIT drained();
        }
    }

private:
    bool m_ready = false;
    bool m_drained = false;
};

} // namespace Berth::Supervisor
