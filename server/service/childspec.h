#pragma once

#include "runtime/listeners.h"

#include <QByteArray>
#include <QList>
#include <QString>

namespace Berth::Supervisor {

// What a service asks of the supervisor for one group of identical child processes.
struct ChildSpec
{
    // Whether a child that ended is started again: always (HTTP workers recycled by
    // max_requests exit 0 and are replaced) or only when it failed (exit status != 0 or a
    // signal).
    enum class Restart { Always, OnFailure };
    // What a reload does with the group: Replace starts the new generation's children and stops
    // the old ones once every new one is ready (new-first overlap, no dropped connection);
    // Restart stops the old ones as the new ones start; Keep leaves the running children alone
    // when the group's sections did not change (and restarts them when they did).
    enum class Reload { Replace, Restart, Keep };

    QString kind;  // the service kind ("http", "berth.ticker")
    QString name;  // the instance ("http", the NAME of [ticker:NAME])
    int count = 1; // processes
    // Indices into the kind's own listener list (ServiceKind::listeners); only these are passed
    // to the child, from fd 3 in the systemd LISTEN_FDS convention. Empty: the child gets no
    // socket.
    QList<int> listeners;
    // The sockets those indices name, filled by ServiceRegistry::childSpecs(): the supervisor
    // finds each among the sockets it opened (ListenSpec::sameSocket), so it never needs to know
    // which kind asked for which socket.
    QList<Core::ListenSpec> listenSpecs;
    Restart restart = Restart::Always;
    qint64 backoffStartMs = 100; // first delay after a quick failure, doubled each time
    qint64 backoffCapMs = 30'000;
    // A child that dies within quickExitMs of its start counts as a quick failure; after
    // crashLoopLimit quick failures in a row the service is marked failed and not restarted
    // until the next reload (0: never give up).
    qint64 quickExitMs = 5'000;
    int crashLoopLimit = 0;
    Reload reload = Reload::Replace;
    qint64 stopGraceMs = 30'000; // TERM, then KILL after this long
    // Digest of the sections that configure the group (Config::Snapshot::sectionsDigest), for
    // Reload::Keep.
    QByteArray digest;

    QString key() const { return kind + QLatin1Char(':') + name; }
};

} // namespace Berth::Supervisor
