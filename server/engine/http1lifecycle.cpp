// Http1Connection's side of the connection's life: the hooks the Connection base calls, the
// timeouts and the request.log line (http1connection.cpp has the request and response flow).
#include "connectionmanager.h"
#include "http1connection.h"

namespace Berth::Engine {

// ---------------------------------------------------------------------------------------------
// Connection hooks

void Http1Connection::onFileSent()
{
    if (m_ex && m_ex->m_responseFinished)
        writeRequestLog();
}

void Http1Connection::onWritableRoom()
{
    if (m_ex && m_ex->m_writableWanted && m_ex->m_onWritable && !m_ex->m_responseFinished &&
        outputQueued() < OutputHighWater) {
        m_ex->m_writableWanted = false;
        Http::Exchange::EventHandler handler = m_ex->m_onWritable;
        callApp("writable", handler);
    }
}

bool Http1Connection::wantsWritable() const
{
    return m_ex && m_ex->m_writableWanted && m_ex->m_onWritable && !m_ex->m_responseFinished;
}

void Http1Connection::onClosing(State previous)
{
    if (previous == State::Active && m_ex && !m_ex->m_responseFinished) {
        if (!m_ex->m_driver.logged()) {
            if (!m_ex->m_responseStarted)
                m_ex->m_status = 499; // nginx's "client closed request"
            writeRequestLog();
        }
        m_ex->m_onData = nullptr;
        m_ex->m_onEnd = nullptr;
        m_ex->m_onWritable = nullptr;
        m_ex->m_driver.runAbortHandler(m_ex->m_request);
    }
    endExchange();
}

bool Http1Connection::peerMaySendMore() const
{
    // Done sending: a client that asked for the close itself (Connection: close, HTTP/1.0
    // without keep-alive) in a head that parsed, with its body read whole and no tunnel. When
    // the server chose to close (drain, errors, unread bodies) the client may be pipelining.
    return !m_ex || m_ex->m_request.head.method.isEmpty() || m_ex->m_decoder.framing().keepAlive ||
           !bodyComplete() || m_ex->m_tunnel;
}

void Http1Connection::drain()
{
    m_draining = true;
    if (m_state == State::Active && !m_ex->m_responseFinished) {
        // A long-lived exchange (a WebSocket tunnel) may end itself now rather than at
        // graceful_timeout.
        m_ex->m_driver.runDrainHandler(*m_ex, clientText());
        return;
    }
    // An idle keep-alive connection can go now. One that was accepted but has not sent its
    // first request yet is a client that is about to: closing it would reset that request, so
    // it gets its answer (with Connection: close), bounded by header_timeout.
    if (isIdle() && m_requestsOnConnection > 0)
        closeSocket();
}

// ---------------------------------------------------------------------------------------------
// Timeouts and logging

void Http1Connection::checkTimeouts(qint64 t)
{
    const EngineSettings &s = m_manager.settings();
    switch (m_state) {
    case State::Idle:
        if (m_headDeadline != 0) {
            if (t >= m_headDeadline) {
                if (pendingInput().isEmpty())
                    closeSocket(); // connected but never sent a byte
                else
                    failRequest(408, "request head not received in time");
            }
        } else if (t - m_lastActivity >= s.idleTimeoutMs) {
            closeSocket(); // idle keep-alive connection
        } else if (t - m_lastActivity >= IdleReleaseMs && isIdle()) {
            releaseIdleBuffers();
        }
        return;
    case State::Active: {
        if (outputPending() && t - m_lastWriteProgress >= s.sendTimeoutMs) {
            closeSocket();
            return;
        }
        if (m_ex->m_tunnel)
            return; // the tunnel's owner keeps its own clocks (runAfter)
        const bool waitingForBody =
            !bodyComplete() &&
            ((m_ex->m_bodyWanted && !m_ex->m_bodyPaused) || m_ex->m_responseFinished);
        if (waitingForBody && t - m_ex->m_lastBodyProgress >= s.bodyTimeoutMs) {
            if (m_ex->m_responseStarted)
                closeSocket();
            else
                failRequest(408, "request body not received in time");
        }
        return;
    }
    case State::Closing:
        checkClosingTimeout(t);
        return;
    case State::Closed:
        return;
    }
}

qint64 Http1Connection::nextCheck(qint64 t) const
{
    // Between requests the deadlines are known exactly (checkTimeouts' Idle case); an exchange
    // in flight is checked every tick.
    if (m_state != State::Idle)
        return Connection::nextCheck(t);
    if (m_headDeadline != 0)
        return m_headDeadline;
    if (holdsBuffers() && isIdle())
        return m_lastActivity + IdleReleaseMs;
    return m_lastActivity + m_manager.settings().idleTimeoutMs;
}

void Http1Connection::writeRequestLog()
{
    ExchangeDriver::LogFacts facts;
    facts.status = m_ex->m_status;
    facts.version = Http1::versionText(m_ex->m_request.head, m_ex->m_decoder.framing());
    facts.client = clientText();
    facts.server = serverText();
    facts.connectionId = id();
    facts.requestOnConnection = m_requestsOnConnection;
    m_ex->m_driver.log(m_ex->m_request, facts);
}

} // namespace Berth::Engine
