#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>

namespace Berth::Http {
struct RequestHead;
}

namespace Berth::Crypto {
class AppCipher;
}

namespace Berth::Sessions {

// Signs and checks session cookie values: "<id>.<keynum>.<base64url(HMAC-SHA256)>", the MAC
// made by the sessions' AppCipher (its sign(), under the active key). The id is random and means
// nothing by itself; the MAC lets the server reject a forged or altered cookie before it costs a
// database lookup, and makes ids that were never issued unusable. Because the keynum travels
// with the MAC and checking accepts every key on record, cookies issued before a key rotation
// stay valid after it.
class CookieSigner
{
public:
    // The cipher is not owned; null (or not open) signs and verifies nothing.
    explicit CookieSigner(const Crypto::AppCipher *cipher);

    // Empty when the cipher can't sign.
    QByteArray sign(QByteArrayView id) const;
    // The id when value is "<id>.<keynum>.<mac>" and the MAC verifies under key keynum; a null
    // QByteArray otherwise.
    QByteArray verify(QByteArrayView value) const;

private:
    const Crypto::AppCipher *m_cipher;
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
