#pragma once

#include "engine/transport.h"

#include <memory>

using SSL = struct ssl_st;

namespace Berth::Tls {

class TlsContext;
class TlsContextSlot;

// TLS over a non-blocking socket with OpenSSL: the handshake happens inside the first reads;
// the connection's state machine sees the same results as with plain TCP.
class TlsTransport final : public Engine::Transport
{
public:
    // http2: h2 may be agreed through ALPN (when the context offers it at all). OpenSSL reads
    // ahead: one read() takes what the socket holds (a whole flight of records) instead of a
    // record's header and then its body, so readers read again while hasBufferedInput(), as
    // every reader here does (Connection::postRead(), SocketLoop::postRead()).
    TlsTransport(int fd, std::shared_ptr<TlsContext> context, bool http2 = true);
    ~TlsTransport() override;

    qsizetype read(char *buffer, qsizetype size) override;
    qsizetype write(const char *data, qsizetype size, bool more) override;
    // With kernel TLS ([tls] ssl_ktls and a kernel that took the keys): SSL_sendfile, so a
    // static file is encrypted by the kernel without passing through user space.
    bool canSendFile() const override;
    qsizetype sendFile(int fileFd, qint64 *offset, qsizetype count) override;
    void shutdownWrite() override;
    void sendCloseNotify() override;
    bool hasBufferedInput() const override;
    bool wantsWrite() const override { return m_wantsWrite; }
    bool isSecure() const override { return true; }
    QByteArray negotiatedProtocol() const override;

private:
    qsizetype failure(int result);
    void answerPlainHttp();

    int m_fd;
    std::shared_ptr<TlsContext> m_context; // keeps the SSL_CTX alive across a reload
    SSL *m_ssl = nullptr;
    bool m_wantsWrite = false;
};

// The transports of a TLS listener. Each connection keeps the context it started with; a
// reload swaps the slot's context and affects new connections only.
class TlsTransportFactory final : public Engine::TransportFactory
{
public:
    // http2: the listener offers h2 through ALPN ([server] listen ... http2).
    explicit TlsTransportFactory(std::shared_ptr<TlsContextSlot> slot, bool http2 = true)
        : m_slot(std::move(slot))
        , m_http2(http2)
    {}
    std::unique_ptr<Engine::Transport> create(int fd) override;

private:
    std::shared_ptr<TlsContextSlot> m_slot;
    bool m_http2;
};

} // namespace Berth::Tls
