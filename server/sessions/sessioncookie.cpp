#include "sessioncookie.h"

#include "http/requesthead.h"

#include <crypto/cryptoutil.h>

namespace Berth::Sessions {

namespace {

constexpr auto Base64Url = QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals;

} // namespace

CookieSigner::CookieSigner(QByteArrayView secret)
    : m_key(Crypto::hmacSha256(secret, "berth.session.cookie.v1"))
{}

QByteArray CookieSigner::sign(QByteArrayView id) const
{
    QByteArray value = id.toByteArray();
    value += '.';
    value += Crypto::hmacSha256(m_key, id).toBase64(Base64Url);
    return value;
}

QByteArray CookieSigner::verify(QByteArrayView value) const
{
    const qsizetype dot = value.lastIndexOf('.');
    if (dot <= 0 || dot == value.size() - 1 || value.size() > 256)
        return QByteArray();
    const QByteArrayView id = value.first(dot);
    const QByteArrayView mac = value.sliced(dot + 1);
    const QByteArray expected = Crypto::hmacSha256(m_key, id).toBase64(Base64Url);
    // Constant time: an attacker timing the comparison must not learn how many leading
    // characters of a forged MAC were right.
    if (!Crypto::constantTimeEquals(mac, expected))
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
