#include "tlscontext.h"

#include "runtime/sharedregion.h"

#include <config/config.h>

#include <QCryptographicHash>
#include <QFile>
#include <QLoggingCategory>

#include <mutex>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

Q_LOGGING_CATEGORY(lcTlsContext, "berth.tls")

namespace Berth::Tls {

namespace {
char noHttp2Marker;
} // namespace

void *const TlsContext::NoHttp2Marker = &noHttp2Marker;

namespace {

using Config::Diagnostic;

// Mozilla's "intermediate" TLS 1.2 suites: forward secret and AEAD only.
const char DefaultCiphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

QString opensslError()
{
    QStringList parts;
    while (unsigned long e = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(e, buffer, sizeof(buffer));
        parts.append(QString::fromLatin1(buffer));
    }
    return parts.isEmpty() ? QStringLiteral("unknown OpenSSL error")
                           : parts.join(QStringLiteral("; "));
}

void report(Config::Diagnostics *diagnostics, const Config::Location &where, const QString &message)
{
    if (diagnostics)
        diagnostics->append({Diagnostic::Severity::Error, where, message});
}

int passphraseCallback(char *buffer, int size, int, void *userdata)
{
    const QByteArray *pass = static_cast<const QByteArray *>(userdata);
    const int n = qMin(size, int(pass->size()));
    std::memcpy(buffer, pass->constData(), size_t(n));
    return n;
}

// ALPN: "h2" first when HTTP/2 is served ([http2] enabled and [tls] http2), then "http/1.1";
// a client offering neither gets no agreement and falls back (RFC 7301 allows the server to
// ignore the extension). arg is non-null when h2 is offered.
int selectAlpn(SSL *ssl, const unsigned char **out, unsigned char *outLength,
               const unsigned char *in, unsigned int inLength, void *arg)
{
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    static const unsigned char http11[] = "\x08http/1.1";
    const bool h2 = arg != nullptr && SSL_get_app_data(ssl) != TlsContext::NoHttp2Marker;
    unsigned char *selected = nullptr;
    if (SSL_select_next_proto(&selected, outLength, h2 ? both : http11,
                              h2 ? sizeof(both) - 1 : sizeof(http11) - 1, in,
                              inLength) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

// Sessions made under one certificate and client-verification policy resume only under the
// same ones (a reload that keeps them keeps resumption working).
QByteArray sessionIdContext(const Certificate &certificate, const TlsSettings &settings)
{
    QCryptographicHash hash(QCryptographicHash::Sha256);
    for (const QString &part : {certificate.certFile, certificate.keyFile, settings.verifyClient,
                                settings.clientCaFile}) {
        hash.addData(part.toUtf8());
        hash.addData(QByteArrayView("\0", 1));
    }
    return hash.result();
}

void logKtlsOnce()
{
    static std::once_flag once;
    std::call_once(once, [] {
        if (TlsContext::kernelHasKtls())
            qCInfo(lcTlsContext) << "ssl_ktls: kernel TLS is used where the cipher allows it";
        else
            qCInfo(lcTlsContext) << "ssl_ktls: this kernel offers no TLS offload (no `tls` "
                                    "module); OpenSSL encrypts in user space";
    });
}

int selectCertificate(SSL *ssl, int *, void *arg)
{
    const auto *context = static_cast<const TlsContext *>(arg);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_OK;
    if (SSL_CTX *chosen = context->contextForName(QByteArray(name).toLower()))
        SSL_set_SSL_CTX(ssl, chosen);
    // An unknown name gets the default certificate, as nginx's default server does.
    return SSL_TLSEXT_ERR_OK;
}

} // namespace

TlsSettings TlsSettings::fromConfig(const Config::Config &config)
{
    const QString tls = QStringLiteral("tls");
    TlsSettings s;
    s.enabled = config.getBool(tls, QStringLiteral("enabled"));
    s.port = int(config.getInt(tls, QStringLiteral("port")));
    s.defaultCertificate.certFile = config.getPath(tls, QStringLiteral("cert"));
    s.defaultCertificate.keyFile = config.getPath(tls, QStringLiteral("key"));
    s.defaultCertificate.passphrase = config.getSecret(tls, QStringLiteral("passphrase"));
    if (const Config::Section *section = config.section(tls))
        s.defaultCertificate.location = section->location;
    s.clientCaFile = config.getPath(tls, QStringLiteral("client_ca"));
    s.verifyClient = config.getString(tls, QStringLiteral("verify_client"));
    s.ciphers = config.getString(tls, QStringLiteral("ciphers"));
    s.minVersion = config.getString(tls, QStringLiteral("min_version"));
    s.http2 = config.getBool(tls, QStringLiteral("http2")) &&
              config.getBool(QStringLiteral("http2"), QStringLiteral("enabled"));
    s.resumption.tickets = config.getBool(tls, QStringLiteral("ssl_session_tickets"));
    s.resumption.timeout =
        std::max(std::chrono::seconds(1),
                 std::chrono::duration_cast<std::chrono::seconds>(
                     config.getDuration(tls, QStringLiteral("ssl_session_timeout"))));
    s.resumption.cacheSize = long(config.getInt(tls, QStringLiteral("ssl_session_cache")));
    s.ktls = config.getBool(tls, QStringLiteral("ssl_ktls"));
    s.ticketKeyRotation = config.getDuration(tls, QStringLiteral("ssl_ticket_key_rotation"));
    for (const Config::Section *section : config.sectionsWithPrefix(QStringLiteral("tls:"))) {
        Certificate c;
        // The default names the section: [tls:example.org] serves example.org.
        c.names = config.has(section->name, QStringLiteral("names"))
                      ? config.getList(section->name, QStringLiteral("names"))
                      : QStringList{section->name.mid(4)};
        c.certFile = config.getPath(section->name, QStringLiteral("cert"));
        c.keyFile = config.getPath(section->name, QStringLiteral("key"));
        c.passphrase = config.getSecret(section->name, QStringLiteral("passphrase"));
        c.location = section->location;
        s.sniCertificates.append(c);
    }
    return s;
}

std::shared_ptr<TlsContext> TlsContext::create(const TlsSettings &settings,
                                               Config::Diagnostics *diagnostics)
{
    auto context = std::shared_ptr<TlsContext>(new TlsContext);
    bool ok = true;

    auto build = [&](const Certificate &certificate, const QString &section) -> SSL_CTX * {
        const Config::Location &where = certificate.location;
        if (certificate.certFile.isEmpty() || certificate.keyFile.isEmpty()) {
            report(diagnostics, where,
                   QStringLiteral("[%1] cert and key are required when TLS is on").arg(section));
            return nullptr;
        }
        ERR_clear_error();
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx) {
            report(diagnostics, where, QStringLiteral("[%1] %2").arg(section, opensslError()));
            return nullptr;
        }
        context->m_contexts.append(ctx);
        const int minVersion =
            settings.minVersion == QLatin1String("1.3") ? TLS1_3_VERSION : TLS1_2_VERSION;
        SSL_CTX_set_min_proto_version(ctx, minVersion);
        // No renegotiation (a DoS lever), no compression (CRIME), the server's cipher order,
        // and an EOF without close_notify is an ordinary close for HTTP/1.1 framing.
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE |
                                     SSL_OP_IGNORE_UNEXPECTED_EOF);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
        // The kernel takes over record encryption after the handshake where it can (then files
        // go out with SSL_sendfile); where it can't, OpenSSL silently keeps doing it.
        if (settings.ktls)
            SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
        ResumptionSettings resumption = settings.resumption;
        resumption.sessionIdContext = sessionIdContext(certificate, settings);
        if (!configureResumption(ctx, resumption)) {
            report(diagnostics, where,
                   QStringLiteral("[%1] session resumption: %2").arg(section, opensslError()));
            return nullptr;
        }
        const QByteArray ciphers =
            settings.ciphers.isEmpty() ? QByteArray(DefaultCiphers) : settings.ciphers.toLatin1();
        if (SSL_CTX_set_cipher_list(ctx, ciphers.constData()) != 1) {
            report(diagnostics, where,
                   QStringLiteral("[tls] ciphers: '%1' selects no usable cipher")
                       .arg(QString::fromLatin1(ciphers)));
            return nullptr;
        }
        const QByteArray passphrase = certificate.passphrase.toUtf8();
        SSL_CTX_set_default_passwd_cb(ctx, passphraseCallback);
        SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<QByteArray *>(&passphrase));
        const QByteArray certPath = QFile::encodeName(certificate.certFile);
        const QByteArray keyPath = QFile::encodeName(certificate.keyFile);
        bool loaded = true;
        if (SSL_CTX_use_certificate_chain_file(ctx, certPath.constData()) != 1) {
            report(diagnostics, where,
                   QStringLiteral("[%1] cert: cannot load certificate chain '%2': %3")
                       .arg(section, certificate.certFile, opensslError()));
            loaded = false;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, keyPath.constData(), SSL_FILETYPE_PEM) != 1) {
            report(diagnostics, where,
                   QStringLiteral("[%1] key: cannot load private key '%2' (wrong passphrase?): %3")
                       .arg(section, certificate.keyFile, opensslError()));
            loaded = false;
        }
        SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
        if (loaded && SSL_CTX_check_private_key(ctx) != 1) {
            report(diagnostics, where,
                   QStringLiteral("[%1] key: '%2' does not match certificate '%3'")
                       .arg(section, certificate.keyFile, certificate.certFile));
            loaded = false;
        }
        if (!loaded)
            return nullptr;
        // Any non-null pointer means "offer h2"; the callback never dereferences it.
        static char offerH2;
        SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, settings.http2 ? &offerH2 : nullptr);
        if (settings.verifyClient != QLatin1String("no")) {
            const QByteArray ca = QFile::encodeName(settings.clientCaFile);
            if (settings.clientCaFile.isEmpty() ||
                SSL_CTX_load_verify_locations(ctx, ca.constData(), nullptr) != 1) {
                report(diagnostics, where,
                       QStringLiteral("[tls] client_ca: cannot load CA certificates '%1'")
                           .arg(settings.clientCaFile));
                return nullptr;
            }
            SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(ca.constData()));
            int mode = SSL_VERIFY_PEER;
            if (settings.verifyClient == QLatin1String("require"))
                mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
            SSL_CTX_set_verify(ctx, mode, nullptr);
        }
        return ctx;
    };

    if (settings.verifyClient != QLatin1String("no") &&
        settings.verifyClient != QLatin1String("optional") &&
        settings.verifyClient != QLatin1String("require")) {
        report(diagnostics, settings.defaultCertificate.location,
               QStringLiteral("[tls] verify_client: '%1' is not one of no, optional, require")
                   .arg(settings.verifyClient));
        ok = false;
    }
    if (settings.ktls && Core::SharedRegion::inServer()) // not in `berthd check`
        logKtlsOnce();
    // A ticket is only guaranteed one rotation interval before its key is gone.
    if (settings.resumption.tickets && settings.resumption.timeout > settings.ticketKeyRotation &&
        diagnostics) {
        diagnostics->append(
            {Diagnostic::Severity::Warning, settings.defaultCertificate.location,
             QStringLiteral("[tls] ssl_session_timeout is longer than ssl_ticket_key_rotation: "
                            "tickets older than one rotation may no longer resume")});
    }
    context->m_default = build(settings.defaultCertificate, QStringLiteral("tls"));
    ok = ok && context->m_default;
    for (const Certificate &certificate : settings.sniCertificates) {
        SSL_CTX *ctx = build(certificate, QStringLiteral("tls:") + certificate.names.value(0));
        if (!ctx) {
            ok = false;
            continue;
        }
        for (const QString &name : certificate.names) {
            Named named;
            const QByteArray n = name.toLower().toUtf8();
            named.wildcard = n.startsWith("*.");
            named.name = named.wildcard ? n.mid(1) : n;
            named.context = ctx;
            context->m_named.append(named);
        }
    }
    if (!ok)
        return nullptr;
    if (!context->m_named.isEmpty())
        SSL_CTX_set_tlsext_servername_callback(context->m_default, selectCertificate),
            SSL_CTX_set_tlsext_servername_arg(context->m_default, context.get());
    return context;
}

