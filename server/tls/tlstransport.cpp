#include "tlstransport.h"

#include "tlscontext.h"

#include <QLoggingCategory>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcTls, "berth.tls")

namespace Berth::Tls {

TlsTransport::TlsTransport(int fd, std::shared_ptr<TlsContext> context, bool http2)
    : m_fd(fd)
    , m_context(std::move(context))
{
    m_ssl = SSL_new(m_context->defaultContext());
    if (m_ssl) {
        SSL_set_fd(m_ssl, fd);
        SSL_set_read_ahead(m_ssl, 1);
        // Read by the ALPN callback (tlscontext.cpp): this listener doesn't serve h2.
        if (!http2)
            SSL_set_app_data(m_ssl, TlsContext::NoHttp2Marker);
        SSL_set_accept_state(m_ssl);
    }
}

TlsTransport::~TlsTransport()
{
    if (m_ssl)
        SSL_free(m_ssl);
}

QByteArray TlsTransport::negotiatedProtocol() const
{
    const unsigned char *data = nullptr;
    unsigned int length = 0;
    if (m_ssl)
        SSL_get0_alpn_selected(m_ssl, &data, &length);
    return data ? QByteArray(reinterpret_cast<const char *>(data), qsizetype(length))
                : QByteArray();
}

qsizetype TlsTransport::read(char *buffer, qsizetype size)
{
    if (!m_ssl)
        return Failed;
    ERR_clear_error();
    size_t n = 0;
    const int result = SSL_read_ex(m_ssl, buffer, size_t(size), &n);
    if (result == 1)
        return qsizetype(n);
    return failure(result);
}

qsizetype TlsTransport::write(const char *data, qsizetype size, bool)
{
    if (!m_ssl)
        return Failed;
    ERR_clear_error();
    size_t n = 0;
    const int result = SSL_write_ex(m_ssl, data, size_t(size), &n);
    if (result == 1)
        return qsizetype(n);
    return failure(result);
}

bool TlsTransport::canSendFile() const
{
    return m_ssl && SSL_is_init_finished(m_ssl) && BIO_get_ktls_send(SSL_get_wbio(m_ssl));
}

qsizetype TlsTransport::sendFile(int fileFd, qint64 *offset, qsizetype count)
{
    if (!m_ssl)
        return Failed;
    ERR_clear_error();
    const ossl_ssize_t n = SSL_sendfile(m_ssl, fileFd, off_t(*offset), size_t(count), 0);
    if (n > 0) {
        *offset += n;
        return qsizetype(n);
    }
    if (n == 0)
        return Failed; // the file ended early: the promised length can't be delivered
    return failure(int(n));
}

qsizetype TlsTransport::failure(int result)
{
    switch (SSL_get_error(m_ssl, result)) {
    case SSL_ERROR_WANT_READ:
        m_wantsWrite = false;
        return WouldBlock;
    case SSL_ERROR_WANT_WRITE:
        m_wantsWrite = true;
        return WouldBlock;
    case SSL_ERROR_ZERO_RETURN:
        return 0; // close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF)
    case SSL_ERROR_SSL:
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_HTTP_REQUEST)
            answerPlainHttp();
        qCDebug(lcTls) << "TLS error:" << ERR_error_string(ERR_peek_error(), nullptr);
        return Failed;
    default:
        return Failed;
    }
}

void TlsTransport::answerPlainHttp()
{
    // nginx's "plain HTTP request sent to HTTPS port": answer in the client's own language
    // instead of leaving it with a connection that closes for no visible reason.
    static const char response[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                                   "Content-Length: 47\r\nConnection: close\r\n\r\n"
                                   "400 Bad Request: plain HTTP sent to HTTPS port\n";
    [[maybe_unused]] ssize_t n = ::send(m_fd, response, sizeof(response) - 1, MSG_NOSIGNAL);
}

void TlsTransport::shutdownWrite()
{
    sendCloseNotify();
    ::shutdown(m_fd, SHUT_WR);
}

void TlsTransport::sendCloseNotify()
{
    if (m_ssl && SSL_is_init_finished(m_ssl)) {
        ERR_clear_error();
        SSL_shutdown(m_ssl);
    }
}

bool TlsTransport::hasBufferedInput() const
{
    // Decrypted bytes and, with read-ahead, records taken off the socket but not yet opened:
    // no socket event announces either.
    return m_ssl && SSL_has_pending(m_ssl) == 1;
}

std::unique_ptr<Engine::Transport> TlsTransportFactory::create(int fd)
{
    return std::make_unique<TlsTransport>(fd, m_slot->current(), m_http2);
}

} // namespace Berth::Tls
