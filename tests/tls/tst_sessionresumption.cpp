// Session resumption through TlsContext, with handshakes in memory: a ticket made by one context
// resumes on another built separately (another worker: only the key ring is shared), for TLS 1.2
// and 1.3; after one rotation the previous key still decrypts (and the client gets a new
// ticket), after two it is a full handshake; a ticket under an unknown key name, or with a
// flipped byte, is a full handshake and not an error; ssl_session_tickets = no issues no
// stateless ticket.
#include "runtime/ticketkeys.h"
#include "tls/tlscontext.h"

#include <QTemporaryDir>
#include <QTest>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstring>

using namespace Berth;
using Core::TicketKeyRing;

namespace {

// A self-signed P-256 certificate for "localhost" in dir (cert.pem, key.pem).
bool writeCertificate(const QString &dir)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    if (!key || !cert)
        return false;
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char *>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    bool ok = X509_sign(cert, key, EVP_sha256()) > 0;
    FILE *c = std::fopen(QFile::encodeName(dir + QStringLiteral("/cert.pem")).constData(), "w");
    FILE *k = std::fopen(QFile::encodeName(dir + QStringLiteral("/key.pem")).constData(), "w");
    ok = ok && c && k && PEM_write_X509(c, cert) == 1 &&
         PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (c)
        std::fclose(c);
    if (k)
        std::fclose(k);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok;
}

// Moves bytes between a client and a server SSL over a BIO pair until both finished the
// handshake and the client has read what the server sent after it (TLS 1.3 tickets).
struct Handshake
{
    SSL *client = nullptr;
    SSL *server = nullptr;
    bool ok = false;
    bool reused = false;
    SSL_SESSION *session = nullptr; // the client's, for the next handshake (owned)

    Handshake(SSL_CTX *clientCtx, SSL_CTX *serverCtx, int version, SSL_SESSION *resume)
    {
        client = SSL_new(clientCtx);
        server = SSL_new(serverCtx);
        SSL_set_min_proto_version(client, version);
        SSL_set_max_proto_version(client, version);
        BIO *clientEnd = nullptr;
        BIO *serverEnd = nullptr;
        BIO_new_bio_pair(&clientEnd, 0, &serverEnd, 0);
        SSL_set_bio(client, clientEnd, clientEnd);
        SSL_set_bio(server, serverEnd, serverEnd);
        SSL_set_connect_state(client);
        SSL_set_accept_state(server);
        SSL_set_tlsext_host_name(client, "localhost");
        if (resume)
            SSL_set_session(client, resume);
        for (int round = 0; round < 20; ++round) {
            const int c = SSL_do_handshake(client);
            const int s = SSL_do_handshake(server);
            if (c == 1 && s == 1)
                break;
            if ((c <= 0 && SSL_get_error(client, c) != SSL_ERROR_WANT_READ) ||
                (s <= 0 && SSL_get_error(server, s) != SSL_ERROR_WANT_READ)) {
                qWarning("handshake: client %d server %d: %s", SSL_get_error(client, c),
                         SSL_get_error(server, s), ERR_error_string(ERR_get_error(), nullptr));
                return;
            }
        }
        // The server's application data carries TLS 1.3 tickets along; the client reads both.
        char byte = 'x';
        size_t n = 0;
        if (SSL_write_ex(server, &byte, 1, &n) != 1 || SSL_read_ex(client, &byte, 1, &n) != 1)
            return;
        ok = true;
        reused = SSL_session_reused(server) == 1;
        session = SSL_get1_session(client);
    }
    ~Handshake()
    {
        SSL_free(client);
        SSL_free(server);
        SSL_SESSION_free(session);
    }
};

} // namespace

class TestSessionResumption : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void ticketResumesOnAnotherContext_data();
    void ticketResumesOnAnotherContext();
    void previousKeyDecryptsAndRenews();
    void unknownOrDamagedTicketIsAFullHandshake();
    void ticketsOffIssueNoStatelessTicket();
    void timeoutLongerThanRotationIsAWarning();

