#pragma once

#include "http/exchange.h"

#include <QByteArray>

#include <functional>
#include <vector>

class QObject;
class QTimer;

namespace Berth::Engine {

class ConnectionManager;

// What every protocol's exchange needs around the app, whichever codec carries it (HTTP/1
// today, an HTTP/2 stream later): the transaction id, routing, the app boundary (thread health
// published while app code runs, exceptions caught and turned into a 500 or an abort, the abort
// handler and the timers an app runs through the exchange), and at the end the request.log
// line, the stats and the CEF events. One per exchange in flight; an HTTP/1 connection reuses
// its one for each request.
class ExchangeDriver
{
public:
    // afterCallback: the codec's chance to act on what an app callback did (flush, go on
    // reading) once the callback returned. context owns the exchange's timers.
    ExchangeDriver(ConnectionManager &manager, QObject *context,
                   std::function<void()> afterCallback);
    ~ExchangeDriver();

    // --- life of one exchange ---
    // A new exchange on request: fresh txn id, per-exchange attributes cleared, clocks started.
    void begin(Http::Request &request, qint64 bytesIn);
    // Normalises the path and the host and finds the pipeline. Null with *badPath when the
    // path can't be normalised; null otherwise when no route matches ("*" included).
    const Http::AppChain *route(Http::Request &request, bool *badPath);
    // The body cap for this route: its own max_body_bytes or [limits].
    qint64 maxBodyBytes(const Http::AppChain *pipeline) const;
    // Runs the pipeline for the exchange with the request published as this thread's work.
    void run(Http::Exchange &exchange, const Http::AppChain *pipeline, QByteArrayView client);
    // A body an earlier app of the pipeline read and kept (Request::bodyBuffered) goes to the
    // reader at once, whatever the protocol. False when there is none: the codec streams it.
    static bool deliverBufferedBody(const Http::Request &request,
                                    const Http::Exchange::DataHandler &onData,
                                    const Http::Exchange::EventHandler &onEnd);
    // The exchange is over: abort handler and timers dropped, per-exchange attributes released
    // (the session owner among them), handles turn null.
    void end(Http::Exchange &exchange);

    // --- the app boundary ---
    // Runs an app callback. An exception stops here: logged with the txn id, the abort handler
    // runs, and the exchange answers 500 (nothing sent yet) or is aborted. False when it threw.
    bool callApp(Http::Exchange &exchange, const char *what, const std::function<void()> &callback,
                 QByteArrayView client);
    void setAbortHandler(Http::Exchange::EventHandler handler) { m_onAbort = std::move(handler); }
    void setDrainHandler(Http::Exchange::EventHandler handler) { m_onDrain = std::move(handler); }
    // The server drains: the exchange's drain handler runs (once) through callApp.
    void runDrainHandler(Http::Exchange &exchange, QByteArrayView client);
    // The exchange dies before the app finished it: its timers stop and its abort handler runs
    // (once; an exception from it is logged and dropped).
    void runAbortHandler(const Http::Request &request);
    // The app ended the exchange itself (Exchange::abort): it is not called back.
    void dropAppCallbacks();
    void runAfter(Http::Exchange &exchange, qint64 msecs, Http::Exchange::EventHandler handler,
                  QByteArrayView client);

    // --- accounting ---
    void addBytesIn(qint64 n) { m_bytesIn += n; }
    void addBytesOut(qint64 n) { m_bytesOut += n; }
    qint64 bytesOut() const { return m_bytesOut; }
    void responseStarted();
    // The app completed the response (even if bytes are still going out): a late exception is
    // only logged.
    void responseFinished() { m_finished = true; }
    // Input that ends the connection (400, 408, 413 ...): counted and written to cef.log.
    void recordBadInput(const Http::Request &request, int status, const char *reason);

    // What request.log needs besides the request and the counters.
    struct LogFacts
    {
        int status = 0;
        QByteArrayView version; // "HTTP/1.1", empty for a head that failed to parse
        QByteArrayView client;  // "ip:port"
        QByteArrayView server;  // "name:port"
        quint64 connectionId = 0;
        quint32 requestOnConnection = 0;
    };
    // Once per exchange: stats and the request.log line. False when it was written already.
    bool log(const Http::Request &request, const LogFacts &facts);
    bool logged() const { return m_logged; }

private:
    void appFailed(Http::Exchange &exchange, const char *what, const char *failure);
    void cancelTimers();

    ConnectionManager &m_manager;
    QObject *m_context;
    std::function<void()> m_afterCallback;
    Http::Exchange::EventHandler m_onAbort;
    Http::Exchange::EventHandler m_onDrain;
    std::vector<QTimer *> m_timers;
    bool m_inCallback = false;
    bool m_logged = false;
    bool m_finished = false;
    qint64 m_bytesIn = 0;
    qint64 m_bytesOut = 0;
    qint64 m_startMicros = 0;
    qint64 m_responseStartMicros = 0;
    qint64 m_wallMsecs = 0;
};

} // namespace Berth::Engine
