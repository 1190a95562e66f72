#pragma once

#include "poller.h"
#include "socketaddress.h"
#include "threadbuffers.h"
#include "timerwheel.h"

#include <QByteArray>

#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace Berth::Http {
struct Request;
}

namespace Berth::Engine {

class Connection;
class ConnectionManager;
class Transport;

// An HTTP/1.1 request that asked to go on in another protocol (RFC 9113 §3.2 is gone from
// RFC 9113 but clients still send `Upgrade: h2c`): the new codec serves it as its first
// exchange (HTTP/2: stream 1). Owned copies, so nothing points into the old connection.
struct CodecUpgrade
{
    QByteArray switchingResponse; // "HTTP/1.1 101 ..." the new codec writes before anything
    QByteArray settings;          // the decoded HTTP2-Settings payload
    QByteArray method;
    QByteArray target;
    QByteArray host;
    std::vector<std::pair<QByteArray, QByteArray>> fields; // the rest of the header section
};

// Builds the connection of another codec on an open socket (see protocolselector.h). upgrade:
// null, or the request the old codec handed on with the socket.
using CodecFactory = std::function<Connection *(
    ConnectionManager &manager, int fd, quint64 id, std::unique_ptr<Transport> transport,
    QByteArray unreadInput, std::unique_ptr<CodecUpgrade> upgrade)>;

// What Connection::fillConnectionAddresses() last put into a request object that serves
// request after request (an exchange's): the same addresses again are not converted again.
struct FilledAddresses
{
    SocketAddress peer;
    SocketAddress local;
    bool valid = false;
};

// One client connection's I/O, whatever protocol it speaks: the socket and its Transport
// (plain or TLS), the input and output buffers, poll interest, files sent with sendfile, the
// lingering close and the timeouts about bytes moving. A codec subclass turns the bytes into
// exchanges (Http1Connection; an HTTP/2 connection later); ConnectionManager holds them all
// through this class and never knows the protocol.
//
// Timeouts: each connection sits in its thread's timer wheel once, armed for the next moment
// one of its timeouts could expire (nextCheck()); when it fires, checkTimeouts() decides and
// the connection is armed again. Activity does not touch the wheel (a deadline that moved
// later just fires early and is re-armed), only a deadline that may have come closer does.
//
// Not a QObject: a connection is a plain object the manager deletes once no call of its can be
// on the stack (ConnectionManager::release), and it keeps its addresses in compact form, so
// thousands of idle keep-alive connections cost little more than this object each.
class Connection : public Poller::Handler, private TimerWheel::Timer
{
public:
    // transport: how bytes move (TLS); null means plain TCP on fd.
    Connection(ConnectionManager &manager, int fd, quint64 id,
               std::unique_ptr<Transport> transport);
    ~Connection() override;

    // A connection lives for one request under `Connection: close`: its memory comes from the
    // thread's block pool (any codec's size), not a heap allocation per accept.
    static void *operator new(std::size_t size) { return ThreadBuffers::takeBlock(size); }
    static void operator delete(void *block, std::size_t size)
    {
        ThreadBuffers::giveBlock(block, size);
    }

    // Registers the socket and starts the codec. A plain TCP connection fresh from accept()
    // reads first, before registering: see readOnStart.
    void start();
    virtual void checkTimeouts(qint64 now) = 0;
    // When checkTimeouts() should run next: the earliest deadline of the current state. The
    // default, for a connection with an exchange in flight, is the manager's next tick (the
    // timeouts of a busy connection move with every byte, so they are checked each tick).
    virtual qint64 nextCheck(qint64 now) const;
    // Re-arms the connection's timer when its next check may have come closer (a request
    // began, output is waiting for the client, a drain started).
    void scheduleCheck();
    // Re-arms the timer for nextCheck() exactly, also when that is later than its arm.
    void rescheduleCheck();
    // As rescheduleCheck(), but an arm a little earlier than nextCheck() is kept: the timer
    // fires early once and re-arms then. For a keep-alive connection after each request.
    void relaxCheck();
    // Between exchanges with nothing received: may be closed to make room or on drain.
    virtual bool isIdle() const = 0;
    // Draining: finish what is in flight, then close.
    virtual void drain() = 0;
    // Closes at once (idle on drain, making room, server stopping).
    void closeNow() { closeSocket(); }
    quint64 id() const { return m_id; }

    // Poller::Handler
    void onPollEvents(bool readable, bool writable) override;

protected:
    enum class State {
        Idle,    // between exchanges (HTTP/1: reading the next request head)
        Active,  // an exchange is in progress
        Closing, // the last response is being written / we linger before close
        Closed,
    };

