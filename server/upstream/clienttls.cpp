#include "clienttls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace Berth::Upstream {

namespace {

QString lastError()
{
    const unsigned long code = ERR_get_error();
    char text[256] = {};
    ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return QString::fromLatin1(text);
}

} // namespace

std::shared_ptr<ClientTlsContext> ClientTlsContext::create(const Options &options, QString *error)
{
    std::shared_ptr<ClientTlsContext> result(new ClientTlsContext);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        *error = QStringLiteral("TLS client context: %1").arg(lastError());
        return nullptr;
    }
    result->m_context = ctx;
    result->m_verify = options.verify;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (options.verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        const bool loaded = options.caFile.isEmpty()
                                ? SSL_CTX_set_default_verify_paths(ctx) == 1
                                : SSL_CTX_load_verify_locations(
                                      ctx, options.caFile.toLocal8Bit().constData(), nullptr) == 1;
        if (!loaded) {
            *error = QStringLiteral("ssl_ca %1: %2").arg(options.caFile, lastError());
            return nullptr;
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    if (!options.certFile.isEmpty()) {
        const QByteArray cert = options.certFile.toLocal8Bit();
        const QByteArray key =
            (options.keyFile.isEmpty() ? options.certFile : options.keyFile).toLocal8Bit();
        if (SSL_CTX_use_certificate_chain_file(ctx, cert.constData()) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key.constData(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            *error = QStringLiteral("ssl_cert %1: %2").arg(options.certFile, lastError());
            return nullptr;
        }
    }
    return result;
}

ClientTlsContext::~ClientTlsContext()
{
    if (m_context)
        SSL_CTX_free(m_context);
}

} // namespace Berth::Upstream
