#pragma once

#include <QByteArray>

#include <chrono>

using SSL_CTX = struct ssl_ctx_st;

namespace Berth::Tls {

// How a server context resumes sessions ([tls] ssl_session_*; docs/tls.md).
struct ResumptionSettings
{
    bool tickets = true;                // stateless tickets under the shared key ring
    std::chrono::seconds timeout{3600}; // a session's resumable lifetime
    long cacheSize = 20000;             // per-process session cache; 0: none
    QByteArray sessionIdContext;        // which contexts' sessions may resume here
};

// Installs session resumption on ctx: the ticket key callback reading Core::TicketKeyRing (so
// any process of the server decrypts any other's tickets), the bounded in-process cache for
// session ids, the timeout and the session id context. Returns false on an OpenSSL failure.
bool configureResumption(SSL_CTX *ctx, const ResumptionSettings &settings);

} // namespace Berth::Tls