private:
    std::shared_ptr<Tls::TlsContext> server(bool tickets = true) const;

    QTemporaryDir m_dir;
    SSL_CTX *m_client = nullptr;
};

void TestSessionResumption::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY(writeCertificate(m_dir.path()));
    m_client = SSL_CTX_new(TLS_client_method());
    QVERIFY(m_client);
    SSL_CTX_set_session_cache_mode(m_client, SSL_SESS_CACHE_OFF);
}

void TestSessionResumption::cleanupTestCase()
{
    SSL_CTX_free(m_client);
}

std::shared_ptr<Tls::TlsContext> TestSessionResumption::server(bool tickets) const
{
    Tls::TlsSettings settings;
    settings.enabled = true;
    settings.defaultCertificate.certFile = m_dir.filePath(QStringLiteral("cert.pem"));
    settings.defaultCertificate.keyFile = m_dir.filePath(QStringLiteral("key.pem"));
    settings.resumption.tickets = tickets;
    Config::Diagnostics problems;
    auto context = Tls::TlsContext::create(settings, &problems);
    for (const Config::Diagnostic &d : problems)
        qWarning().noquote() << d.toString();
    return context;
}

void TestSessionResumption::ticketResumesOnAnotherContext_data()
{
    QTest::addColumn<int>("version");
    QTest::newRow("TLS 1.2") << TLS1_2_VERSION;
    QTest::newRow("TLS 1.3") << TLS1_3_VERSION;
}

void TestSessionResumption::ticketResumesOnAnotherContext()
{
    QFETCH(int, version);
    auto workerA = server();
    auto workerB = server(); // its own SSL_CTX and session cache: only the key ring is shared
    QVERIFY(workerA && workerB);
    Handshake first(m_client, workerA->defaultContext(), version, nullptr);
    QVERIFY(first.ok);
    QVERIFY(!first.reused);
    QVERIFY(SSL_SESSION_has_ticket(first.session));
    Handshake onB(m_client, workerB->defaultContext(), version, first.session);
    QVERIFY(onB.ok);
    QVERIFY(onB.reused);
}

void TestSessionResumption::previousKeyDecryptsAndRenews()
{
    auto context = server();
    QVERIFY(context);
    TicketKeyRing *ring = TicketKeyRing::instance();
    Handshake first(m_client, context->defaultContext(), TLS1_2_VERSION, nullptr);
    QVERIFY(first.ok);
    ring->rotate(1); // the ticket's key is now "previous"
    Handshake second(m_client, context->defaultContext(), TLS1_2_VERSION, first.session);
    QVERIFY(second.ok);
    QVERIFY(second.reused);
    // The callback returned 2, so the client holds a new ticket under the current key.
    size_t firstLength = 0;
    size_t secondLength = 0;
    const unsigned char *firstTicket = nullptr;
    const unsigned char *secondTicket = nullptr;
    SSL_SESSION_get0_ticket(first.session, &firstTicket, &firstLength);
    SSL_SESSION_get0_ticket(second.session, &secondTicket, &secondLength);
    TicketKeyRing::Keys keys;
    QVERIFY(ring->read(&keys));
    QVERIFY(secondLength >= 16 && firstLength >= 16);
    QVERIFY(std::memcmp(secondTicket, keys.current.name.data(), 16) == 0);
    QVERIFY(std::memcmp(firstTicket, keys.previous.name.data(), 16) == 0);

    ring->rotate(2); // the first ticket's key is gone
    Handshake third(m_client, context->defaultContext(), TLS1_2_VERSION, first.session);
    QVERIFY(third.ok);
    // The session cache of this context may still know the session id; a fresh context
    // (another worker) has only the ticket to go by.
    auto other = server();
    Handshake fourth(m_client, other->defaultContext(), TLS1_2_VERSION, first.session);
    QVERIFY(fourth.ok);
    QVERIFY(!fourth.reused);
}

