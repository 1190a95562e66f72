#pragma once

#include <QString>
#include <QStringList>

#include <QByteArray>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

namespace Berth::Wsgi {

class WsgiCall;

// What a berth.wsgi app is: where its code is and how many threads run it.
struct WsgiOptions
{
    QString module; // "/srv/site/app.py" or "site.wsgi"
    QString callable = QStringLiteral("app");
    QStringList pythonPath;
    QString venv;
    QStringList environment; // NAME=VALUE
    int threads = 8;
    int queueCapacity = 256;
    // [server] worker_timeout: a request the app runs for longer is a hung app; 0: no limit.
    qint64 hangTimeoutMs = 0;
};

// Tries the import in a child python3 (the same version as the embedded one), so that
// `berthd check` and the master's pre-flight report an app that can't be imported without
// running the app's code in the server. Started as root, the child first switches to `user`
// (and `group`, else the user's primary group), as the workers will: the app's import code
// never runs as root. False and *error (the traceback) when it fails.
bool checkImport(const WsgiOptions &options, const QString &user, const QString &group,
                 QString *error);

// The embedded interpreter's side of one app, per worker process: the imported callable and
// the threads that run it. Shared by the app's instances on every event-loop thread; lives
// until the process exits (a thread may be inside the app's code at any time).
class WsgiRuntime
{
public:
    // The runtime of app `name`, importing it on first use (the interpreter is initialised on
    // first use too, once the process runs as its configured user). Null and *error (with the
    // traceback) when the import fails.
    static WsgiRuntime *acquire(const QString &name, const WsgiOptions &options, QString *error);

    // Queues a request for a thread; false when the queue is full (the caller answers 503).
    bool submit(std::shared_ptr<WsgiCall> call);

private:
    ~WsgiRuntime() = default; // never called: see above
    // One per thread: the request it runs (startedMs 0: idle), for the hang watchdog.
    struct Busy
    {
        std::atomic<qint64> startedMs{0};
        QByteArray txnId; // guarded by m_mutex
    };
    // Once a second: an app thread busy for over hangTimeoutMs is logged with the Python
    // stacks and the worker is killed, as the master does to a hung event loop (gunicorn's
    // WORKER TIMEOUT); the master then starts a new one.
    void watchHangs();
    explicit WsgiRuntime(void *app, const WsgiOptions &options);
    void runThread();

    void *m_app; // PyObject *: the WSGI callable (a strong reference)
    const WsgiOptions m_options;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<std::shared_ptr<WsgiCall>> m_queue;
    std::unique_ptr<Busy[]> m_busy;
    std::atomic<int> m_nextThread{0};
};

} // namespace Berth::Wsgi
