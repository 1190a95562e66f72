#include "http1exchange.h"

#include "connectionmanager.h"
#include "http1connection.h"
#include "threadbuffers.h"

#include <unistd.h>

namespace Berth::Engine {

Http1Exchange::Http1Exchange(ConnectionManager &manager)
    : m_decoder(manager.settings().head)
    , m_driver(manager, &manager, [this] {
        // An app callback returned: the connection acts on what it did.
        if (m_connection)
            m_connection->afterAppCallback();
    })
{}

Http1Exchange::~Http1Exchange() = default;

void Http1Exchange::recycle()
{
    m_connection = nullptr;
    dropHandlers();
    if (m_dirty) // not when the connection reset it after its last request already
        reset();
    ThreadBuffers::giveFields(m_request.head.fields);
    ThreadBuffers::giveBytes(m_headStorage);
}

void Http1Exchange::reset()
{
    m_dirty = false;
    m_request.head.clear(); // its views point into the head storage
    m_response.clear();
    setPipelinePosition(nullptr, 0);
    m_decoder.reset();
    m_maxBody = 0;
    m_lastBodyProgress = 0;
    m_bodyWanted = false;
    m_bodyPaused = false;
    m_continueSent = false;
    m_endDelivered = false;
    m_responseStarted = false;
    m_responseFinished = false;
    m_headOnly = false;
    m_chunkedOut = false;
    m_writableWanted = false;
    m_tunnel = false;
    m_status = 0;
}

// The Exchange calls: to the connection that holds the exchange, nothing once it was given back.

void Http1Exchange::readBody(DataHandler onData, EventHandler onEnd)
{
    if (m_connection)
        m_connection->readBody(std::move(onData), std::move(onEnd));
}

void Http1Exchange::pauseBody()
{
    if (m_connection)
        m_bodyPaused = true;
}

void Http1Exchange::resumeBody()
{
    if (m_connection)
        m_connection->resumeBody();
}

void Http1Exchange::respond(int status, QByteArrayView contentType, QByteArray body)
{
    if (m_connection)
        m_connection->respond(status, contentType, std::move(body));
}

void Http1Exchange::startResponse(qint64 contentLength)
{
    if (m_connection)
        m_connection->startResponse(contentLength);
}

bool Http1Exchange::write(QByteArrayView data)
{
    return m_connection && m_connection->write(data);
}

void Http1Exchange::sendFile(int fd, qint64 offset, qint64 length)
{
    if (m_connection)
        m_connection->sendFile(fd, offset, length);
    else
        ::close(fd); // ours to close, whatever happens
}

void Http1Exchange::finish()
{
    if (m_connection)
        m_connection->finish();
}

void Http1Exchange::abort()
{
    if (m_connection)
        m_connection->abort();
}

bool Http1Exchange::startTunnel()
{
    return m_connection && m_connection->startTunnel();
}

bool Http1Exchange::isTunnel() const
{
    return m_connection && m_tunnel && !m_responseFinished && m_connection->exchangeActive();
}

void Http1Exchange::runAfter(qint64 msecs, EventHandler handler)
{
    if (m_connection)
        m_connection->runAfter(msecs, std::move(handler));
}

void Http1Exchange::appFailed(const QString &appName, const char *what)
{
    if (m_connection)
        m_connection->appFailed(appName, what);
}

} // namespace Berth::Engine