void TestSessionResumption::unknownOrDamagedTicketIsAFullHandshake()
{
    auto context = server();
    auto other = server(); // no cached session id to fall back on
    QVERIFY(context && other);
    for (int at : {3, -20}) { // inside the key name; inside the encrypted state
        Handshake first(m_client, context->defaultContext(), TLS1_3_VERSION, nullptr);
        QVERIFY(first.ok);
        const unsigned char *ticket = nullptr;
        size_t length = 0;
        SSL_SESSION_get0_ticket(first.session, &ticket, &length);
        QVERIFY(length > 40);
        QByteArray damaged(reinterpret_cast<const char *>(ticket), qsizetype(length));
        damaged[at >= 0 ? at : damaged.size() + at] ^= 0x5a;
        SSL_SESSION *copy = SSL_SESSION_dup(first.session);
        // No public setter for the ticket itself: round-trip through DER with the bytes patched.
        unsigned char *der = nullptr;
        const int derLength = i2d_SSL_SESSION(copy, &der);
        SSL_SESSION_free(copy);
        QVERIFY(derLength > 0);
        QByteArray encoded(reinterpret_cast<const char *>(der), derLength);
        OPENSSL_free(der);
        const qsizetype where =
            encoded.indexOf(QByteArray(reinterpret_cast<const char *>(ticket), qsizetype(length)));
        QVERIFY(where > 0);
        encoded.replace(where, damaged.size(), damaged);
        const unsigned char *p = reinterpret_cast<const unsigned char *>(encoded.constData());
        SSL_SESSION *tampered = d2i_SSL_SESSION(nullptr, &p, long(encoded.size()));
        QVERIFY(tampered);
        Handshake again(m_client, other->defaultContext(), TLS1_3_VERSION, tampered);
        SSL_SESSION_free(tampered);
        QVERIFY2(again.ok, "a bad ticket must not fail the handshake");
        QVERIFY(!again.reused);
    }
    ERR_clear_error();
}

void TestSessionResumption::ticketsOffIssueNoStatelessTicket()
{
    auto context = server(false);
    QVERIFY(context);
    Handshake first(m_client, context->defaultContext(), TLS1_2_VERSION, nullptr);
    QVERIFY(first.ok);
    QVERIFY(!SSL_SESSION_has_ticket(first.session));
    auto other = server(false);
    Handshake elsewhere(m_client, other->defaultContext(), TLS1_2_VERSION, first.session);
    QVERIFY(elsewhere.ok);
    QVERIFY(!elsewhere.reused); // another worker's cache does not know the session id
    Handshake same(m_client, context->defaultContext(), TLS1_2_VERSION, first.session);
    QVERIFY(same.ok);
    QVERIFY(same.reused); // its own cache does
}

void TestSessionResumption::timeoutLongerThanRotationIsAWarning()
{
    Tls::TlsSettings settings;
    settings.enabled = true;
    settings.defaultCertificate.certFile = m_dir.filePath(QStringLiteral("cert.pem"));
    settings.defaultCertificate.keyFile = m_dir.filePath(QStringLiteral("key.pem"));
    Config::Diagnostics problems;
    QVERIFY(Tls::TlsContext::create(settings, &problems)); // defaults: 1h and 1h
    QVERIFY(problems.isEmpty());
    settings.resumption.timeout = std::chrono::hours(24);
    QVERIFY(Tls::TlsContext::create(settings, &problems)); // still serves
    QCOMPARE(problems.size(), 1);
    QVERIFY(!problems.first().isError());
    QVERIFY(problems.first().message.contains(QStringLiteral("ssl_ticket_key_rotation")));
    problems.clear();
    settings.resumption.tickets = false; // no tickets, nothing to warn about
    QVERIFY(Tls::TlsContext::create(settings, &problems));
    QVERIFY(problems.isEmpty());
}

QTEST_GUILESS_MAIN(TestSessionResumption)
#include "tst_sessionresumption.moc"
