#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>

namespace Berth::Http {
struct RequestHead;
}

namespace Berth::Sessions {

// Signs and checks session cookie values: "<id>.<base64url(HMAC-SHA256(key, id))>". The id is
// random and means nothing by itself; the MAC lets the server reject a forged or altered
// cookie before it costs a database lookup, and makes ids that were never issued unusable.
class CookieSigner
{
public:
    // The MAC key is derived from the configured secret for this one purpose, so the same
    // secret can key other things (the AppCipher) without the uses ever sharing a key.
    explicit CookieSigner(QByteArrayView secret);

    QByteArray sign(QByteArrayView id) const;
    // The id when value is "<id>.<mac>" and the MAC verifies; a null QByteArray otherwise.
    QByteArray verify(QByteArrayView value) const;

private:
    QByteArray m_key;
};

struct CookieAttributes
{
    QByteArray path = QByteArrayLiteral("/");
    bool secure = false; // the request came over TLS
    qint64 maxAge = -1;  // seconds; -1: a session cookie (gone when the browser closes)
};

// A Set-Cookie value: "<name>=<value>; Path=<path>; HttpOnly; SameSite=Lax[; Secure][; Max-Age=N]".
// HttpOnly keeps the id away from scripts (an XSS can't steal it); SameSite=Lax stops browsers
// sending it with cross-site POSTs, a first line of defence that the CSRF token backs up.
QByteArray setCookieValue(QByteArrayView name, QByteArrayView value,
                          const CookieAttributes &attributes);
// The Path attribute for an app mounted at scriptName ("" means "/"): bytes that could end the
// attribute or the header (';', ',', controls, non-ASCII) are percent-encoded.
QByteArray cookiePath(QByteArrayView scriptName);
// Every value of the cookies named `name` (case-sensitive, RFC 6265) in the request's Cookie
// fields, in order. Several can come (a cookie for a narrower path or one an attacker planted),
// so the caller tries each.
QList<QByteArray> requestCookies(const Http::RequestHead &head, QByteArrayView name);

} // namespace Berth::Sessions
