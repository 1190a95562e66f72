#pragma once

#include "engine/poller.h"
#include "socketapps/streamapp.h"

#include <QByteArray>

#include <memory>

namespace Berth::Engine {
class Transport;
}

namespace Berth::Services {

class SocketLoop;

// One accepted TCP connection of a stream app: the socket, its transport (plain or TLS), a
// bounded input buffer the app reads from and a bounded output buffer (back-pressure), the idle
// and send timers, and the app's session. The app's callbacks run through SocketLoop::callApp.
class StreamConnection final : public Engine::Poller::Handler, public SocketApps::Stream
{
    friend class SocketLoop; // m_readPosted
public:
    StreamConnection(SocketLoop &loop, int fd, std::unique_ptr<Engine::Transport> transport,
                     QString peerAddress, quint16 peerPort);
    ~StreamConnection() override;

    // Registers with the poller and asks the app for a session; false: closed already.
    bool open();
    // Idle and send timeouts; called by the loop's sweep.
    void checkTimers(qint64 nowMs);
    // Ends the connection now (server stopping).
    void terminate();
    bool isClosed() const { return m_closed; }
    // A read the loop runs when its turn ends (SocketLoop::postRead()): input the transport
    // took off the socket (TLS read-ahead) that no socket event will announce.
    void onPostedRead();

    // SocketApps::Stream
    QByteArray read(qsizetype max) override;
    qsizetype bytesAvailable() const override { return m_in.size() - m_inPos; }
    bool atEnd() const override { return m_eof && bytesAvailable() == 0; }
    bool write(QByteArrayView data) override;
    bool canWrite() const override;
    qsizetype bytesToWrite() const override { return m_out.size() - m_outPos; }
    void shutdownWrite() override { m_shutdownRequested = true; }
    void close() override { m_closeRequested = true; }
    QString peerAddress() const override { return m_peerAddress; }
    quint16 peerPort() const override { return m_peerPort; }
    bool isSecure() const override;
    void setIdleTimeout(qint64 ms) override { m_idleTimeoutMs = ms; }

private:
    void onPollEvents(bool readable, bool writable) override;
    void process(bool canRead);
    bool readInput();   // false: failed
    bool flushOutput(); // false: failed
    void callSession(bool writable);
    void updateInterest();
    void finish();

    SocketLoop &m_loop;
    int m_fd;
    std::unique_ptr<Engine::Transport> m_transport;
    // The app that made the session stays alive while the session does, even when an
    // exception elsewhere replaced it.
    std::shared_ptr<SocketApps::StreamApp> m_app;
    std::unique_ptr<SocketApps::StreamSession> m_session;
    QString m_peerAddress;
    quint16 m_peerPort;
    QByteArray m_in;
    qsizetype m_inPos = 0;
    QByteArray m_out;
    qsizetype m_outPos = 0;
    bool m_eof = false;
    bool m_endDelivered = false;
    bool m_waitingWritable = false;
    bool m_shutdownRequested = false;
    bool m_shutdownDone = false;
    bool m_closeRequested = false;
    bool m_closed = false;
    bool m_readPosted = false;       // waits in the loop's posted reads
    bool m_readStoppedEarly = false; // the last read stopped with input possibly left
    bool m_registered = false;
    bool m_wantRead = true;
    bool m_wantWrite = false;
    qint64 m_idleTimeoutMs = 0;
    qint64 m_lastActivityMs = 0;
    qint64 m_lastSendProgressMs = 0;
};

} // namespace Berth::Services
