#pragma once

#include "threadbuffers.h"

#include <QByteArray>
#include <QtGlobal>

#include <memory>

namespace Berth::Engine {

// How a connection moves bytes: straight on the socket, or through TLS. Non-blocking; results
// follow one convention so the connection's state machine is the same for both.
class Transport
{
public:
    // Results of read(), write() and sendFile() other than a byte count.
    static constexpr qsizetype WouldBlock = -1; // wait for the event wantsWrite() names
    static constexpr qsizetype Failed = -2;     // the connection is unusable: close it

    virtual ~Transport() = default;

    // > 0: bytes read; 0: orderly end of stream; WouldBlock; Failed.
    virtual qsizetype read(char *buffer, qsizetype size) = 0;
    // > 0: bytes written (possibly fewer than size); WouldBlock; Failed. `more`: further data
    // follows at once (MSG_MORE), so the kernel may hold a partial packet.
    virtual qsizetype write(const char *data, qsizetype size, bool more) = 0;
    // Kernel sendfile from fileFd at *offset (advanced); same results as write(). Only when
    // canSendFile().
    virtual bool canSendFile() const { return false; }
    virtual qsizetype sendFile(int fileFd, qint64 *offset, qsizetype count);
    // Ends our direction of the stream (TLS close_notify, then TCP FIN).
    virtual void shutdownWrite() = 0;
    // TLS: sends close_notify, for a close that follows at once (its FIN needs no shutdown()).
    virtual void sendCloseNotify() {}
    // Bytes already decrypted and waiting, which no socket event will announce.
    virtual bool hasBufferedInput() const { return false; }
    // After WouldBlock: true if the socket must become writable (TLS handshake needing to send
    // while we wanted to read), false if readable.
    virtual bool wantsWrite() const = 0;
    virtual bool isSecure() const { return false; }
    // The application protocol TLS agreed on through ALPN ("http/1.1", "h2"), empty on
    // cleartext or when none was agreed. Valid once the handshake is done (the first read).
    virtual QByteArray negotiatedProtocol() const { return {}; }
};

// A plain TCP socket.
class PlainTransport final : public Transport
{
public:
    explicit PlainTransport(int fd)
        : m_fd(fd)
    {}
    // One per accepted connection: from the thread's block pool, not the heap.
    static void *operator new(std::size_t size) { return ThreadBuffers::takeBlock(size); }
    static void operator delete(void *block, std::size_t size)
    {
        ThreadBuffers::giveBlock(block, size);
    }
    qsizetype read(char *buffer, qsizetype size) override;
    qsizetype write(const char *data, qsizetype size, bool more) override;
    bool canSendFile() const override { return true; }
    qsizetype sendFile(int fileFd, qint64 *offset, qsizetype count) override;
    void shutdownWrite() override;
    bool wantsWrite() const override { return m_wantsWrite; }

private:
    int m_fd;
    bool m_wantsWrite = false;
};

// Makes the transport of a connection accepted on a listener that doesn't speak plain TCP
// (TLS). The engine holds only this interface: the TLS layer sits above it and the composition
// root hands its factory to the listener.
class TransportFactory
{
public:
    virtual ~TransportFactory() = default;
    // Takes ownership of fd.
    virtual std::unique_ptr<Transport> create(int fd) = 0;
};

} // namespace Berth::Engine
