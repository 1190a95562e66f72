#pragma once

#include <QString>

#include <memory>

using SSL_CTX = struct ssl_ctx_st;

namespace Berth::Upstream {

// An OpenSSL client context for members reached over TLS (`ssl = yes`): the member's
// certificate verified against the system store or `ssl_ca` unless `ssl_verify = no`, with an
// optional client certificate. Immutable once built; shared by every connection of a group.
class ClientTlsContext
{
public:
    struct Options
    {
        bool verify = true;
        QString caFile;   // empty: the system store
        QString certFile; // client certificate (optional)
        QString keyFile;
    };
    // Null with *error when a file can't be loaded.
    static std::shared_ptr<ClientTlsContext> create(const Options &options, QString *error);
    ~ClientTlsContext();
    ClientTlsContext(const ClientTlsContext &) = delete;
    ClientTlsContext &operator=(const ClientTlsContext &) = delete;

    SSL_CTX *context() const { return m_context; }
    bool verify() const { return m_verify; }

private:
    ClientTlsContext() = default;
    SSL_CTX *m_context = nullptr;
    bool m_verify = true;
};

} // namespace Berth::Upstream
