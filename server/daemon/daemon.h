#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>

namespace Berth::Config {
class Config;
}

namespace Berth::Core {
class StatsRegistry;
}

namespace Berth::Daemons {

// What the daemon service gives the daemon it hosts: its section, who it is, where its stats go.
struct DaemonContext
{
    const Config::Config *config = nullptr; // outlives the daemon
    QString section;                        // "daemon:NAME"
    QString name;                           // NAME, or NAME.n with instances > 1
    int instance = 0;                       // 0 .. instances - 1
    Core::StatsRegistry *stats = nullptr;   // this process's, attached to its shared slot
};

// A daemon written in C++ (brim's daemons: `call = berth.daemon_sample`; a plugin may register
// its own). One instance per berthd child, on the child's main thread and event loop:
//
//   prepare() -> start() ... stop() -> stopped()     (and start() again after a `daemon start`)
//
// A daemon never blocks the event loop (timers, notifiers, an offload thread of its own), never
// installs signal handlers and never reads configuration files: its options come from
// context.config. The service around it keeps its state (RUNNING, STOPPED ...) and stats.
class Daemon : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;

    // Reads the options and declares the stats (context.stats->declare()); errors name the
    // section. Runs once, before start().
    virtual bool prepare(const DaemonContext &context, QStringList *errors) = 0;
    // Starts working. false (with *errors): it could not, and counts as a failed start.
    virtual bool start(QStringList *errors) = 0;
    // Stops working, then emits stopped() (at once or later).
    virtual void stop() = 0;
    // One line for `berthd status` ("12 iterations, last run 10:00:03").
    virtual QString statusLine() const = 0;
    // The stats it declares, in declaration order.
    virtual QStringList statNames() const = 0;

Q_SIGNALS:
    void stopped();
    // It ended on its own (an error): the service restarts it as its autorestart says.
    void failed(const QString &why);
};

// A daemon kind (the `call` value). validate reports problems on the configuration (with
// file:line, Config::addDiagnostic), without side effects.
struct DaemonKind
{
    QString name;
    std::function<void(const Config::Config &, const QString &section)> validate;
    std::function<std::unique_ptr<Daemon>()> create;
};

class DaemonRegistry
{
public:
    void add(DaemonKind kind);
    // A kind that serves every call starting with kind.name (`plugin:`): its validate reads the
    // whole call from the section, its daemon from DaemonContext::section in prepare(). An exact
    // name wins.
    void addPrefix(DaemonKind kind);
    const DaemonKind *find(const QString &name) const;
    QStringList names() const;

    // The kinds this process knows: filled once at start-up by the composition root (and by
    // plugins), before anything reads it.
    static DaemonRegistry &builtin();

private:
    QList<DaemonKind> m_kinds;
    QList<DaemonKind> m_prefixes;
};

} // namespace Berth::Daemons
