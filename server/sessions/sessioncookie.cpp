#include "sessioncookie.h"

#include "http/requesthead.h"

#include <crypto/appcipher.h>

namespace Berth::Sessions {

namespace {

constexpr auto Base64Url = QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals;

// The cipher's signing key signs more than cookies (whatever else an app signs with it). Naming
// the purpose in the signed message keeps a signature made for anything else, over a string
// that happens to equal an id, from being a valid cookie, and the reverse.
QByteArray signedMessage(QByteArrayView id)
{
    return QByteArrayLiteral("berth.session.cookie.v2 ") + id.toByteArray();
}

bool isDigits(QByteArrayView text)
{
    if (text.isEmpty() || text.size() > 10)
        return false;
    for (const char c : text) {
        if (c < '0' || c > '9')
            return false;
    }
    return true;
}

} // namespace

CookieSigner::CookieSigner(const Crypto::AppCipher *cipher)
    : m_cipher(cipher)
{}

QByteArray CookieSigner::sign(QByteArrayView id) const
{
    if (!m_cipher || !m_cipher->isOpen())
        return {};
    // "keynum:base64" -> "keynum.base64url": '.' and the URL alphabet need no quoting in a
    // cookie, where '+', '/' and '=' get mangled by some clients.
    const QByteArray signature = m_cipher->sign(signedMessage(id));
    const qsizetype colon = signature.indexOf(':');
    if (colon <= 0)
        return {};
    const QByteArray mac = QByteArray::fromBase64(signature.sliced(colon + 1));
    QByteArray value = id.toByteArray();
    value += '.';
    value += signature.first(colon);
    value += '.';
    value += mac.toBase64(Base64Url);
    return value;
}

QByteArray CookieSigner::verify(QByteArrayView value) const
{
    if (!m_cipher || value.size() > 256)
        return QByteArray();
    const qsizetype firstDot = value.indexOf('.');
    const qsizetype lastDot = value.lastIndexOf('.');
    if (firstDot <= 0 || lastDot <= firstDot + 1 || lastDot == value.size() - 1)
        return QByteArray();
    const QByteArrayView id = value.first(firstDot);
    const QByteArrayView keynum = value.sliced(firstDot + 1, lastDot - firstDot - 1);
    const QByteArrayView mac = value.sliced(lastDot + 1);
    if (!isDigits(keynum))
        return QByteArray();
    const auto decoded = QByteArray::fromBase64Encoding(
        mac.toByteArray(), QByteArray::Base64UrlEncoding | QByteArray::AbortOnBase64DecodingErrors);
    // One spelling per MAC: padding or stray low bits in the last character are refused rather
    // than accepted as another cookie value for the same id.
    if (!decoded || decoded.decoded.toBase64(Base64Url) != mac)
        return QByteArray();
    // checkSignature() parses the keynum strictly (no leading zeros), finds that key among all
    // on record (so cookies from before a rotation still verify) and compares in constant time:
    // an attacker timing it must not learn how many leading bytes of a forged MAC were right.
    QByteArray signature = keynum.toByteArray();
    signature += ':';
    signature += decoded.decoded.toBase64();
    if (!m_cipher->checkSignature(signature, signedMessage(id)))
        return QByteArray();
    return id.toByteArray();
}

QByteArray cookiePath(QByteArrayView scriptName)
{
    if (scriptName.isEmpty())
        return QByteArrayLiteral("/");
    QByteArray path;
    path.reserve(scriptName.size());
    for (const char c : scriptName) {
        const uchar u = uchar(c);
        if (u <= 0x20 || u >= 0x7f || c == ';' || c == ',' || c == '%' || c == '"' || c == '\\') {
            static const char hex[] = "0123456789ABCDEF";
            path += '%';
            path += hex[u >> 4];
            path += hex[u & 15];
        } else {
            path += c;
        }
    }
    return path;
}

QByteArray setCookieValue(QByteArrayView name, QByteArrayView value,
                          const CookieAttributes &attributes)
{
    QByteArray header = name.toByteArray();
    header += '=';
    header += value;
    header += "; Path=";
    header += attributes.path;
    if (attributes.maxAge >= 0) {
        header += "; Max-Age=";
        header += QByteArray::number(attributes.maxAge);
    }
    header += "; HttpOnly; SameSite=Lax";
    if (attributes.secure)
        header += "; Secure";
    return header;
}

QList<QByteArray> requestCookies(const Http::RequestHead &head, QByteArrayView name)
{
    QList<QByteArray> values;
    for (const Http::HeaderField &field : head.fields) {
        if (!Http::equalsIgnoreCase(field.name, "Cookie"))
            continue;
        QByteArrayView rest = field.value;
        while (!rest.isEmpty()) {
            const qsizetype semicolon = rest.indexOf(';');
            QByteArrayView pair = semicolon < 0 ? rest : rest.first(semicolon);
            rest = semicolon < 0 ? QByteArrayView() : rest.sliced(semicolon + 1);
            pair = pair.trimmed();
            const qsizetype equals = pair.indexOf('=');
            if (equals <= 0)
                continue;
            if (pair.first(equals).trimmed() != name)
                continue;
            QByteArrayView value = pair.sliced(equals + 1).trimmed();
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
                value = value.sliced(1, value.size() - 2);
            values.append(value.toByteArray());
        }
    }
    return values;
}

} // namespace Berth::Sessions
