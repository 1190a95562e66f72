#pragma once

#include "sharedstate.h"

#include <QByteArrayView>
#include <QList>
#include <QString>
#include <QStringList>

#include <sys/types.h>

namespace Berth::Core {

// What an event-loop thread of a worker publishes about itself. Every call acts on the calling
// thread's ThreadSlot, bound once with attach(); unbound, every call is a no-op, so the engine
// may call them unconditionally.
class ThreadHealth
{
public:
    // Binds the calling thread to slot's thread `index` and records its tid. Call in the thread.
    static bool attach(WorkerSlot *slot, int index);
    static void detach();
    static ThreadSlot *current();

    // Cheap (one clock read, one relaxed store): call from a timer in the event loop, say every
    // second; a loop that stops beating is stuck.
    static void beat();
    // Publishes the request the thread starts running (texts are truncated to their fields).
    static void beginRequest(QByteArrayView method, QByteArrayView url, QByteArrayView txn,
                             QByteArrayView client);
    // The same with the start time (monotonicMs()'s clock) a caller read already: the engine
    // has the request's start on CLOCK_MONOTONIC, so the thread spares a clock read.
    static void beginRequest(QByteArrayView method, QByteArrayView url, QByteArrayView txn,
                             QByteArrayView client, std::int64_t startedMs);
    static void endRequest();
};

// A consistent copy of what a thread was doing, read with the seqlock.
struct ThreadRequest
{
    bool busy = false;
    QString method;
    QString url;
    QString txn;
    QString client;
    qint64 startedMs = 0; // CLOCK_MONOTONIC
};

// False when the writer kept the sequence moving for too long (a torn read is never returned).
bool readThreadRequest(const ThreadSlot &thread, ThreadRequest *request);

// "thread 0 tid 1234: GET /slow txn abc client 127.0.0.1:5555 for 12.3 s", heartbeat age and
// the like, one line each, for logs and `berthd status`.
QStringList describeThread(const WorkerSlot &slot, int thread, qint64 nowMs = monotonicMs());

struct StuckThread
{
    int slot = -1;
    int thread = -1;
    pid_t pid = 0;
    pid_t tid = 0;
    qint64 silentMs = 0; // since the last heartbeat
    ThreadRequest request;
};

// Threads of live workers whose last heartbeat is older than timeoutMs. Threads that never beat
// are not counted (still starting). nowMs is injectable for tests.
QList<StuckThread> findStuck(const SharedState &state, qint64 timeoutMs,
                             qint64 nowMs = monotonicMs());

// Worker: on SIGUSR2, the interrupted thread writes its backtrace ("berth frame" lines, see
// crashreport.h: the master symbolises them) to fd,
// framed by "berth stack pid=P tid=T" and "berth stack end" lines. The handler is
// async-signal-safe: no malloc, no Qt, no locks. Dumps of two threads at once may interleave;
// ask one thread at a time.
bool installStackDumpHandler(int fd);
// Master: asks thread tid of process pid for its stack (tgkill SIGUSR2).
bool requestStackDump(pid_t pid, pid_t tid);

} // namespace Berth::Core