    // --- what the codec provides ---
    // New input (or the peer's end of stream) is buffered: act on it.
    virtual void process() = 0;
    // Bytes of unconsumed input held before reading stops (back-pressure); MinInputCap at
    // least.
    virtual qsizetype inputCap() const = 0;
    static constexpr qsizetype MinInputCap = 16 * 1024;
    // A file handed to sendFile() went out completely.
    virtual void onFileSent() {}
    // The socket has room again after a write event: an app waiting to write may go on.
    virtual void onWritableRoom() {}
    // Whether the codec wants write events although its output is empty.
    virtual bool wantsWritable() const { return false; }
    // Registered and counted: the codec starts its own clocks.
    virtual void onStarted() {}
    // The connection is closing for good (state is Closed already; previous is what it was):
    // end what the app still holds.
    virtual void onClosing(State previous) { Q_UNUSED(previous); }
    // Idle long enough: the codec drops what it holds per request too.
    virtual void onReleaseIdleBuffers() {}
    // Closing after the last response: whether the peer may still send bytes (then the close
    // lingers, so they can't turn into a reset that destroys the response before the client
    // read it). The default, for a codec that can't tell, is yes.
    virtual bool peerMaySendMore() const { return true; }

    // --- I/O for the codec ---
    QByteArrayView pendingInput() const { return QByteArrayView(m_in).sliced(m_inPos); }
    void consumeInput(qsizetype n) { m_inPos += n; }
    // When the unread input is exactly `size` bytes filling the input buffer from its start:
    // swaps that buffer with into (which has a buffer of its own, not shared: it becomes the
    // emptied input buffer) and returns true. The bytes move without a copy, so views into
    // them stay valid. False (and nothing changed) otherwise.
    bool swapWholeInput(QByteArray &into, qsizetype size);
    bool outputPending() const { return m_outPos < m_out.size() || m_fileFd >= 0; }
    bool fileInFlight() const { return m_fileFd >= 0; }
    // The output buffer, emptied first when everything queued has gone out.
    QByteArray &output();
    qsizetype outputQueued() const { return m_out.size() - m_outPos; }
    // Streams the file after what is queued; takes ownership of fd.
    void queueFile(int fd, qint64 offset, qint64 length, QByteArray after);
    // Queues bytes after everything queued, a file in flight included.
    void appendAfterQueued(QByteArrayView bytes);
    // Gives the socket, its transport and the unread input to another codec's connection
    // (chosen by the protocol selector), which takes this one's place in the manager. False
    // when there is no such codec: this connection goes on.
    bool handOver(const CodecFactory &factory, std::unique_ptr<CodecUpgrade> upgrade = nullptr);
    // A connection built by handOver(): starts with the bytes the old codec read but did not
    // use, and is not counted as a new accepted connection.
    void adoptHandedOverInput(QByteArray input)
    {
        m_in = std::move(input);
        m_inPos = 0;
    }
    void flush();
    // Reads while there is room below inputCap() and the peer may send; stops reading
    // (back-pressure) otherwise. Inline for the common case: reading, with little unread.
    void updateReadInterest()
    {
        if (m_wantRead && !m_peerEof && m_in.size() - m_inPos < MinInputCap)
            return; // wants to read, and inputCap() is not reached: nothing changes
        updateReadInterestSlow();
    }
    // After the last response: flush (now, or by the caller), then half-close and linger.
    void beginClosing(bool flushNow);
    // Closing: the lingering or the last write took too long. True when it closed.
    bool checkClosingTimeout(qint64 now);
    void closeSocket();
    void releaseIdleBuffers();
    // Everything queued went out: the output buffer goes back to the thread (ThreadBuffers)
    // until the next response needs one.
    void lendOutputBuffer()
    {
        if (m_outPos < m_out.size() || m_fileFd >= 0)
            return; // still going out
        ThreadBuffers::giveBytes(m_out);
        m_outPos = 0;
    }
    // Every received byte was consumed: the input buffer goes back to the thread too. Only for
    // a codec that sets m_lendsInput (its connections then take the buffer from the thread on
    // their next read instead of keeping one sized to their requests).
    void lendInputBuffer()
    {
        if (m_inPos < m_in.size())
            return; // unread bytes
        ThreadBuffers::giveBytes(m_in);
        m_inPos = 0;
    }
    // Whether releaseIdleBuffers() would free anything.
    bool holdsBuffers() const { return m_in.capacity() != 0 || m_out.capacity() != 0; }
    // "ip:port" (or "unix:") and "name:port" of the connection, for request.log. The client
    // text is formatted on first use into the connection's own fixed buffer (no allocation)
    // and lives as long as the connection.
    QByteArrayView clientText();
    const QByteArray &serverText();
    // The connection's addresses and security into a request (a trusted proxy's headers may
    // change them per request afterwards: ExchangeDriver::route). filled: null, or what the
    // last call put into this request object (updated).
    void fillConnectionAddresses(Http::Request &request, FilledAddresses *filled = nullptr) const;
    // The thread's time (ConnectionManager::now(): read once per loop turn). Inline, below.
    qint64 now() const;

