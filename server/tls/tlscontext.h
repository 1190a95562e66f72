#pragma once

#include "sessionresumption.h"

#include <config/diagnostic.h>

#include <QList>
#include <QMutex>
#include <QString>
#include <QStringList>

#include <memory>

using SSL_CTX = struct ssl_ctx_st;

namespace Berth::Config {
class Config;
}

namespace Berth::Tls {

// One certificate (chain + key) and the host names it serves (SNI).
struct Certificate
{
    QStringList names; // "example.com", "*.example.org"; empty for the default certificate
    QString certFile;
    QString keyFile;
    QString passphrase;
    Config::Location location; // the section that configured it, for diagnostics
};

// [tls] and [tls:NAME] sections.
struct TlsSettings
{
    bool enabled = false; // the [server] port speaks TLS
    int port = 0;         // > 0: a second listener on this port speaks TLS
    Certificate defaultCertificate;
    QList<Certificate> sniCertificates;          // [tls:NAME] sections
    QString clientCaFile;                        // verify client certificates against these CAs
    QString verifyClient = QStringLiteral("no"); // no | optional | require
    QString ciphers; // TLS 1.2 cipher list (TLS 1.3 suites are OpenSSL's AEAD set)
    QString minVersion = QStringLiteral("1.2");
    bool http2 = true;             // "h2" offered through ALPN ([tls] http2 and [http2] enabled)
    ResumptionSettings resumption; // ssl_session_tickets, _timeout, _cache
    std::chrono::milliseconds ticketKeyRotation{3'600'000}; // ssl_ticket_key_rotation
    bool ktls = false; // ssl_ktls: SSL_OP_ENABLE_KTLS (when the kernel can)

    bool any() const { return enabled || port > 0; }
    static TlsSettings fromConfig(const Config::Config &config);
};

// An OpenSSL server context built from TlsSettings: certificates checked against their keys,
// TLS 1.2+ with AEAD ciphers only, no renegotiation or compression, ALPN, SNI choosing a
// certificate per virtual host, optional client-certificate verification, session resumption
// (tickets shared by every process of the server, a per-process session cache), kernel TLS
// when asked for. Immutable once built.
class TlsContext
{
public:
    // SSL app data of a connection whose listener does not offer h2 (TlsTransport sets it).
    static void *const NoHttp2Marker;
    // Problems name the file and the configuring section (file:line), as `berthd check` prints.
    static std::shared_ptr<TlsContext> create(const TlsSettings &settings,
                                              Config::Diagnostics *diagnostics);
    ~TlsContext();
    TlsContext(const TlsContext &) = delete;
    TlsContext &operator=(const TlsContext &) = delete;

    SSL_CTX *defaultContext() const { return m_default; }
    // The context whose certificate serves this SNI name, or null for the default one.
    SSL_CTX *contextForName(const QByteArray &serverName) const;
    // Whether this kernel offers TLS offload (the `tls` TCP upper-layer protocol).
    static bool kernelHasKtls();

private:
    TlsContext() = default;
    struct Named
    {
        QByteArray name; // lower-case; "*.example.org" stored as ".example.org"
        bool wildcard = false;
        SSL_CTX *context = nullptr;
    };
    SSL_CTX *m_default = nullptr;
    QList<Named> m_named;
    QList<SSL_CTX *> m_contexts; // every context, for freeing
};

// Where a listener finds its current TLS context; reload swaps in a new one while existing
// connections keep the context they started with.
class TlsContextSlot
{
public:
    std::shared_ptr<TlsContext> current() const;
    void set(std::shared_ptr<TlsContext> context);

private:
    mutable QMutex m_mutex;
    std::shared_ptr<TlsContext> m_context;
};

} // namespace Berth::Tls
