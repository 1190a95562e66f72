#pragma once

#include "connection.h"
#include "exchangedriver.h"
#include "http/exchange.h"
#include "http1codec.h"

#include <QByteArray>

namespace Berth::Engine {

class ConnectionManager;
class Http1Connection;

// The per-exchange half of an HTTP/1 connection: the Exchange an app sees, the request and
// response, the HTTP/1 decoder, the exchange driver and the state of one request's body and
// response. A connection borrows one from its thread's pool (ConnectionManager) when a request
// starts and gives it back when the exchange is over and nothing of a next request is buffered,
// so an idle keep-alive connection holds none (nginx keeps its request structures in a pool
// freed between requests the same way).
//
// The Exchange calls go to the connection that holds the exchange (Http1Connection has the
// flow); once it was given back they do nothing, so an app that kept a reference past the end
// of its exchange can't touch another connection's request. A given-back exchange stays
// allocated at least until the thread's event loop is back (the pool is trimmed only then).
class Http1Exchange final : public Http::Exchange
{
public:
    explicit Http1Exchange(ConnectionManager &manager);
    ~Http1Exchange() override;

    // Http::Exchange
    void readBody(DataHandler onData, EventHandler onEnd) override;
    void pauseBody() override;
    void resumeBody() override;
    void respond(int status, QByteArrayView contentType, QByteArray body) override;
    void startResponse(qint64 contentLength) override;
    bool write(QByteArrayView data) override;
    void sendFile(int fd, qint64 offset, qint64 length) override;
    void finish() override;
    bool responseStarted() const override { return m_responseStarted; }
    void setWritableHandler(EventHandler handler) override { m_onWritable = std::move(handler); }
    void setAbortHandler(EventHandler handler) override
    {
        m_driver.setAbortHandler(std::move(handler));
    }
    void setDrainHandler(EventHandler handler) override
    {
        m_driver.setDrainHandler(std::move(handler));
    }
    void abort() override;
    bool startTunnel() override;
    bool isTunnel() const override;
    void runAfter(qint64 msecs, EventHandler handler) override;
    void appFailed(const QString &appName, const char *what) override;

private:
    friend class Http1Connection;
    friend class ConnectionManager; // recycle()

    // Taken by connection (null: given back).
    void attach(Http1Connection *connection) { m_connection = connection; }
    // Drops the app's body and writable handlers. A test each first: they are mostly unset, and
    // assigning nullptr to a std::function costs a call even then.
    void dropHandlers()
    {
        if (m_onData)
            m_onData = nullptr;
        if (m_onEnd)
            m_onEnd = nullptr;
        if (m_onWritable)
            m_onWritable = nullptr;
    }
    // Ready for the next request on the same connection (handlers and driver are ended
    // already: Http1Connection::endExchange).
    void reset();
    // Given back to the pool: detached, handlers dropped, and the head storage and header
    // fields lent to the thread (ThreadBuffers), so a pooled exchange holds no buffer either.
    void recycle();

    Http1Connection *m_connection = nullptr;
    Http1::RequestDecoder m_decoder;
    ExchangeDriver m_driver;
    QByteArray m_headStorage;          // the current request's head; Request views point here
    FilledAddresses m_filledAddresses; // what m_request's addresses hold

    // request body
    qint64 m_maxBody = 0;
    qint64 m_lastBodyProgress = 0;
    bool m_bodyWanted = false; // the app called readBody()
    bool m_bodyPaused = false;
    bool m_continueSent = false;
    bool m_endDelivered = false;
    DataHandler m_onData;
    EventHandler m_onEnd;
    EventHandler m_onWritable;

    // response
    bool m_responseStarted = false;
    bool m_responseFinished = false;
    bool m_headOnly = false; // HEAD, 1xx, 204, 304: no body bytes go out
    bool m_chunkedOut = false;
    bool m_writableWanted = false;
    bool m_tunnel = false; // after startTunnel(): the exchange is a byte tunnel until it ends
    int m_status = 0;
    bool m_dirty = false; // used since the last reset()
};

} // namespace Berth::Engine
