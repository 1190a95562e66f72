#pragma once

#include "http/exchange.h"

#include <QByteArray>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace Berth::Core {
class ThreadMailbox;
}

namespace Berth::Wsgi {

using HeaderList = std::vector<std::pair<QByteArray, QByteArray>>;

// One request on its way between the exchange's event-loop thread and the Python thread that
// runs the app. The loop side feeds the body in (pausing the exchange above a high-water mark)
// and learns when the client leaves; the Python side takes the body out and sends the response,
// each piece posted back to the loop (the exchange is touched only there) and waiting while
// more than a high-water mark of output is unwritten. Every wait ends when the client leaves.
class WsgiCall : public std::enable_shared_from_this<WsgiCall>
{
public:
    // Bytes buffered per direction before the producer waits.
    static constexpr qint64 HighWater = 256 * 1024;

    WsgiCall(Http::Exchange &exchange, std::shared_ptr<Core::ThreadMailbox> mailbox);

    // --- loop thread ---
    // Starts reading the body and watching the client: call once, before submitting.
    void attach(Http::Exchange &exchange);
    // The environ's CGI part, built from the request (valid only on the loop thread).
    const HeaderList &environ() const { return m_environ; }
    const QByteArray &txnId() const { return m_txnId; }
    // Whether the call will still be answered (false: the client left or the loop is gone).
    bool alive() const;

    // --- Python thread (each blocks only on the bounded buffers) ---
    // The next piece of the body; empty at its end. False when the client left.
    bool receive(QByteArray *chunk);
    void start(int status, HeaderList headers, qint64 contentLength);
    // False when the client left: stop producing.
    bool write(QByteArray data);
    void respond(int status, HeaderList headers, qint64 contentLength, QByteArray body);
    void sendFile(int status, HeaderList headers, int fd, qint64 offset, qint64 length);
    void finish();
    // The app failed: 500 with the txn id, or the connection cut once the response started.
    void fail();

private:
    void buildEnviron(const Http::Exchange &exchange);
    // Runs f(exchange) on the loop thread if the exchange is still there.
    void post(std::function<void(Http::Exchange &)> f);
    void markGone();
    static void setHead(Http::Exchange &exchange, int status, const HeaderList &headers);

    std::shared_ptr<Core::ThreadMailbox> m_mailbox;
    Http::ExchangeHandle m_handle; // loop thread only
    HeaderList m_environ;
    QByteArray m_txnId;

    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<QByteArray> m_input; // guarded by m_mutex, like everything below
    qint64 m_inputBytes = 0;
    bool m_inputEnd = false;
    bool m_inputPaused = false;
    qint64 m_outputPending = 0;   // posted, not yet handed to the exchange
    bool m_outputBlocked = false; // the exchange's buffer is over its mark
    bool m_gone = false;
};

} // namespace Berth::Wsgi