    ConnectionManager &m_manager;
    std::unique_ptr<Transport> m_transport;
    State m_state = State::Idle;
    bool m_peerEof = false;
    qint64 m_lastActivity = 0;
    qint64 m_lastWriteProgress = 0;
    qint64 m_lingerDeadline = 0;
    bool m_lingering = false;
    SocketAddress m_peer;
    SocketAddress m_local;
    bool m_unixPeer = false;    // accepted on a unix-socket listener
    bool m_proxySsl = false;    // the PROXY header said the client spoke TLS to the proxy
    bool m_http2Allowed = true; // the listener serves HTTP/2 (prior knowledge, h2c)
    bool m_lendsInput = false;  // see lendInputBuffer()

private:
    friend class ConnectionManager; // m_managerIndex
    // TimerWheel::Timer
    void onTimer(qint64 now) override;

    void onReadable();
    void onWritable();
    bool readInput();
    // The transport holds input no socket event will announce (TLS read-ahead): read again
    // once this turn is over.
    void postRead();
    // The posted read: as a readable socket's event, if the connection still wants to read.
    void onPostedRead();
    void updateReadInterestSlow();
    void setInterest(bool read, bool write);
    void waitForWritable();
    qsizetype readFileIntoOutput(qsizetype count);
    void afterFlushed();
    // Plain TCP with nothing received beyond what was consumed, in our buffer or the socket's
    // (as far as our last read saw: see m_socketDrained).
    bool nothingUnread() const;
    void compactInput();

    int m_fd;
    quint64 m_id;
    qsizetype m_managerIndex = -1; // in the manager's list, for O(1) removal
    bool m_registered = false;     // in the thread's epoll set
    // Fresh from accept() on plain TCP: start() reads before it registers the socket.
    bool m_readOnStart = false;
    // start() is reading before the registration: interest changes are only recorded.
    bool m_registerPending = false;
    bool m_gotInput = false;   // a read brought bytes (set by readInput(), for start())
    bool m_readPosted = false; // waits in the manager's posted reads (postRead())
    // The last readInput() stopped at the input cap or after its rounds, not at a short read,
    // EAGAIN or the end: the transport may hold complete input (a partial TLS record doesn't
    // count: its read said EAGAIN).
    bool m_readStoppedEarly = false;
    // The last read from the socket returned less than it asked for (or nothing yet): the
    // socket held nothing more then. nginx's `ready` flag; spares an ioctl(FIONREAD) per close.
    bool m_socketDrained = false;
    bool m_wantRead = false;
    bool m_wantWrite = false;
    bool m_readNeedsWritable = false;  // TLS: a read waits for the socket to take our bytes
    bool m_writeNeedsReadable = false; // TLS: a write waits for the peer's bytes
    bool m_countedActive = false;
    // relaxCheck() armed the timer for the idle state since the last read: the check after the
    // poll event has nothing to add (no input, no new deadline).
    bool m_timerSettled = false;
    bool m_handedOver = false;     // built by handOver(): TotalConnections counted it already
    quint8 m_clientTextLength = 0; // of m_clientText, 0 until first used
    char m_clientText[SocketAddress::MaxTextLength]; // "ip:port" for request.log
    const QByteArray *m_serverText = nullptr;        // "name:port", the manager's (one per port)
    QByteArray m_in;
    qsizetype m_inPos = 0;
    QByteArray m_out;
    qsizetype m_outPos = 0;
    int m_fileFd = -1;
    qint64 m_fileOffset = 0;
    qint64 m_fileRemaining = 0;
    QByteArray m_afterFile; // framing that follows a file being sent
};

} // namespace Berth::Engine

// Connection::now() is called several times per request: inline, with the manager complete.
#include "connectionmanager.h"

namespace Berth::Engine {

inline qint64 Connection::now() const
{
    return m_manager.now();
}

} // namespace Berth::Engine