TlsContext::~TlsContext()
{
    for (SSL_CTX *ctx : std::as_const(m_contexts))
        SSL_CTX_free(ctx);
}

SSL_CTX *TlsContext::contextForName(const QByteArray &serverName) const
{
    for (const Named &n : m_named) {
        if (!n.wildcard && n.name == serverName)
            return n.context;
    }
    for (const Named &n : m_named) {
        if (n.wildcard && serverName.size() > n.name.size() && serverName.endsWith(n.name))
            return n.context;
    }
    return nullptr;
}

bool TlsContext::kernelHasKtls()
{
    // Listed once the module is loaded (or built in); OpenSSL may also load it on first use.
    QFile ulp(QStringLiteral("/proc/sys/net/ipv4/tcp_available_ulp"));
    if (ulp.open(QIODevice::ReadOnly) && ulp.readAll().simplified().split(' ').contains("tls"))
        return true;
    return QFile::exists(QStringLiteral("/sys/module/tls"));
}

std::shared_ptr<TlsContext> TlsContextSlot::current() const
{
    QMutexLocker lock(&m_mutex);
    return m_context;
}

void TlsContextSlot::set(std::shared_ptr<TlsContext> context)
{
    QMutexLocker lock(&m_mutex);
    m_context = std::move(context);
}

} // namespace Berth::Tls
